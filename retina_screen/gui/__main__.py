"""``python -m retina_screen.gui`` opens the desktop application."""

import sys

from .app import main

sys.exit(main())
