"""Report preview and printing.

PDF pages are rendered with PDFium (``pypdfium2``), or with Qt's own QtPdf where the full PySide6
(with Addons) is installed; nothing outside the application (no pdftoppm, no system viewer) is
needed. Printing paints the rendered pages onto a ``QPrinter`` chosen in the system print dialog.
"""

from __future__ import annotations

import logging
import shutil
import threading
from pathlib import Path

from PySide6.QtCore import QMarginsF, QRect, QSize, Qt, Signal
from PySide6.QtGui import QColor, QImage, QKeySequence, QPageLayout, QPageSize, QPainter, QPixmap
from PySide6.QtPrintSupport import QPrintDialog, QPrinter, QPrinterInfo
from PySide6.QtWidgets import (
    QDialog,
    QDialogButtonBox,
    QFileDialog,
    QGraphicsDropShadowEffect,
    QHBoxLayout,
    QLabel,
    QPushButton,
    QScrollArea,
    QVBoxLayout,
    QWidget,
)

from .geometry import fit_dialog
from .icons import line_icon
from .image_view import rgb_to_qimage
from .message_bar import MessageBar
from .messages import plain_message
from .workers import run_task

log = logging.getLogger(__name__)

PREVIEW_DPI = 96
PRINT_DPI_MAX = 300
_render_lock = threading.Lock()  # PDFium is not thread-safe


class PreviewUnavailable(Exception):
    """No PDF renderer is installed."""


def render_pages(pdf: Path, dpi: float, max_pages: int = 50) -> list[QImage]:
    """Render each page of a PDF to a QImage at ``dpi`` (safe to call from a worker thread)."""
    try:
        import pypdfium2 as pdfium
    except ImportError:
        return _render_with_qtpdf(pdf, dpi, max_pages)
    with _render_lock:
        document = pdfium.PdfDocument(str(pdf))
        try:
            images = []
            for index in range(min(len(document), max_pages)):
                page = document[index]
                bitmap = page.render(scale=dpi / 72.0, rev_byteorder=True)
                image = rgb_to_qimage(bitmap.to_numpy()[..., :3])
                image.setDotsPerMeterX(round(dpi / 0.0254))
                image.setDotsPerMeterY(round(dpi / 0.0254))
                images.append(image)
                page.close()
            return images
        finally:
            document.close()


def _render_with_qtpdf(pdf: Path, dpi: float, max_pages: int) -> list[QImage]:
    try:
        from PySide6.QtPdf import QPdfDocument  # PySide6-Addons only
    except ImportError as exc:
        raise PreviewUnavailable("no PDF renderer installed (pypdfium2 or PySide6 QtPdf)") from exc
    document = QPdfDocument()
    document.load(str(pdf))
    images = []
    for index in range(min(document.pageCount(), max_pages)):
        points = document.pagePointSize(index)
        size = QSize(round(points.width() * dpi / 72), round(points.height() * dpi / 72))
        images.append(document.render(index, size))
    document.close()
    return images


def printer_available() -> bool:
    if QPrinterInfo.availablePrinters():
        return True
    return bool(QPrinterInfo.defaultPrinter().printerName())


def paint_pages(printer: QPrinter, pages: list[QImage]) -> None:
    """Paint pre-rendered pages, one per sheet, scaled to the printable area."""
    painter = QPainter()
    if not painter.begin(printer):
        raise OSError("the printer could not be started (is it switched on and connected?)")
    try:
        for index, image in enumerate(pages):
            if index:
                printer.newPage()
            area = painter.viewport()
            size = image.size().scaled(area.size(), Qt.AspectRatioMode.KeepAspectRatio)
            x = area.x() + (area.width() - size.width()) // 2
            y = area.y() + (area.height() - size.height()) // 2
            painter.setViewport(x, y, size.width(), size.height())
            painter.setWindow(image.rect())
            painter.drawImage(0, 0, image)
            painter.setViewport(area)
            painter.setWindow(area)
    finally:
        painter.end()


def page_size(paper_size: str) -> QPageSize:
    return QPageSize(QPageSize.PageSizeId.Letter if paper_size == "Letter"
                     else QPageSize.PageSizeId.A4)


def configure_printer(printer: QPrinter, paper_size: str) -> bool:
    """Full-page portrait on the report's paper (the ``paper_size`` setting); False when the
    printer does not take that paper (the pages are then scaled to the printer's paper)."""
    printer.setFullPage(True)
    printer.setDocName("Diabetic retinopathy screening report")
    layout = QPageLayout(page_size(paper_size), QPageLayout.Orientation.Portrait,
                         QMarginsF(0, 0, 0, 0))
    return bool(printer.setPageLayout(layout))


class ReportPreviewDialog(QDialog):
    """Shows a built report page by page; Print... opens the system print dialog."""

    printed = Signal()
    saved = Signal(Path)
    message = Signal(str, str)  # level, text
    pagesReady = Signal(int)  # noqa: N815

    def __init__(self, pdf: Path, paper_size: str = "A4", default_save: Path | None = None,
                 parent: QWidget | None = None, temporary_dir: Path | None = None) -> None:
        super().__init__(parent)
        self.pdf = Path(pdf)
        self.temporary_dir = temporary_dir  # removed when the dialog closes (patient data)
        self.busy = 0  # renders in flight: the dialog stays open until they are done
        self.paper_size = paper_size
        self.default_save = default_save
        self.pages: list[QImage] = []
        self.setWindowTitle(self.tr("Report preview"))
        self.setAccessibleName(self.tr("Report preview"))
        fit_dialog(self, QSize(900, 960))

        self._pages_box = QWidget()
        self._pages_box.setObjectName("previewPages")
        self._pages_layout = QVBoxLayout(self._pages_box)
        self._pages_layout.setSpacing(18)
        self._pages_layout.setContentsMargins(24, 24, 24, 24)
        self._pages_layout.setAlignment(Qt.AlignmentFlag.AlignHCenter)
        self._status = QLabel(self.tr("Preparing the preview…"))
        self._status.setAlignment(Qt.AlignmentFlag.AlignCenter)
        self._pages_layout.addWidget(self._status)
        scroll = QScrollArea()
        scroll.setWidgetResizable(True)
        scroll.setWidget(self._pages_box)
        scroll.setStyleSheet("QScrollArea, #previewPages { background: #E4E8EC; }")
        scroll.setAccessibleName(self.tr("Report pages"))

        self.print_button = QPushButton(line_icon("print"), self.tr("&Print…"))
        self.print_button.setShortcut(QKeySequence.StandardKey.Print)
        self.print_button.setAccessibleName(self.tr("Print the report"))
        self.print_button.clicked.connect(self.print_report)
        self.save_button = QPushButton(line_icon("save"), self.tr("&Save PDF…"))
        self.save_button.setAccessibleName(self.tr("Save the report as a PDF file"))
        self.save_button.clicked.connect(self.save_copy)
        buttons = QDialogButtonBox(QDialogButtonBox.StandardButton.Close)
        buttons.rejected.connect(self.reject)
        buttons.addButton(self.print_button, QDialogButtonBox.ButtonRole.ActionRole)
        buttons.addButton(self.save_button, QDialogButtonBox.ButtonRole.ActionRole)
        self.print_button.setEnabled(False)

        layout = QVBoxLayout(self)
        layout.addWidget(scroll, 1)
        row = QHBoxLayout()
        row.addWidget(QLabel(f"<span style='color:#5F6B7A'>{self.pdf.name}</span>"), 1)
        row.addWidget(buttons)
        layout.addLayout(row)
        # Messages raised here show here, on top of this (modal) dialog, not behind it.
        self.message_bar = MessageBar(self)
        self.message.connect(self.message_bar.show_message)
        self._scroll = scroll
        self._render_preview()

    def resizeEvent(self, event) -> None:  # noqa: ANN001,N802
        super().resizeEvent(event)
        area = self._scroll.geometry()
        self.message_bar.place(QRect(area.x() + 16, area.y() + 12, area.width() - 32, 34))

    # preview -----------------------------------------------------------------------------------
    def _render_preview(self) -> None:
        dpi = PREVIEW_DPI * max(1.0, self.devicePixelRatioF())
        self.busy += 1
        run_task(render_pages, self.pdf, dpi, on_done=self._show_pages)

    def done(self, code: int) -> None:
        """Close (unless a render is in flight) and delete the temporary report."""
        if self.busy:
            self.message.emit("info", self.tr("Please wait: the report is still being prepared."))
            return
        super().done(code)
        if self.temporary_dir is not None:
            shutil.rmtree(self.temporary_dir, ignore_errors=True)
            self.temporary_dir = None

    def _show_pages(self, pages: object, error: BaseException | None) -> None:
        self.busy -= 1
        if error is not None:
            text = (str(error) if isinstance(error, PreviewUnavailable)
                    else plain_message(error, "show the preview"))
            self._status.setText(self.tr("No preview: {0}\nThe report itself is ready to print "
                                         "or save.").format(text))
            self.print_button.setEnabled(True)
            self.pagesReady.emit(0)
            return
        self.pages = list(pages)  # type: ignore[arg-type]
        self._status.hide()
        ratio = max(1.0, self.devicePixelRatioF())
        for index, image in enumerate(self.pages):
            pixmap = QPixmap.fromImage(image)
            pixmap.setDevicePixelRatio(ratio)
            label = QLabel()
            label.setPixmap(pixmap)
            label.setAccessibleName(self.tr("Report page {0} of {1}")
                                    .format(index + 1, len(self.pages)))
            shadow = QGraphicsDropShadowEffect(label)
            shadow.setBlurRadius(18)
            shadow.setOffset(0, 3)
            shadow.setColor(QColor(0, 0, 0, 70))
            label.setGraphicsEffect(shadow)
            self._pages_layout.addWidget(label)
        self.print_button.setEnabled(True)
        self.print_button.setFocus()
        self.pagesReady.emit(len(self.pages))

    # actions -----------------------------------------------------------------------------------
    def print_report(self) -> None:
        """Open the system print dialog, then print."""
        if not printer_available():
            self.message.emit("error", self.tr("No printer is set up on this computer. Save "
                                               "the report as a PDF and print it from another "
                                               "computer, or ask your IT support to add a "
                                               "printer."))
            return
        printer = QPrinter(QPrinter.PrinterMode.HighResolution)
        configure_printer(printer, self.paper_size)
        dialog = QPrintDialog(printer, self)
        dialog.setWindowTitle(self.tr("Print screening report"))
        if dialog.exec() != QDialog.DialogCode.Accepted:
            return
        self.print_to(printer)

    def print_to(self, printer: QPrinter) -> None:
        """Render the pages at the printer's resolution (off the GUI thread), then print on the
        report's paper size (the print dialog or the printer's default may have changed it)."""
        if not configure_printer(printer, self.paper_size):
            self.message.emit("warning", self.tr("This printer does not take {0} paper: the "
                                                 "report is scaled to fit the printer's paper.")
                                                     .format(self.paper_size))
        dpi = min(printer.resolution(), PRINT_DPI_MAX)
        self.print_button.setEnabled(False)
        self.setCursor(Qt.CursorShape.BusyCursor)
        self.busy += 1

        def done(pages: object, error: BaseException | None) -> None:
            self.busy -= 1
            self.print_button.setEnabled(True)
            self.unsetCursor()
            if error is None:
                try:
                    paint_pages(printer, pages)  # type: ignore[arg-type]
                except Exception as exc:  # printer errors come in many kinds
                    error = exc
            if error is not None:
                log.warning("printing failed: %s", type(error).__name__)
                self.message.emit("error", plain_message(error, "print the report"))
                return
            log.info("report printed")
            self.message.emit("info", self.tr("The report was sent to the printer."))
            self.printed.emit()

        run_task(render_pages, self.pdf, dpi, on_done=done)

    def save_copy(self) -> None:
        if self.default_save is not None:
            from .patient_view import make_folder

            make_folder(self.default_save.parent)
        start = str(self.default_save or self.pdf.name)
        target, _ = QFileDialog.getSaveFileName(self, self.tr("Save report as PDF"), start,
                                                "PDF files (*.pdf)")
        if target:
            self.save_to(Path(target))

    def save_to(self, target: Path) -> None:
        if target.suffix.lower() != ".pdf":
            target = target.with_suffix(".pdf")
        temporary = target.with_name(f".{target.name}.part")
        try:
            shutil.copyfile(self.pdf, temporary)
            temporary.replace(target)
        except OSError as exc:
            temporary.unlink(missing_ok=True)
            self.message.emit("error", plain_message(exc, "save the report"))
            return
        log.info("report copy saved")
        self.message.emit("info", self.tr("Report saved to {0}").format(target))
        self.saved.emit(target)
