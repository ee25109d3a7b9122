"""Vector icons: small inline SVGs rendered at every size Qt asks for (sharp on high-DPI screens).

The application icon lives in ``assets/icons/retina-screen.svg`` (a PNG copy beside it for
platforms that want one).
"""

from __future__ import annotations

from functools import cache

from PySide6.QtCore import QByteArray, QRectF, QSize, Qt
from PySide6.QtGui import QIcon, QIconEngine, QImage, QPainter, QPixmap
from PySide6.QtSvg import QSvgRenderer

from ..results import Outcome
from ..settings import RESOURCE_ROOT

APP_ICON_SVG = RESOURCE_ROOT / "assets" / "icons" / "retina-screen.svg"

#: Outcome colours (text on white stays readable: contrast >= 4.5:1).
OUTCOME_COLOURS: dict[Outcome, str] = {
    Outcome.REFER_URGENT: "#B3261E",
    Outcome.REFER: "#C2410C",
    Outcome.INSUFFICIENT: "#8A5A00",
    Outcome.NO_REFERABLE: "#2E7D32",
}
NEUTRAL = "#5F6B7A"
ACCENT = "#14507A"

_STROKE = ('<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 24 24" fill="none" '
           'stroke="{c}" stroke-width="2" stroke-linecap="round" stroke-linejoin="round">{body}'
           '</svg>')

_FOLDER = '<path d="M3 7a2 2 0 0 1 2-2h4l2 2h8a2 2 0 0 1 2 2v8a2 2 0 0 1-2 2H5a2 2 0 0 1-2-2z"/>'

#: Line icons (24x24 grid, stroked in the given colour).
LINE_ICONS: dict[str, str] = {
    "open": _FOLDER + '<path d="M12 10v6M9 13h6"/>',
    "folder": _FOLDER,
    "save": '<path d="M12 3v12M7 10l5 5 5-5"/>'
            '<path d="M4 17v2a2 2 0 0 0 2 2h12a2 2 0 0 0 2-2v-2"/>',
    "print": '<path d="M6 9V3h12v6"/><rect x="3" y="9" width="18" height="8" rx="2"/>'
             '<path d="M6 14h12v7H6z"/>',
    "new": '<circle cx="10" cy="8" r="4"/><path d="M3 21v-1a7 7 0 0 1 11-5.7"/>'
           '<path d="M19 14v6M16 17h6"/>',
    "settings": '<path d="M4 6h10M18 6h2M4 12h4M12 12h8M4 18h12M20 18h0"/>'
                '<circle cx="16" cy="6" r="2"/><circle cx="10" cy="12" r="2"/>'
                '<circle cx="18" cy="18" r="2"/>',
    "heatmap": '<rect x="3" y="3" width="18" height="18" rx="3"/>'
               '<circle cx="12" cy="12" r="3" fill="{c}"/><circle cx="12" cy="12" r="6.5"/>',
    "zoom_in": '<circle cx="11" cy="11" r="7"/><path d="M21 21l-5-5M11 8v6M8 11h6"/>',
    "zoom_out": '<circle cx="11" cy="11" r="7"/><path d="M21 21l-5-5M8 11h6"/>',
    "fit": '<path d="M4 9V4h5M20 9V4h-5M4 15v5h5M20 15v5h-5"/>',
    "start": '<path d="M7 4l13 8-13 8z" fill="{c}"/>',
    "stop": '<rect x="6" y="6" width="12" height="12" rx="1" fill="{c}"/>',
    "watch": '<path d="M2 12s3.5-7 10-7 10 7 10 7-3.5 7-10 7S2 12 2 12z"/>'
             '<circle cx="12" cy="12" r="3"/>',
    "remove": '<path d="M6 6l12 12M18 6L6 18"/>',
    "patient": '<circle cx="12" cy="8" r="4"/><path d="M4 21v-1a8 8 0 0 1 16 0v1"/>',
    "batch": '<rect x="3" y="3" width="7" height="7" rx="1"/><rect x="14" y="3" width="7" '
             'height="7" rx="1"/><rect x="3" y="14" width="7" height="7" rx="1"/>'
             '<rect x="14" y="14" width="7" height="7" rx="1"/>',
    "report": '<path d="M6 2h9l5 5v15H6z"/><path d="M14 2v6h6M9 13h8M9 17h6"/>',
    "info": '<circle cx="12" cy="12" r="9"/><path d="M12 11v6M12 7.5v.5"/>',
    "clear": '<path d="M3 6h18M8 6V4h8v2M6 6l1 14h10l1-14"/>',
}

#: Filled status icons (24x24).
_STATUS = {
    "ok": '<circle cx="12" cy="12" r="11" fill="{c}"/>'
          '<path d="M7 12.5l3.2 3.2L17 9" fill="none" stroke="#fff" stroke-width="2.4" '
          'stroke-linecap="round" stroke-linejoin="round"/>',
    "warning": '<path d="M12 1.8L23 21.5H1z" fill="{c}" stroke="{c}" stroke-width="1.5" '
               'stroke-linejoin="round"/><path d="M12 9v5.5" stroke="#fff" stroke-width="2.4" '
               'stroke-linecap="round"/><circle cx="12" cy="18" r="1.4" fill="#fff"/>',
    "refer": '<circle cx="12" cy="12" r="11" fill="{c}"/>'
             '<path d="M6.5 12h10M12.5 7.5L17 12l-4.5 4.5" fill="none" stroke="#fff" '
             'stroke-width="2.4" stroke-linecap="round" stroke-linejoin="round"/>',
    "urgent": '<path d="M7.4 1h9.2L23 7.4v9.2L16.6 23H7.4L1 16.6V7.4z" fill="{c}"/>'
              '<path d="M12 6v8" stroke="#fff" stroke-width="2.6" stroke-linecap="round"/>'
              '<circle cx="12" cy="18" r="1.6" fill="#fff"/>',
    "error": '<circle cx="12" cy="12" r="11" fill="{c}"/><path d="M8 8l8 8M16 8l-8 8" '
             'stroke="#fff" stroke-width="2.4" stroke-linecap="round"/>',
    "pending": '<circle cx="12" cy="12" r="10" fill="none" stroke="{c}" stroke-width="2"/>'
               '<path d="M12 6v6l4 2" fill="none" stroke="{c}" stroke-width="2" '
               'stroke-linecap="round"/>',
}

OUTCOME_ICON = {
    Outcome.REFER_URGENT: "urgent",
    Outcome.REFER: "refer",
    Outcome.INSUFFICIENT: "warning",
    Outcome.NO_REFERABLE: "ok",
}


class SvgIconEngine(QIconEngine):
    """Renders an SVG at exactly the requested size and device pixel ratio."""

    def __init__(self, svg: bytes) -> None:
        super().__init__()
        self._svg = svg
        self._renderer = QSvgRenderer(QByteArray(svg))

    def paint(self, painter: QPainter, rect, mode, state) -> None:  # noqa: ANN001
        if mode == QIcon.Mode.Disabled:
            painter.setOpacity(0.35)
        self._renderer.render(painter, QRectF(rect))

    def pixmap(self, size: QSize, mode, state) -> QPixmap:  # noqa: ANN001
        return self.scaledPixmap(size, mode, state, 1.0)

    def scaledPixmap(self, size: QSize, mode, state, scale: float) -> QPixmap:  # noqa: ANN001,N802
        width, height = max(1, round(size.width() * scale)), max(1, round(size.height() * scale))
        image = QImage(width, height, QImage.Format.Format_ARGB32_Premultiplied)
        image.fill(Qt.GlobalColor.transparent)
        painter = QPainter(image)
        painter.setRenderHint(QPainter.RenderHint.Antialiasing)
        if mode == QIcon.Mode.Disabled:
            painter.setOpacity(0.35)
        self._renderer.render(painter, QRectF(0, 0, width, height))
        painter.end()
        pixmap = QPixmap.fromImage(image)
        pixmap.setDevicePixelRatio(scale)
        return pixmap

    def clone(self) -> QIconEngine:
        return SvgIconEngine(self._svg)


def svg_icon(svg: str) -> QIcon:
    return QIcon(SvgIconEngine(svg.encode("utf-8")))


@cache
def line_icon(name: str, colour: str = "#2B3A4A") -> QIcon:
    """A stroked line icon by name (see :data:`LINE_ICONS`)."""
    body = LINE_ICONS[name].replace("{c}", colour)
    return svg_icon(_STROKE.format(c=colour, body=body))


@cache
def status_icon(name: str, colour: str) -> QIcon:
    body = _STATUS[name].replace("{c}", colour)
    return svg_icon(f'<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 24 24">{body}</svg>')


def outcome_icon(outcome: Outcome) -> QIcon:
    return status_icon(OUTCOME_ICON[outcome], OUTCOME_COLOURS[outcome])


@cache
def app_icon() -> QIcon:
    """The application icon (SVG, with the PNG as fallback)."""
    if APP_ICON_SVG.is_file():
        return QIcon(SvgIconEngine(APP_ICON_SVG.read_bytes()))
    png = APP_ICON_SVG.with_suffix(".png")
    return QIcon(str(png)) if png.is_file() else QIcon()
