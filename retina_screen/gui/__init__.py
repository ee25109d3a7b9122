"""The desktop application (PySide6): a thin view over the :mod:`retina_screen` engine.

Only this package imports Qt. Start it with ``retina-screen-gui`` or
:func:`retina_screen.gui.app.main`.
"""
