"""``python -m stratum_serve BUNDLE`` / ``python -m jupyter_stratum.serve BUNDLE``."""

from __future__ import annotations

import sys

from .app import main

if __name__ == "__main__":
    sys.exit(main())
