"""The desktop application (PySide6): a thin view over the :mod:`retina_screen` engine.

Only this package imports Qt. Start it with ``retina-screen-gui`` or
:func:`retina_screen.gui.app.main`.
"""

from .qt_compat import protect_singletons

protect_singletons()  # before any Qt call: PySide6 6.12 on Python 3.11 leaks None references
