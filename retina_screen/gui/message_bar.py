"""The message strip: plain-language feedback floating over a window or dialog."""

from __future__ import annotations

from PySide6.QtCore import QRect, QSize, Qt, QTimer
from PySide6.QtGui import QColor
from PySide6.QtWidgets import (
    QFrame,
    QGraphicsDropShadowEffect,
    QHBoxLayout,
    QLabel,
    QToolButton,
    QWidget,
)

from .icons import line_icon, status_icon

MESSAGE_STYLES = {
    "info": ("#E8F1F8", "#14507A", "ok"),
    "warning": ("#FFF4DE", "#8A5A00", "warning"),
    "error": ("#FDECEA", "#B3261E", "error"),
}
INFO_TIMEOUT_MS = 10_000
#: A warning goes after a minute (it stayed until closed); an error stays until closed.
WARNING_TIMEOUT_MS = 60_000


class MessageBar(QFrame):
    """A non-blocking message strip floating over the top of a window or dialog.

    It is not part of any layout: showing or hiding it never moves the form under it. Its owner
    places it with :meth:`place` (the strip grows downwards when the text needs more lines).
    """

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setObjectName("messageBar")
        self.setAutoFillBackground(True)
        shadow = QGraphicsDropShadowEffect(self)
        shadow.setBlurRadius(16)
        shadow.setOffset(0, 2)
        shadow.setColor(QColor(0, 0, 0, 60))
        self.setGraphicsEffect(shadow)
        self._area = QRect()
        self.icon = QLabel()
        self.icon.setFixedSize(20, 20)
        self.text = QLabel()
        self.text.setWordWrap(True)
        self.text.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        self.text.setAccessibleName(self.tr("Message"))
        close = QToolButton()
        close.setIcon(line_icon("remove", "#5F6B7A"))
        close.setAutoRaise(True)
        close.setToolTip(self.tr("Dismiss"))
        close.setAccessibleName(self.tr("Dismiss message"))
        close.clicked.connect(self.hide)
        layout = QHBoxLayout(self)
        layout.setContentsMargins(12, 8, 6, 8)
        layout.addWidget(self.icon, 0, Qt.AlignmentFlag.AlignTop)
        layout.addWidget(self.text, 1)
        layout.addWidget(close, 0, Qt.AlignmentFlag.AlignTop)
        self.level = ""
        self._timer = QTimer(self)
        self._timer.setSingleShot(True)
        self._timer.timeout.connect(self.hide)
        self.hide()

    def show_message(self, level: str, text: str) -> None:
        background, colour, icon = MESSAGE_STYLES.get(level, MESSAGE_STYLES["info"])
        self.level = level
        self.setStyleSheet(f"#messageBar {{ background: {background}; border: 1px solid "
                           f"{colour}55; border-radius: 8px; }} QLabel {{ color: {colour}; }}")
        self.icon.setPixmap(status_icon(icon, colour).pixmap(QSize(20, 20)))
        self.text.setText(text)
        self.place(self._area)
        self.show()
        self.raise_()
        if level == "info":
            self._timer.start(INFO_TIMEOUT_MS)
        elif level == "warning":
            self._timer.start(WARNING_TIMEOUT_MS)
        else:
            self._timer.stop()


    def place(self, area: QRect) -> None:
        """Occupy ``area``'s top-left and width; at least its height, more if the text needs."""
        self._area = QRect(area)
        if area.isEmpty():
            return
        height = max(area.height(), self.heightForWidth(area.width()),
                     self.layout().totalHeightForWidth(area.width()))
        self.setGeometry(area.x(), area.y(), area.width(), height)
