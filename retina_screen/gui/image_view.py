"""The photo viewer: zoom (wheel, keys, buttons), pan (drag), and the model's heatmap overlay.

The engine's display crop is about 512 px. Zoomed in beyond it, the viewer asks
(``detailWanted``) for the same field-of-view crop at the photograph's full resolution, made by
:func:`full_resolution_crop` on a worker thread, so the operator can judge focus on real pixels.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
from PySide6.QtCore import QRectF, Qt, Signal
from PySide6.QtGui import QColor, QImage, QPainter, QPixmap, QWheelEvent
from PySide6.QtWidgets import QFrame, QGraphicsPixmapItem, QGraphicsScene, QGraphicsView

from ..overlay import heatmap_overlay

ZOOM_STEP = 1.25
MAX_ZOOM = 16.0
#: Zoomed in this much past one display pixel per screen pixel, the full-resolution crop is shown.
DETAIL_ZOOM = 1.1
#: Longest side of the full-resolution crop (bounds memory for very large photographs).
DETAIL_MAX_SIDE = 4096


def full_resolution_crop(path: Path | str) -> np.ndarray:
    """Worker-thread job: the field-of-view crop of ``path`` at full resolution, with exactly
    the geometry of the engine's display crop (the circle found at the engine's decode size)."""
    from ..fov import crop_to_fov, find_fov
    from ..loading import load_image
    from ..preprocess import DECODE_MAX_SIDE

    reduced = load_image(path, max_side=DECODE_MAX_SIDE).pixels
    fov = find_fov(reduced)
    full = load_image(path).pixels
    factor = full.shape[1] / reduced.shape[1]
    fov = fov.scaled(factor, full.shape[1], full.shape[0])
    side = int(min(max(2 * fov.radius, 1), DETAIL_MAX_SIDE))
    return crop_to_fov(full, side, fov).image


def rgb_to_qimage(rgb: np.ndarray) -> QImage:
    """A deep copy of an RGB uint8 array as a QImage."""
    rgb = np.ascontiguousarray(rgb, dtype=np.uint8)
    height, width = rgb.shape[:2]
    return QImage(rgb.data, width, height, 3 * width, QImage.Format.Format_RGB888).copy()


class ImageView(QGraphicsView):
    """Shows one fundus photograph; wheel or +/- zooms, dragging pans, double-click fits."""

    zoomChanged = Signal(float)  # noqa: N815
    detailWanted = Signal()  # noqa: N815  zoomed in past the display crop's resolution

    def __init__(self, parent=None) -> None:  # noqa: ANN001
        super().__init__(parent)
        self.setScene(QGraphicsScene(self))
        self._photo = QGraphicsPixmapItem()
        self._photo.setTransformationMode(Qt.TransformationMode.SmoothTransformation)
        self._overlay = QGraphicsPixmapItem()
        self._overlay.setTransformationMode(Qt.TransformationMode.SmoothTransformation)
        self._overlay.setVisible(False)
        self.scene().addItem(self._photo)
        self.scene().addItem(self._overlay)
        self.setRenderHints(QPainter.RenderHint.Antialiasing
                            | QPainter.RenderHint.SmoothPixmapTransform)
        self.setDragMode(QGraphicsView.DragMode.ScrollHandDrag)
        self.setTransformationAnchor(QGraphicsView.ViewportAnchor.AnchorUnderMouse)
        self.setBackgroundBrush(QColor("#11161C"))
        self.setFrameShape(QFrame.Shape.NoFrame)
        self.setHorizontalScrollBarPolicy(Qt.ScrollBarPolicy.ScrollBarAsNeeded)
        self.setObjectName("photoViewer")
        self.setFocusPolicy(Qt.FocusPolicy.StrongFocus)
        self.setAccessibleName(self.tr("Photograph viewer"))
        self.setAccessibleDescription(self.tr("Zoom with the mouse wheel or Ctrl+plus and "
                                              "Ctrl+minus; drag to pan; double-click to fit."))
        self._fitted = True
        self._detail = False  # the full-resolution crop is shown
        self._detail_asked = False
        self._has_heatmap = False
        self.heatmap_peak = 0.0
        self._heatmap_wanted = False
        self._placeholder = "Select or drop a photograph"

    # content -----------------------------------------------------------------------------------
    def set_placeholder(self, text: str) -> None:
        self._placeholder = text
        self.viewport().update()

    def show_image(self, rgb: np.ndarray | None, heatmap: np.ndarray | None = None) -> None:
        """Show a photograph (RGB uint8) and, when given, its heatmap (toggle with set_heatmap)."""
        self._detail = self._detail_asked = False
        self._photo.setScale(1.0)
        if rgb is None:
            self._photo.setPixmap(QPixmap())
            self._overlay.setPixmap(QPixmap())
            self._has_heatmap = False
            self.scene().setSceneRect(QRectF())
            self.viewport().update()
            return
        image = rgb_to_qimage(rgb)
        self._photo.setPixmap(QPixmap.fromImage(image))
        self._has_heatmap = heatmap is not None
        self.heatmap_peak = float(np.nanmax(heatmap)) if heatmap is not None else 0.0
        if heatmap is not None:
            overlay = rgb_to_qimage(heatmap_overlay(rgb, heatmap))
            self._overlay.setPixmap(QPixmap.fromImage(overlay))
        else:
            self._overlay.setPixmap(QPixmap())
        self._overlay.setVisible(self._has_heatmap and self._heatmap_wanted)
        self.scene().setSceneRect(QRectF(image.rect()))
        self.fit()

    def show_detail(self, rgb: np.ndarray) -> None:
        """Replace the photograph by its full-resolution crop, in the same scene coordinates
        (the heatmap and the zoom stay where they are)."""
        if not self.has_image or rgb is None or not rgb.size:
            return
        side = self.sceneRect().width()
        self._photo.setPixmap(QPixmap.fromImage(rgb_to_qimage(rgb)))
        self._photo.setScale(side / rgb.shape[1])
        self._detail = True
        self.viewport().update()

    @property
    def detail_shown(self) -> bool:
        """True when the full-resolution crop is on screen."""
        return self._detail

    @property
    def photo_pixels(self) -> int:
        """Width in pixels of the picture on screen (display crop or full resolution)."""
        return self._photo.pixmap().width()

    @property
    def has_image(self) -> bool:
        return not self._photo.pixmap().isNull()

    @property
    def has_heatmap(self) -> bool:
        return self._has_heatmap

    @property
    def heatmap_visible(self) -> bool:
        return self._overlay.isVisible()

    def set_heatmap(self, visible: bool) -> None:
        self._heatmap_wanted = visible
        self._overlay.setVisible(visible and self._has_heatmap)

    # zoom --------------------------------------------------------------------------------------
    @property
    def zoom(self) -> float:
        return self.transform().m11()

    def fit(self) -> None:
        if not self.has_image:
            return
        self.resetTransform()
        # Fit to the viewport as it is without scroll bars (they go once the photo fits).
        self.setHorizontalScrollBarPolicy(Qt.ScrollBarPolicy.ScrollBarAlwaysOff)
        self.setVerticalScrollBarPolicy(Qt.ScrollBarPolicy.ScrollBarAlwaysOff)
        self.fitInView(self.sceneRect(), Qt.AspectRatioMode.KeepAspectRatio)
        self.setHorizontalScrollBarPolicy(Qt.ScrollBarPolicy.ScrollBarAsNeeded)
        self.setVerticalScrollBarPolicy(Qt.ScrollBarPolicy.ScrollBarAsNeeded)
        self._fitted = True
        self.zoomChanged.emit(self.zoom)

    def zoom_by(self, factor: float) -> None:
        if not self.has_image:
            return
        fit_scale = self._fit_scale()
        target = min(max(self.zoom * factor, fit_scale), MAX_ZOOM)
        if abs(target - fit_scale) < 1e-6:
            self.fit()
            return
        self.scale(target / self.zoom, target / self.zoom)
        self._fitted = False
        self.zoomChanged.emit(self.zoom)
        if target > DETAIL_ZOOM * self.devicePixelRatioF() ** -1 and not self._detail_asked:
            self._detail_asked = True
            self.detailWanted.emit()

    def zoom_in(self) -> None:
        self.zoom_by(ZOOM_STEP)

    def zoom_out(self) -> None:
        self.zoom_by(1 / ZOOM_STEP)

    def _fit_scale(self) -> float:
        rect = self.sceneRect()
        if rect.isEmpty():
            return 1.0
        view = self.viewport().rect()
        return min(view.width() / rect.width(), view.height() / rect.height())

    # events ------------------------------------------------------------------------------------
    def wheelEvent(self, event: QWheelEvent) -> None:  # noqa: N802
        delta = event.angleDelta().y()
        if delta:
            self.zoom_by(ZOOM_STEP ** (delta / 120))
        event.accept()

    def mouseDoubleClickEvent(self, event) -> None:  # noqa: ANN001,N802
        self.fit()
        event.accept()

    def resizeEvent(self, event) -> None:  # noqa: ANN001,N802
        super().resizeEvent(event)
        if self._fitted:
            self.fit()

    def drawForeground(self, painter: QPainter, rect) -> None:  # noqa: ANN001,N802
        if self.has_image:
            return
        painter.save()
        painter.resetTransform()
        painter.setPen(QColor("#9AA7B4"))
        font = painter.font()
        font.setPointSizeF(font.pointSizeF() * 1.15)
        painter.setFont(font)
        painter.drawText(self.viewport().rect(), Qt.AlignmentFlag.AlignCenter, self._placeholder)
        painter.restore()
