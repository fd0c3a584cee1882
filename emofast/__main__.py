"""``python -m emofast <command>``: same as the ``emofast`` console script."""
import sys

from emofast.cli import main

sys.exit(main())
