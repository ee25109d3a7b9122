"""Frozen entry point of the ``retina-screen-gui`` desktop application (PyInstaller)."""

import multiprocessing
import sys

if __name__ == "__main__":
    # Batch workers (forkserver/spawn) re-run this executable; this diverts them to the worker.
    multiprocessing.freeze_support()
    from retina_screen.gui.app import main

    sys.exit(main())
