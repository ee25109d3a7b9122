"""Window sizes that fit the screen the window opens on (clinic laptops are small)."""

from __future__ import annotations

from PySide6.QtCore import QSize
from PySide6.QtGui import QGuiApplication
from PySide6.QtWidgets import QWidget

#: Room left for a window manager's title bar and borders.
FRAME_ALLOWANCE = QSize(8, 36)


def available_size(widget: QWidget) -> QSize:
    """The available area of the screen ``widget`` (or its parent) is on."""
    host = widget.parentWidget() or widget
    screen = host.screen() or QGuiApplication.primaryScreen()
    return screen.availableGeometry().size() if screen is not None else QSize(1360, 860)


#: The smallest a dialog is allowed to become (less on a screen smaller than that).
DIALOG_MINIMUM = QSize(480, 360)


def fit_dialog(dialog: QWidget, preferred: QSize, minimum: QSize | None = None) -> None:
    """Resize ``dialog`` to ``preferred``, or less so that it fits on its screen."""
    minimum = minimum or DIALOG_MINIMUM
    room = available_size(dialog) - FRAME_ALLOWANCE
    dialog.setMinimumSize(minimum.boundedTo(room))
    dialog.resize(preferred.boundedTo(room))
