"""``python -m retina_screen.gui`` opens the desktop application."""

import sys

from .app import main

# Guarded: batch worker processes (multiprocessing spawn/forkserver) import the main module.
if __name__ == "__main__":
    sys.exit(main())
