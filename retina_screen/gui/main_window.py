"""The main window: patient screen and batch view as tabs, menus, message bar, status bar."""

from __future__ import annotations

import logging
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING

from PySide6.QtCore import QEvent, QObject, QRect, QSize, Qt, QTimer, QUrl, Signal
from PySide6.QtGui import (
    QAction,
    QCloseEvent,
    QDesktopServices,
    QGuiApplication,
    QKeySequence,
    QShowEvent,
)
from PySide6.QtWidgets import (
    QApplication,
    QFrame,
    QLabel,
    QMainWindow,
    QMessageBox,
    QScrollArea,
    QTabWidget,
    QVBoxLayout,
    QWidget,
)

from ..errors import RetinaScreenError
from ..settings import Settings
from .batch_view import BatchPage
from .geometry import FRAME_ALLOWANCE
from .icons import app_icon, line_icon
from .message_bar import MessageBar
from .messages import app_version, plain_message
from .patient_view import PatientPage
from .prefs import Preferences
from .workers import run_task, wait_for_all

if TYPE_CHECKING:
    from ..engine import Screener

log = logging.getLogger(__name__)

#: The window's comfortable size; smaller screens get a window that fits them (pages scroll).
COMFORTABLE_SIZE = QSize(1360, 860)


def load_screener(settings: Settings) -> Screener:
    """Worker-thread job: load and verify the model once."""
    from ..engine import Screener

    return Screener(settings)


def scrolling(page: QWidget) -> QScrollArea:
    """``page`` in a frameless scroll area: scroll bars appear only when the window is smaller
    than the page's minimum size (small screens); otherwise the page fills the area."""
    area = QScrollArea()
    area.setWidgetResizable(True)
    area.setFrameShape(QFrame.Shape.NoFrame)
    area.setObjectName(f"{page.objectName()}Scroll")
    area.setFocusPolicy(Qt.FocusPolicy.NoFocus)  # Tab goes to the page's controls
    area.setWidget(page)
    return area


class MainWindow(QMainWindow):
    """The application window. ``settings``/``screener`` may be given (tests, benchmarks)."""

    modelReady = Signal(object)  # noqa: N815  Screener
    modelFailed = Signal(str)  # noqa: N815
    messageShown = Signal(str, str)  # noqa: N815
    settingsChanged = Signal()  # noqa: N815  the settings were reloaded

    def __init__(self, prefs: Preferences | None = None, settings: Settings | None = None,
                 screener: Screener | None = None) -> None:
        super().__init__()
        self.prefs = prefs or Preferences()
        self._base_settings = settings
        self.settings = self.prefs.apply(settings)
        self.screener: Screener | None = None
        self.model_problem = ""
        self.messages: list[tuple[str, str]] = []
        self.setWindowTitle(self.tr("Retina Screen – diabetic retinopathy screening"))
        self.setWindowIcon(app_icon())
        self._fitted_once = False

        self.message_bar = MessageBar()
        self.patient_page = PatientPage(lambda: self.settings)
        self.patient_page.setObjectName("patientPage")
        self.batch_page = BatchPage(lambda: self.settings, prefs=self.prefs)
        self.tabs = QTabWidget()
        self.tabs.setDocumentMode(True)
        self.tabs.addTab(scrolling(self.patient_page), line_icon("patient", "#14507A"),
                         self.tr("Screen a patient"))
        self.tabs.addTab(scrolling(self.batch_page), line_icon("batch", "#14507A"),
                         self.tr("Screen a folder"))
        self.tabs.setIconSize(QSize(18, 18))
        self.tabs.setAccessibleName(self.tr("Screens"))
        self.tabs.tabBar().setAccessibleName(self.tr("Screens"))
        self.tabs.currentChanged.connect(lambda _index: self._pages_changed())
        central = QWidget()
        layout = QVBoxLayout(central)
        layout.setContentsMargins(10, 6, 10, 0)
        layout.setSpacing(6)
        layout.addWidget(self.tabs, 1)
        self.setCentralWidget(central)
        self.message_bar.setParent(central)
        self.message_bar.hide()
        central.installEventFilter(self)

        self.model_label = QLabel(self.tr("Loading the grading model…"))
        self.clinic_label = QLabel()
        self.statusBar().addWidget(self.model_label, 1)
        self.statusBar().addPermanentWidget(self.clinic_label)
        self._update_clinic_label()

        self.patient_page.message.connect(self.show_message)
        self.patient_page.frontRequested.connect(lambda: self.show_page(self.patient_page))
        self.patient_page.identityWanted.connect(self.ask_identity)
        self.batch_page.message.connect(self.show_message)
        self.batch_page.reportRequested.connect(self.open_report_preview)
        self.report_preview = None
        self._build_menus()
        from .clinic_view import install as install_clinic

        install_clinic(self)  # worklist dialog, Send to PACS (clinic_view.py)
        self._restore_window()
        if screener is not None:
            QTimer.singleShot(0, lambda: self._model_loaded(screener, None))
        else:
            self.load_model()

    # menus -------------------------------------------------------------------------------------
    def _build_menus(self) -> None:
        page = self.patient_page
        file_menu = self.menuBar().addMenu(self.tr("&File"))
        file_menu.addAction(page.new_action)
        file_menu.addAction(page.open_action)
        file_menu.addSeparator()
        file_menu.addAction(page.print_action)
        file_menu.addAction(page.save_action)
        file_menu.addSeparator()
        self.settings_action = QAction(line_icon("settings"), self.tr("Se&ttings…"), self)
        self.settings_action.setShortcut(QKeySequence("Ctrl+,"))
        self.settings_action.triggered.connect(self.open_settings)
        file_menu.addAction(self.settings_action)
        file_menu.addSeparator()
        quit_action = QAction(self.tr("&Quit"), self)
        quit_action.setShortcut(QKeySequence.StandardKey.Quit)
        quit_action.triggered.connect(self.close)
        file_menu.addAction(quit_action)

        view_menu = self.menuBar().addMenu(self.tr("&View"))
        patient_tab = QAction(line_icon("patient"), self.tr("Screen a &patient"), self)
        patient_tab.setShortcut(QKeySequence("Ctrl+1"))
        patient_tab.triggered.connect(lambda: self.show_page(self.patient_page))
        batch_tab = QAction(line_icon("batch"), self.tr("Screen a &folder"), self)
        batch_tab.setShortcut(QKeySequence("Ctrl+2"))
        batch_tab.triggered.connect(lambda: self.show_page(self.batch_page))
        view_menu.addAction(patient_tab)
        view_menu.addAction(batch_tab)
        view_menu.addSeparator()
        for action in (page.heatmap_action, page.zoom_in_action, page.zoom_out_action,
                       page.fit_action):
            view_menu.addAction(action)

        help_menu = self.menuBar().addMenu(self.tr("&Help"))
        logs = QAction(self.tr("Open the &log folder"), self)
        logs.triggered.connect(lambda: QDesktopServices.openUrl(
            QUrl.fromLocalFile(str(self.settings.log_dir))))
        about = QAction(line_icon("info"), self.tr("&About Retina Screen"), self)
        about.setShortcut(QKeySequence("F1"))
        about.triggered.connect(self.show_about)
        help_menu.addAction(logs)
        help_menu.addAction(about)
        for action in (page.new_action, page.open_action, page.print_action, page.save_action,
                       page.heatmap_action, page.zoom_in_action, page.zoom_out_action,
                       page.fit_action):
            self.addAction(action)

    # pages -------------------------------------------------------------------------------------
    def current_page(self) -> QWidget:
        """The page on the visible tab (the tabs hold scroll areas around the pages)."""
        area = self.tabs.currentWidget()
        return area.widget() if isinstance(area, QScrollArea) else area

    def show_page(self, page: QWidget) -> None:
        for index in range(self.tabs.count()):
            area = self.tabs.widget(index)
            if area is page or (isinstance(area, QScrollArea) and area.widget() is page):
                self.tabs.setCurrentIndex(index)
                return

    def _pages_changed(self) -> None:
        """The patient screen's shortcuts (Ctrl+O, Ctrl+N, ...) only act on the patient tab."""
        on_patient = self.current_page() is self.patient_page
        self.patient_page.set_shortcuts_active(on_patient)

    def eventFilter(self, watched: QObject, event: QEvent) -> bool:  # noqa: N802
        if watched is self.centralWidget() and event.type() in (QEvent.Type.Resize,
                                                                QEvent.Type.LayoutRequest):
            self._place_message_bar()
        return super().eventFilter(watched, event)

    def _place_message_bar(self) -> None:
        """The message strip sits in the tab row, right of the tabs, over nothing important;
        a long message grows downwards over the page (never moving it)."""
        central = self.centralWidget()
        bar = self.tabs.tabBar()
        last = bar.tabRect(bar.count() - 1)
        right_of_tabs = bar.mapTo(central, last.topRight()).x() + 24
        left = max(right_of_tabs, central.width() // 3)
        top = self.tabs.mapTo(central, bar.geometry().topLeft()).y()
        width = central.width() - left - 10
        self.message_bar.place(QRect(left, top, max(width, 200), max(bar.height(), 34)))

    # model -------------------------------------------------------------------------------------
    def load_model(self) -> None:
        """Load the model on a worker thread (once, at start-up)."""
        self.model_label.setText(self.tr("Loading the grading model…"))
        run_task(load_screener, self.settings, on_done=self._model_loaded)

    def _model_loaded(self, screener: object, error: BaseException | None) -> None:
        if error is not None:
            self.model_problem = plain_message(error)
            self.model_label.setText(self.tr("Screening unavailable: the grading model could "
                                             "not be loaded"))
            self.patient_page.session.set_screener(None, self.model_problem)
            self.show_message("error", self.model_problem)
            log.error("model could not be loaded: %s", error)
            self.modelFailed.emit(self.model_problem)
            return
        self.screener = screener  # type: ignore[assignment]
        info = self.screener.model_info
        self.model_label.setText(self.tr("Model {0} {1} (sha256 {2}) ready")
                                 .format(info.name, info.version, info.short_sha))
        self.patient_page.session.set_screener(self.screener)
        log.info("model %s %s loaded", info.name, info.version)
        self.modelReady.emit(self.screener)

    # messages ----------------------------------------------------------------------------------
    def show_message(self, level: str, text: str) -> None:
        """Show a plain-language message in the window (never blocks)."""
        self.messages.append((level, text))
        self.message_bar.show_message(level, text)
        self.messageShown.emit(level, text)

    def open_report_preview(self, pdf: Path) -> None:
        """Show a finished report (a batch patient's) in the app's own preview, to print it."""
        from .report_preview import ReportPreviewDialog

        dialog = ReportPreviewDialog(pdf, self.settings.paper_size,
                                     Path(self.settings.output_dir) / pdf.name, self)
        dialog.setAttribute(Qt.WidgetAttribute.WA_DeleteOnClose)
        dialog.message.connect(self.show_message)
        self.report_preview = dialog
        dialog.destroyed.connect(lambda: setattr(self, "report_preview", None))
        dialog.open()

    # settings ----------------------------------------------------------------------------------
    def reload_settings(self) -> None:
        try:
            self.settings = self.prefs.apply(self._base_settings)
        except RetinaScreenError as exc:
            self.show_message("error", plain_message(exc, "apply the settings"))
        self._update_clinic_label()
        self.batch_page.settings_changed()
        self.settingsChanged.emit()

    def _update_clinic_label(self) -> None:
        from .settings_view import identity_missing

        missing = identity_missing(self.settings)
        clinic = (self.tr("clinic name not set") if "clinic_name" in missing
                  else self.settings.clinic_name)
        operator = self.tr("operator not set") if "operator" in missing else self.settings.operator
        self.clinic_label.setText(f"{clinic} · {operator}")

    def open_settings(self) -> None:
        from .settings_view import SettingsDialog

        manifest = self.screener.model.manifest if self.screener is not None else None
        dialog = SettingsDialog(self.prefs, self.settings, manifest, self)
        dialog.setAttribute(Qt.WidgetAttribute.WA_DeleteOnClose)
        dialog.accepted.connect(self.reload_settings)
        dialog.accepted.connect(lambda: self.show_message("info", self.tr(
            "Settings saved. Restart Retina Screen to change the app's language; new reports "
            "use the new language at once.") if dialog.language_changed
            else self.tr("Settings saved.")))
        self.settings_dialog = dialog
        dialog.open()

    def maybe_first_run(self) -> None:
        """Ask once for the clinic name and operator."""
        if self.prefs.first_run_done:
            return
        from .settings_view import FirstRunDialog

        dialog = FirstRunDialog(self.prefs, self.settings, self)
        dialog.setAttribute(Qt.WidgetAttribute.WA_DeleteOnClose)
        dialog.accepted.connect(self.reload_settings)
        self.first_run_dialog = dialog
        dialog.open()

    def ask_identity(self, then: Callable[[], None] | None = None) -> None:
        """The clinic name and operator dialog (as at first run), e.g. when a report was about
        to go out without them; ``then`` runs once they are saved."""
        from .settings_view import FirstRunDialog

        dialog = FirstRunDialog(self.prefs, self.settings, self)
        dialog.setAttribute(Qt.WidgetAttribute.WA_DeleteOnClose)
        dialog.accepted.connect(self.reload_settings)
        if then is not None:
            dialog.accepted.connect(then)
        self.first_run_dialog = dialog
        dialog.open()

    def show_about(self) -> None:
        model = (f"{self.screener.model_info.name} {self.screener.model_info.version}"
                 if self.screener is not None else "not loaded")
        QMessageBox.about(
            self, self.tr("About Retina Screen"),
            self.tr("<b>Retina Screen</b> {0}<br>Offline screening of colour fundus "
                    "photographs for diabetic retinopathy.<br><br>Grading model: "
                    "{1}<br><br>Research use only: not cleared for clinical diagnosis. Every "
                    "result must be reviewed under your local screening programme's rules.")
                        .format(app_version(), model))

    # window state ------------------------------------------------------------------------------
    def _restore_window(self) -> None:
        """The last geometry, or the comfortable size; in both cases fitted to the screen."""
        geometry, state = self.prefs.window_state()
        restored = geometry is not None and self.restoreGeometry(geometry)
        available = self._available_geometry()
        if not restored:
            size = COMFORTABLE_SIZE.boundedTo(available.size() - FRAME_ALLOWANCE)
            self.resize(size)
            self.move(available.center() - self.rect().center())
        if state is not None:
            self.restoreState(state)
        self.fit_to_screen()

    def _available_geometry(self) -> QRect:
        screen = self.screen() or QGuiApplication.primaryScreen()
        return screen.availableGeometry() if screen is not None else QRect(0, 0, 1360, 860)

    def fit_to_screen(self) -> None:
        """Shrink and move the window (frame included) into the screen's available area."""
        available = self._available_geometry()
        if self.isMaximized() or self.isFullScreen():
            return
        frame = self.frameGeometry()
        margins = (QSize(frame.width() - self.width(), frame.height() - self.height())
                   if self.isVisible() else FRAME_ALLOWANCE)
        room = available.size() - margins
        if self.width() > room.width() or self.height() > room.height():
            self.resize(self.size().boundedTo(room))
        frame = self.frameGeometry()
        x = min(max(frame.x(), available.x()), available.x() + available.width() - frame.width())
        y = min(max(frame.y(), available.y()),
                available.y() + available.height() - frame.height())
        if (x, y) != (frame.x(), frame.y()):
            self.move(x, y)

    def showEvent(self, event: QShowEvent) -> None:  # noqa: N802
        super().showEvent(event)
        if not self._fitted_once:  # the frame's real size is known once the window is shown
            self._fitted_once = True
            QTimer.singleShot(0, self.fit_to_screen)
            # Typing starts in the patient ID (the focus was on the tab bar, so an operator
            # typing the ID at once typed nowhere: found 2026-12-02).
            QTimer.singleShot(0, self.patient_page.form.patient_id.setFocus)
        self._place_message_bar()

    def closeEvent(self, event: QCloseEvent) -> None:  # noqa: N802
        page = self.patient_page
        if page.session.unsaved and not page.confirm_discard(True):
            event.ignore()
            return
        if self.batch_page.running:
            self.show_message("info", self.tr("Stopping the folder screening safely…"))
        self.batch_page.shutdown()
        self.prefs.save_window_state(self.saveGeometry(), self.saveState())
        wait_for_all(30_000)
        QApplication.processEvents()  # deliver the last results before the widgets go
        if page.preview is not None:
            page.preview.done(0)  # also deletes the temporary report
        if self.report_preview is not None:
            self.report_preview.done(0)
        log.info("main window closed")
        event.accept()

    # convenience for tests and benchmarks --------------------------------------------------------
    def add_photos(self, paths: list[Path | str], eye=None) -> list[int]:  # noqa: ANN001
        return self.patient_page.add_photos([Path(p) for p in paths], eye)
