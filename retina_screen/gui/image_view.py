"""The photo viewer: zoom (wheel, keys, buttons), pan (drag), and the model's heatmap overlay."""

from __future__ import annotations

import numpy as np
from PySide6.QtCore import QRectF, Qt, Signal
from PySide6.QtGui import QColor, QImage, QPainter, QPixmap, QWheelEvent
from PySide6.QtWidgets import QFrame, QGraphicsPixmapItem, QGraphicsScene, QGraphicsView

from ..overlay import heatmap_overlay

ZOOM_STEP = 1.25
MAX_ZOOM = 16.0


def rgb_to_qimage(rgb: np.ndarray) -> QImage:
    """A deep copy of an RGB uint8 array as a QImage."""
    rgb = np.ascontiguousarray(rgb, dtype=np.uint8)
    height, width = rgb.shape[:2]
    return QImage(rgb.data, width, height, 3 * width, QImage.Format.Format_RGB888).copy()


class ImageView(QGraphicsView):
    """Shows one fundus photograph; wheel or +/- zooms, dragging pans, double-click fits."""

    zoomChanged = Signal(float)  # noqa: N815

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
        self.setAccessibleName("Photograph viewer")
        self.setAccessibleDescription("Zoom with the mouse wheel or Ctrl+plus and Ctrl+minus; "
                                      "drag to pan; double-click to fit.")
        self._fitted = True
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
        self.fitInView(self._photo, Qt.AspectRatioMode.KeepAspectRatio)
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

    def zoom_in(self) -> None:
        self.zoom_by(ZOOM_STEP)

    def zoom_out(self) -> None:
        self.zoom_by(1 / ZOOM_STEP)

    def _fit_scale(self) -> float:
        rect = self._photo.boundingRect()
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
