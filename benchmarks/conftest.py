import os
import sys

# benchmark modules import their table scripts as plain modules
sys.path.insert(0, os.path.dirname(__file__))
