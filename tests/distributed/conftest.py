"""The distributed tests start ranks with :func:`emofast.distributed.local.run_local`, which imports
the function to run by name in every rank: the rank functions live in ``dist_workers.py`` here, and
this folder goes on ``sys.path`` (the test modules themselves are imported by path)."""
from __future__ import annotations

import sys
from pathlib import Path

HERE = str(Path(__file__).resolve().parent)
if HERE not in sys.path:
    sys.path.insert(0, HERE)
