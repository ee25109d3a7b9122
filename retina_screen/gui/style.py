"""The application's look: Fusion style, a light palette and a small style sheet."""

from __future__ import annotations

from PySide6.QtGui import QColor, QFont, QPalette
from PySide6.QtWidgets import QApplication, QStyleFactory

WINDOW = "#F3F5F8"
CARD = "#FFFFFF"
BORDER = "#D5DCE4"
TEXT = "#1F2933"
MUTED = "#5F6B7A"
ACCENT = "#14507A"
ACCENT_HOVER = "#1B6499"
#: Keyboard focus ring: dark amber, visible on white, on the grey window and on the blue buttons.
FOCUS = "#C77700"

STYLE_SHEET = f"""
QMainWindow, QDialog {{ background: {WINDOW}; }}
QWidget#patientPage, QWidget#batchPage {{ background: {WINDOW}; }}
QFrame#card, QFrame#eyeSlot, QFrame#resultPanel, QFrame#viewerFrame, QFrame#batchCard {{
    background: {CARD}; border: 1px solid {BORDER}; border-radius: 10px; }}
QFrame#eyeSlot[dragging="true"] {{ border: 2px dashed {ACCENT}; background: #EAF2F8; }}
QLabel#sectionTitle {{ font-weight: 600; color: {TEXT}; font-size: 11pt; }}
QLabel#muted, QLabel#columnHeader {{ color: {MUTED}; }}
QLabel#columnHeader {{ font-size: 8.5pt; }}
QLabel#dropHint {{ color: {MUTED}; border: 1.5px dashed {BORDER}; border-radius: 8px;
    padding: 10px; background: #FAFBFC; }}
QFrame#photoCard {{ background: #FAFBFC; border: 1px solid {BORDER}; border-radius: 8px; }}
QFrame#photoCard[selected="true"] {{ border: 2px solid {ACCENT}; background: #F1F7FB; }}
QFrame#photoCard:focus {{ border: 2px solid {FOCUS}; }}
QLabel#thumb {{ background: #11161C; border-radius: 6px; color: #9AA7B4; }}
QLabel#fileName {{ font-weight: 600; }}
QLabel#outcomeTitle {{ font-size: 16pt; font-weight: 800; letter-spacing: 0.5px; }}
QLabel#outcomeInterval {{ font-size: 11.5pt; font-weight: 600; }}
QLabel#modelLine {{ color: {MUTED}; font-size: 8.5pt; }}
QLabel#outcomeHeadline {{ font-weight: 600; color: {TEXT}; }}
QLabel#notes {{ color: #8A5A00; }}
QLabel#errorText {{ color: #B3261E; }}
QLabel#viewerCaption {{ font-weight: 600; color: {TEXT}; }}
QLabel#bigNumber {{ font-size: 16pt; font-weight: 700; color: {TEXT}; }}
QLineEdit[invalid="true"] {{ border: 1.5px solid #B3261E; }}
QPushButton {{ padding: 6px 14px; border-radius: 6px; border: 1px solid {BORDER};
    background: {CARD}; color: {TEXT}; }}
QPushButton:hover {{ border-color: {ACCENT}; }}
QPushButton:focus {{ border: 2px solid {FOCUS}; }}
QPushButton:disabled {{ color: #A0AAB4; background: #F5F7F9; }}
QPushButton#primary {{ background: {ACCENT}; color: white; border: 1px solid {ACCENT};
    font-weight: 600; }}
QPushButton#primary:hover {{ background: {ACCENT_HOVER}; }}
QPushButton#primary:focus {{ border: 3px solid {FOCUS}; }}
QLineEdit:focus, QPlainTextEdit:focus, QComboBox:focus {{ border: 2px solid {FOCUS};
    border-radius: 4px; }}
QToolButton:focus {{ border: 2px solid {FOCUS}; border-radius: 4px; }}
QCheckBox::indicator:focus {{ border: 2px solid {FOCUS}; border-radius: 3px;
    background: {CARD}; }}
QCheckBox::indicator:focus:checked {{ background: {FOCUS}; }}
QGraphicsView#photoViewer:focus {{ border: 3px solid {FOCUS}; }}
QTableView:focus {{ border: 2px solid {FOCUS}; }}
QTabBar::tab:focus {{ color: {TEXT}; border-bottom: 3px solid {FOCUS}; }}
QLineEdit[invalid="true"]:focus {{ border: 2px solid #B3261E; }}
QPushButton#primary:disabled {{ background: #9DB4C6; border-color: #9DB4C6; color: #EEF3F7; }}
QPushButton#danger {{ color: #B3261E; }}
QTabWidget::pane {{ border: none; }}
QTabBar::tab {{ padding: 8px 18px; margin-right: 2px; color: {MUTED}; border: none;
    border-bottom: 3px solid transparent; font-weight: 600; }}
QTabBar::tab:selected {{ color: {ACCENT}; border-bottom: 3px solid {ACCENT}; }}
QTabBar::tab:hover {{ color: {TEXT}; }}
QFrame#messageBar {{ border-radius: 8px; }}
QTableView {{ background: {CARD}; border: 1px solid {BORDER}; border-radius: 8px;
    gridline-color: #EEF1F4; selection-background-color: #D6E6F2; selection-color: {TEXT}; }}
QHeaderView::section {{ background: #F7F9FB; border: none; border-bottom: 1px solid {BORDER};
    padding: 6px; font-weight: 600; color: {MUTED}; }}
QProgressBar {{ border: 1px solid {BORDER}; border-radius: 6px; background: #EEF1F4;
    height: 14px; text-align: center; }}
QProgressBar::chunk {{ background: {ACCENT}; border-radius: 5px; }}
QStatusBar {{ color: {MUTED}; }}
QScrollArea#slotsScroll {{ background: transparent; }}
QScrollArea#slotsScroll > QWidget > QWidget {{ background: transparent; }}
"""


def apply_style(app: QApplication) -> None:
    """Fusion with a light palette, independent of the desktop theme."""
    app.setStyle(QStyleFactory.create("Fusion"))
    palette = QPalette()
    palette.setColor(QPalette.ColorRole.Window, QColor(WINDOW))
    palette.setColor(QPalette.ColorRole.WindowText, QColor(TEXT))
    palette.setColor(QPalette.ColorRole.Base, QColor(CARD))
    palette.setColor(QPalette.ColorRole.AlternateBase, QColor("#F7F9FB"))
    palette.setColor(QPalette.ColorRole.Text, QColor(TEXT))
    palette.setColor(QPalette.ColorRole.Button, QColor(CARD))
    palette.setColor(QPalette.ColorRole.ButtonText, QColor(TEXT))
    palette.setColor(QPalette.ColorRole.Highlight, QColor(ACCENT))
    palette.setColor(QPalette.ColorRole.HighlightedText, QColor("#FFFFFF"))
    palette.setColor(QPalette.ColorRole.ToolTipBase, QColor(CARD))
    palette.setColor(QPalette.ColorRole.ToolTipText, QColor(TEXT))
    palette.setColor(QPalette.ColorRole.PlaceholderText, QColor("#8C97A3"))
    palette.setColor(QPalette.ColorGroup.Disabled, QPalette.ColorRole.Text, QColor("#A0AAB4"))
    palette.setColor(QPalette.ColorGroup.Disabled, QPalette.ColorRole.ButtonText,
                     QColor("#A0AAB4"))
    app.setPalette(palette)
    font = QFont(app.font())
    if font.pointSizeF() < 10:
        font.setPointSizeF(10)
    app.setFont(font)
    app.setStyleSheet(STYLE_SHEET)
