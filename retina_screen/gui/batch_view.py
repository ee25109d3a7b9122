"""Screen a folder: the batch view over :func:`retina_screen.batch.run_batch` / ``watch_folder``.

The run happens on a :class:`JobThread`; the engine's callbacks (called on that thread) are
forwarded to the GUI through queued signals. Cancelling sets the engine's cancel event: what
was screened stays screened, and starting again on the same output folder resumes.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from PySide6.QtCore import (
    QT_TRANSLATE_NOOP,
    QAbstractTableModel,
    QCoreApplication,
    QModelIndex,
    QObject,
    QSortFilterProxyModel,
    Qt,
    QUrl,
    Signal,
)
from PySide6.QtGui import QColor, QDesktopServices, QFont, QKeySequence, QShortcut
from PySide6.QtWidgets import (
    QAbstractItemView,
    QCheckBox,
    QFormLayout,
    QFrame,
    QHBoxLayout,
    QHeaderView,
    QLabel,
    QLineEdit,
    QMessageBox,
    QProgressBar,
    QPushButton,
    QTableView,
    QVBoxLayout,
    QWidget,
)

from ..batch_findings import REMEDY_WINDOW, batch_findings
from ..errors import ConfigError, OtherInputFolderError
from ..journal import GroupKey
from ..results import Outcome
from ..settings import Settings
from .i18n import engine_text
from .icons import ACCENT, OUTCOME_COLOURS, line_icon, outcome_icon
from .message_bar import MESSAGE_STYLES
from .messages import plain_message
from .patient_view import WrappedLabel
from .prefs import Preferences
from .settings_view import PathField
from .text import outcome_short
from .workers import JobThread

translate = QCoreApplication.translate  # pyside6-lupdate reads translate("context", "text")
log = logging.getLogger(__name__)

COLUMNS = (QT_TRANSLATE_NOOP("PatientTableModel", "Patient ID"),
           QT_TRANSLATE_NOOP("PatientTableModel", "Visit"),
           QT_TRANSLATE_NOOP("PatientTableModel", "Eyes"),
           QT_TRANSLATE_NOOP("PatientTableModel", "Outcome"),
           QT_TRANSLATE_NOOP("PatientTableModel", "Interval"),
           QT_TRANSLATE_NOOP("PatientTableModel", "Report"))
#: The patient table's row height and the rows it always shows (the page scrolls for them).
ROW_HEIGHT = 30
MIN_TABLE_ROWS = 5
COLUMN_PATIENT, COLUMN_VISIT, COLUMN_EYES, COLUMN_OUTCOME, COLUMN_INTERVAL, COLUMN_REPORT = \
    range(len(COLUMNS))


@dataclass(frozen=True)
class TableRow:
    """One patient visit as shown in the table (copied from the engine's PatientRow)."""

    patient_id: str
    eyes: str
    outcome: Outcome
    headline: str
    interval: str
    report: Path | None
    visit: str = ""
    # The engine's key of the visit (PatientRow.key: patient ID and visit), one row each.
    key: GroupKey = ("", "")

    @classmethod
    def from_engine(cls, row: Any) -> TableRow:
        report = getattr(row, "report", None)
        return cls(str(row.patient_id), str(row.eyes), Outcome(row.outcome),
                   str(getattr(row, "headline", "")), str(getattr(row, "interval", "")),
                   Path(report) if report else None, str(getattr(row, "visit", "") or ""),
                   tuple(row.key))


class PatientTableModel(QAbstractTableModel):
    """Patient visits of the current run, in the order they were finished (updated in place,
    one row per visit: two visits of one patient are two rows)."""

    def __init__(self, parent: QObject | None = None) -> None:
        super().__init__(parent)
        self.rows: list[TableRow] = []
        self._index: dict[GroupKey, int] = {}

    def rowCount(self, parent: QModelIndex = QModelIndex()) -> int:  # noqa: B008,N802
        return 0 if parent.isValid() else len(self.rows)

    def columnCount(self, parent: QModelIndex = QModelIndex()) -> int:  # noqa: B008,N802
        return 0 if parent.isValid() else len(COLUMNS)

    def headerData(self, section: int, orientation: Qt.Orientation,  # noqa: N802
                   role: int = Qt.ItemDataRole.DisplayRole) -> Any:
        if orientation == Qt.Orientation.Horizontal and role == Qt.ItemDataRole.DisplayRole:
            return self.tr(COLUMNS[section])
        return None

    def data(self, index: QModelIndex, role: int = Qt.ItemDataRole.DisplayRole) -> Any:
        if not index.isValid():
            return None
        row = self.rows[index.row()]
        column = index.column()
        if role == Qt.ItemDataRole.DisplayRole:
            return (row.patient_id, row.visit, row.eyes, outcome_short(row.outcome),
                    engine_text(row.interval),
                    self.tr("Open report") if row.report else "–")[column]
        if role == Qt.ItemDataRole.ToolTipRole:
            if column == COLUMN_OUTCOME:
                return engine_text(row.headline)
            if column == COLUMN_REPORT:
                return (self.tr("Double-click to preview and print the report") if row.report
                        else self.tr("No report was written for this patient"))
            # The whole text of a cell the column's width cuts (a long patient ID, an interval)
            return self.data(index, Qt.ItemDataRole.DisplayRole)
        if role == Qt.ItemDataRole.DecorationRole and column == COLUMN_OUTCOME:
            return outcome_icon(row.outcome)
        if role == Qt.ItemDataRole.DecorationRole and column == COLUMN_REPORT and row.report:
            return line_icon("report", ACCENT)
        if role == Qt.ItemDataRole.ForegroundRole and column == COLUMN_REPORT:
            return QColor(ACCENT)
        if role == Qt.ItemDataRole.ForegroundRole and column in (COLUMN_OUTCOME,
                                                                   COLUMN_INTERVAL):
            return QColor(OUTCOME_COLOURS[row.outcome])
        if (role == Qt.ItemDataRole.FontRole and column == COLUMN_OUTCOME
                and row.outcome.is_referral):
            font = QFont()
            font.setBold(True)
            return font
        if role == Qt.ItemDataRole.UserRole:
            return row
        return None

    def upsert(self, row: TableRow) -> None:
        """Add a visit's row, or update it when the visit is decided again."""
        position = self._index.get(row.key)
        if position is None:
            self.beginInsertRows(QModelIndex(), len(self.rows), len(self.rows))
            self._index[row.key] = len(self.rows)
            self.rows.append(row)
            self.endInsertRows()
        else:
            self.rows[position] = row
            self.dataChanged.emit(self.index(position, 0),
                                  self.index(position, len(COLUMNS) - 1))

    def clear(self) -> None:
        self.beginResetModel()
        self.rows.clear()
        self._index.clear()
        self.endResetModel()


class ReferOnlyFilter(QSortFilterProxyModel):
    """Hides patients who are not referred when ``refer_only`` is on."""

    def __init__(self, parent: QObject | None = None) -> None:
        super().__init__(parent)
        self.refer_only = False

    def set_refer_only(self, on: bool) -> None:
        self.refer_only = on
        self.invalidate()

    def filterAcceptsRow(self, source_row: int, source_parent: QModelIndex) -> bool:  # noqa: N802
        if not self.refer_only:
            return True
        model = self.sourceModel()
        row = model.data(model.index(source_row, 0, source_parent), Qt.ItemDataRole.UserRole)
        return row is not None and row.outcome.is_referral


class BatchSignals(QObject):
    progress = Signal(object)
    patient = Signal(object)


def _tr(text: str) -> str:
    return translate("BatchPage", text)


def format_eta(seconds: float | None) -> str:
    if seconds is None:
        return translate("BatchPage", "estimating time left…")
    seconds = max(0, round(seconds))
    if seconds < 60:
        return translate("BatchPage", "about {0} s left").format(seconds)
    minutes, seconds = divmod(seconds, 60)
    if minutes < 60:
        return translate("BatchPage", "about {0} min {1:02d} s left").format(minutes, seconds)
    hours, minutes = divmod(minutes, 60)
    return translate("BatchPage", "about {0} h {1:02d} min left").format(hours, minutes)


def errors_text(errors: int) -> str:
    """'1 error', '3 errors' (files that could not be read)."""
    return (translate("BatchPage", "1 error") if errors == 1
            else translate("BatchPage", "{0:,} errors").format(errors))


def progress_text(progress: Any) -> str:
    """'120 of 1,000 photographs · 3 ungradable · 0 errors · 4.1 photos/s · about 3 min left'."""
    parts = [translate("BatchPage", "{0:,} of {1:,} photographs")
             .format(progress.done, progress.total)]
    parts.append(translate("BatchPage", "{0:,} ungradable")
                 .format(progress.ungradable))
    parts.append(errors_text(progress.errors))
    if progress.rate:
        parts.append(translate("BatchPage", "{0:.1f} photos/s")
                     .format(progress.rate))
    if progress.done < progress.total:
        parts.append(format_eta(progress.eta_s))
    return " · ".join(parts)


class BatchPage(QWidget):
    """Choose folders, start, watch progress and patients, cancel, resume."""

    runStarted = Signal()  # noqa: N815
    runFinished = Signal(object, object)  # noqa: N815  summary, error
    progressed = Signal(object)
    message = Signal(str, str)
    reportRequested = Signal(Path)  # noqa: N815  show this patient's report in the app

    def __init__(self, settings: Callable[[], Settings], parent: QWidget | None = None,
                 prefs: Preferences | None = None) -> None:
        super().__init__(parent)
        self.setObjectName("batchPage")
        self._settings = settings
        self.prefs = prefs
        self.job: JobThread | None = None
        self.signals = BatchSignals(self)
        self.signals.progress.connect(self._progress)
        self.signals.patient.connect(self._patient)
        self.last_summary: Any = None
        self.watching = False
        self.open_file: Callable[[Path], bool] = lambda path: QDesktopServices.openUrl(
            QUrl.fromLocalFile(str(path)))

        self.model = PatientTableModel(self)
        self.proxy = ReferOnlyFilter(self)
        self.proxy.setSourceModel(self.model)
        self._build()

    # construction ------------------------------------------------------------------------------
    def _build(self) -> None:
        settings = self._settings()
        self.input_dir = PathField(True, self.tr("Camera export folder"))
        self.input_dir.edit.setPlaceholderText(self.tr("Folder the fundus camera exports "
                                                       "photographs to"))
        self.output_dir = PathField(True, self.tr("Output folder"))
        self._default_output = str(Path(settings.output_dir) / "batch")
        self._pending_default: str | None = None  # a new default that came during a run
        remembered = self.prefs.get("batch/input_dir") if self.prefs else ""
        self.input_dir.setText(remembered)
        self.output_dir.setText((self.prefs.get("batch/output_dir") if self.prefs else "")
                                or self._default_output)
        self.pattern = QLineEdit()
        self.pattern.setPlaceholderText(self.tr("automatic (e.g. P001_R.jpg, P001-left-2.jpg)"))
        self.pattern.setAccessibleName(self.tr("File-name pattern"))
        self.pattern.setToolTip(self.tr("Optional: how file names encode patient and eye, e.g. "
                                        "{patient}_{eye}_{any}"))
        self.reports = QCheckBox(self.tr("Write a PDF report for each patient"))
        self.reports.setChecked(True)
        self.watch = QCheckBox(self.tr("Keep watching the folder for new photographs"))
        self.watch.setToolTip(self.tr("Screens each new patient as the camera writes the "
                                      "files; runs until you press Stop."))
        form = QFormLayout()
        form.addRow(self.tr("&Camera export folder"), self.input_dir)
        form.addRow(self.tr("&Output folder"), self.output_dir)
        form.addRow(self.tr("File &names"), self.pattern)
        options = QHBoxLayout()
        options.addWidget(self.reports)
        options.addSpacing(16)
        options.addWidget(self.watch)
        options.addStretch(1)
        form.addRow("", options)

        self.start_button = QPushButton(line_icon("start", "#FFFFFF"), self.tr("Start screening"))
        self.start_button.setObjectName("primary")
        self.start_button.setShortcut(QKeySequence("Ctrl+R"))
        self.start_button.setToolTip(self.tr("Start or resume screening the folder (Ctrl+R)"))
        self.start_button.setAccessibleName(self.tr("Start screening the folder"))
        self.cancel_button = QPushButton(line_icon("stop", "#B3261E"), self.tr("Stop"))
        self.cancel_button.setObjectName("danger")
        self.cancel_button.setToolTip(self.tr("Stop safely: screened photographs are kept (Esc)"))
        self.cancel_button.setAccessibleName(self.tr("Stop screening"))
        self.cancel_button.setEnabled(False)
        for button in (self.start_button, self.cancel_button):
            button.setMinimumHeight(36)
        self.start_button.clicked.connect(lambda: self.start())
        self.cancel_button.clicked.connect(self.cancel)
        escape = QShortcut(QKeySequence(Qt.Key.Key_Escape), self)
        escape.activated.connect(self._escape)
        buttons = QHBoxLayout()
        buttons.addWidget(self.start_button)
        buttons.addWidget(self.cancel_button)
        buttons.addStretch(1)

        setup = QFrame()
        setup.setObjectName("batchCard")
        setup_layout = QVBoxLayout(setup)
        setup_layout.setContentsMargins(16, 12, 16, 14)
        title = QLabel(self.tr("Screen a folder"))
        title.setObjectName("sectionTitle")
        setup_layout.addWidget(title)
        setup_layout.addLayout(form)
        setup_layout.addLayout(buttons)

        self.progress_bar = QProgressBar()
        self.progress_bar.setAccessibleName(self.tr("Batch progress"))
        self.progress_bar.setRange(0, 1)
        self.progress_bar.setValue(0)
        self.progress_bar.setTextVisible(False)
        self.count_label = QLabel(self.tr("0 of 0"))
        self.count_label.setObjectName("bigNumber")
        # Wrapped: a long finished line (and its Spanish) must not widen the page.
        self.progress_label = WrappedLabel()
        self.progress_label.setText(self.tr("Choose the camera export folder and press Start."))
        self.progress_label.setObjectName("muted")
        self.progress_label.setAccessibleName(self.tr("Batch progress details"))
        progress = QFrame()
        progress.setObjectName("batchCard")
        progress_layout = QVBoxLayout(progress)
        progress_layout.setContentsMargins(16, 12, 16, 14)
        top = QHBoxLayout()
        top.addWidget(self.count_label)
        top.addSpacing(12)
        top.addWidget(self.progress_label, 1)
        progress_layout.addLayout(top)
        progress_layout.addWidget(self.progress_bar)
        # What a finished run found to check, in the page under the progress bar (in the
        # floating message strip it covered the folder fields and Browse buttons).
        self.findings = WrappedLabel()
        self.findings.setObjectName("runFindings")
        self.findings.setTextFormat(Qt.TextFormat.PlainText)
        self.findings.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        self.findings.setAccessibleName(self.tr("What the run found to check"))
        self.findings.hide()
        self.findings_level = ""
        progress_layout.addWidget(self.findings)

        self.refer_only = QCheckBox(self.tr("Show only patients to &refer"))
        self.refer_only.setAccessibleName(self.tr("Show only patients to refer"))
        self.refer_only.toggled.connect(self.proxy.set_refer_only)
        self.refer_only.toggled.connect(lambda _on: self._update_counts())
        self.patients_label = WrappedLabel()
        self.patients_label.setText(self.tr("No patients yet"))
        self.patients_label.setObjectName("muted")
        self.open_folder_button = QPushButton(line_icon("folder"), self.tr("Open output folder"))
        self.open_folder_button.setEnabled(False)
        self.open_folder_button.clicked.connect(
            lambda: self.open_file(Path(self.output_dir.text())))
        table_bar = QHBoxLayout()
        table_title = QLabel(self.tr("Patients"))
        table_title.setObjectName("sectionTitle")
        table_bar.addWidget(table_title)
        table_bar.addSpacing(8)
        table_bar.addWidget(self.patients_label, 1)
        table_bar.addWidget(self.refer_only)
        table_bar.addWidget(self.open_folder_button)

        self.table = QTableView()
        self.table.setModel(self.proxy)
        self.table.setAccessibleName(self.tr("Screened patients"))
        self.table.setSelectionBehavior(QAbstractItemView.SelectionBehavior.SelectRows)
        self.table.setSelectionMode(QAbstractItemView.SelectionMode.SingleSelection)
        self.table.setEditTriggers(QAbstractItemView.EditTrigger.NoEditTriggers)
        self.table.setAlternatingRowColors(True)
        self.table.setShowGrid(False)
        self.table.verticalHeader().setVisible(False)
        self.table.verticalHeader().setDefaultSectionSize(ROW_HEIGHT)
        # A usable table on a small screen: the page scrolls rather than squeeze it.
        self.table.setMinimumHeight(self.table.horizontalHeader().sizeHint().height()
                                    + MIN_TABLE_ROWS * ROW_HEIGHT
                                    + 2 * self.table.frameWidth() + 2)
        header = self.table.horizontalHeader()
        header.setDefaultAlignment(Qt.AlignmentFlag.AlignLeft | Qt.AlignmentFlag.AlignVCenter)
        header.setSectionResizeMode(QHeaderView.ResizeMode.Interactive)
        header.setSectionResizeMode(COLUMN_INTERVAL, QHeaderView.ResizeMode.Stretch)
        header.setSortIndicatorShown(True)
        for column, width in ((COLUMN_PATIENT, 200), (COLUMN_VISIT, 110), (COLUMN_EYES, 70),
                              (COLUMN_OUTCOME, 200), (COLUMN_REPORT, 140)):
            self.table.setColumnWidth(column, width)
        # Unsorted (in the order patients finish) until a column header is clicked.
        self.table.setSortingEnabled(True)
        header.setSortIndicator(-1, Qt.SortOrder.AscendingOrder)
        self.proxy.sort(-1)
        self.table.doubleClicked.connect(self._open_row)
        self.table.activated.connect(self._open_row)

        layout = QVBoxLayout(self)
        layout.setContentsMargins(12, 12, 12, 12)
        layout.setSpacing(10)
        layout.addWidget(setup)
        layout.addWidget(progress)
        layout.addLayout(table_bar)
        layout.addWidget(self.table, 1)

    # run ---------------------------------------------------------------------------------------
    def settings_changed(self) -> None:
        """A new default output folder applies unless the operator chose another one."""
        new_default = str(Path(self._settings().output_dir) / "batch")
        if self.running:
            # Not during a run: the field named a folder the run never wrote, and "Open output
            # folder" opened it (found 2026-12-02). The field keeps the run's folder.
            self._pending_default = new_default
            return
        self._apply_default(new_default)

    def _apply_default(self, new_default: str) -> None:
        if self.output_dir.text() in ("", self._default_output):
            self.output_dir.setText(new_default)
        self._default_output = new_default

    @property
    def running(self) -> bool:
        return self.job is not None and self.job.isRunning()

    def confirm_other_input(self, message: str) -> bool:
        """Ask before an output folder of another input folder is continued (replaceable in
        tests)."""
        answer = QMessageBox.question(
            self, self.tr("Another camera folder"),
            self.tr("{0}\n\nAdd this folder's results to that output folder anyway?")
            .format(message),
            QMessageBox.StandardButton.Yes | QMessageBox.StandardButton.No,
            QMessageBox.StandardButton.No)
        return answer == QMessageBox.StandardButton.Yes

    def confirm_stop_watching(self) -> bool:
        """Ask before Esc stops watching the folder (replaceable in tests): one key press
        anywhere on the page ended a day's watch without a word (found 2026-12-02)."""
        answer = QMessageBox.question(
            self, self.tr("Stop watching"),
            self.tr("Stop watching the camera folder? New photographs will not be screened "
                    "until you start again."),
            QMessageBox.StandardButton.Yes | QMessageBox.StandardButton.No,
            QMessageBox.StandardButton.No)
        return answer == QMessageBox.StandardButton.Yes

    def _escape(self) -> None:
        """Esc stops a run; a watch only once the operator confirms it."""
        if self.running and self.watching and not self.confirm_stop_watching():
            return
        self.cancel()

    def start(self, allow_other_input: bool = False) -> bool:
        """Start (or resume) screening the chosen folder."""
        if self.running:
            return False
        input_dir = Path(self.input_dir.text()) if self.input_dir.text() else None
        output_text = self.output_dir.text()
        if input_dir is None or not input_dir.is_dir():
            self.message.emit("warning", self.tr("Choose the camera export folder first (it "
                                                 "must exist)."))
            self.input_dir.setFocus()
            return False
        if not output_text:
            self.message.emit("warning", self.tr("Choose an output folder for the results."))
            self.output_dir.setFocus()
            return False
        output_dir = Path(output_text)
        if output_dir.resolve() == input_dir.resolve():
            self.message.emit("warning", self.tr("Choose an output folder different from the "
                                                 "camera folder."))
            return False
        if self.prefs is not None:  # the same camera folder is used day after day
            self.prefs.set("batch/input_dir", str(input_dir))
            self.prefs.set("batch/output_dir", str(output_dir))
            self.prefs.sync()
        settings = self._settings()
        options = dict(pattern=self.pattern.text().strip() or None,
                       workers=settings.workers or None, reports=self.reports.isChecked(),
                       allow_other_input=allow_other_input)
        watch = self.watch.isChecked()
        self.model.clear()
        self._update_counts()
        self._show_findings("", [])
        self.last_summary = None
        self.watching = watch
        self.progress_bar.setRange(0, 0)  # busy until the first progress report
        if watch:  # an empty camera folder sends no progress: say what is going on
            self.count_label.setText(self.tr("Watching"))
            self.progress_label.setText(self.tr("Watching the camera folder: each new patient "
                                                "is screened as soon as the camera has written "
                                                "the photographs. Press Stop to end."))
        else:
            self.count_label.setText(self.tr("Starting…"))
            self.progress_label.setText(self.tr("Looking for photographs…"))
        self.job = JobThread(_run_job, input_dir, output_dir, settings, options, watch,
                                self.signals, parent=self)
        self.job.done.connect(self._finished)
        self.job.finished.connect(self.job.deleteLater)
        self._set_running(True)
        self.job.start_job()
        log.info("batch run started (watch=%s, reports=%s)", watch, options["reports"])
        self.runStarted.emit()
        return True

    def cancel(self) -> None:
        """Stop safely: the engine finishes the photo in hand, keeps its results and returns."""
        if not self.running or self.job is None:
            return
        self.job.cancel()
        self.cancel_button.setEnabled(False)
        self.cancel_button.setText(self.tr("Stopping…"))
        self.progress_label.setText(self.tr("Stopping after the photographs in progress…"))
        log.info("batch run cancel requested")

    def shutdown(self, timeout_ms: int = 60_000) -> bool:
        """Cancel a running batch and wait for it (window closing)."""
        if self.job is None:
            return True
        self.job.cancel()
        return self.job.wait(timeout_ms)

    def _set_running(self, running: bool) -> None:
        self.start_button.setEnabled(not running)
        self.cancel_button.setEnabled(running)
        self.cancel_button.setText(self.tr("Stop"))
        for widget in (self.input_dir, self.output_dir, self.pattern, self.reports, self.watch):
            widget.setEnabled(not running)

    def _progress(self, progress: Any) -> None:
        total = max(int(progress.total), 0)
        self.progress_bar.setRange(0, max(total, 1))
        self.progress_bar.setValue(min(int(progress.done), max(total, 1)))
        self.count_label.setText(f"{progress.done:,} / {total:,}")
        if not (self.job is not None and self.job.cancel_event.is_set()):
            text = progress_text(progress)
            if self.watching and progress.done >= total:
                text += " · " + self.tr("watching for new photographs")
            self.progress_label.setText(text)
        self.progressed.emit(progress)

    def _patient(self, row: Any) -> None:
        self.model.upsert(TableRow.from_engine(row))
        self._update_counts()

    def _update_counts(self) -> None:
        total = len(self.model.rows)
        refer = sum(1 for r in self.model.rows if r.outcome.is_referral)
        retake = sum(1 for r in self.model.rows if r.outcome is Outcome.INSUFFICIENT)
        if not total:
            self.patients_label.setText(self.tr("No patients yet"))
            return
        patients = len({r.key[0] for r in self.model.rows})
        text = (self.tr("1 patient") if patients == 1 else self.tr("{0} patients").format(patients))
        if patients != total:  # a patient with several visits has a row (and a decision) each
            text += " " + self.tr("({0} visits)").format(total)
        text += " · " + self.tr("{0} to refer · {1} to retake or grade by hand").format(
            refer, retake)
        if self.proxy.refer_only:
            text += " · " + self.tr("showing referrals only")
        self.patients_label.setText(text)

    def _finished(self, summary: Any, error: BaseException | None) -> None:
        self._set_running(False)
        self.open_folder_button.setEnabled(bool(self.output_dir.text()))
        self.job = None
        self.last_summary = summary
        if isinstance(error, OtherInputFolderError) and self.confirm_other_input(str(error)):
            self.start(allow_other_input=True)
            return
        if error is not None and no_photographs(error):
            # An empty export folder is not a problem with the run: say what was found.
            self.progress_bar.setRange(0, 1)
            self.count_label.setText(self.tr("Nothing to screen"))
            text = self.tr("No photographs were found in this folder. Check that it is the "
                           "folder the camera exports to, or wait until the camera has "
                           "exported the photographs, then press Start.")
            self.progress_label.setText(text)
            skipped = str(error).partition(". Not looked at: ")[2]
            self.message.emit("warning" if skipped else "info", text + (
                " " + self.tr("Files not looked at: {0}").format(skipped) if skipped else ""))
        elif error is not None:
            self.progress_bar.setRange(0, 1)
            self.progress_label.setText(self.tr("The run stopped because of a problem."))
            self.count_label.setText(self.tr("Stopped"))
            self.message.emit("error", plain_message(error, "screen the folder"))
        elif summary is not None and self.watching:
            self.progress_bar.setRange(0, 1)
            self.progress_bar.setValue(1)
            self.count_label.setText(self.tr("Stopped"))
            self.progress_label.setText(
                self.tr("Watching stopped. The output folder holds {0:,} photographs: {1:,} "
                        "graded, {2:,} ungradable, {3}.")
                .format(summary.images, summary.ok, summary.ungradable,
                        errors_text(summary.errors)))
        elif summary is not None:
            images = int(getattr(summary, "images", 0))
            done = int(getattr(summary, "ok", 0)) + int(getattr(summary, "ungradable", 0)) + \
                int(getattr(summary, "errors", 0))
            found = max(int(getattr(summary, "found", 0) or 0), done)
            if getattr(summary, "cancelled", False):
                self.count_label.setText(self.tr("Stopped"))
                self.progress_label.setText(
                    self.tr("Stopped after {0:,} of {1:,} photographs. Press Start to resume: "
                            "photographs already screened are not screened again.")
                                .format(done, found))
                self.message.emit("info", self.tr("Batch stopped safely. Press Start again to "
                                                  "resume."))
            else:
                self.progress_bar.setRange(0, 1)
                self.progress_bar.setValue(1)
                self.count_label.setText(self.tr("Finished"))
                resumed = int(getattr(summary, "resumed", 0))
                self.progress_label.setText(
                    self.tr("{0:,} photographs: {1:,} graded, {2:,} ungradable, {3}")
                    .format(images, summary.ok, summary.ungradable, errors_text(summary.errors))
                    + (" " + self.tr("({0:,} from the earlier run)").format(resumed)
                       if resumed else "")
                    + ". " + self.tr("Results are in results.csv and patients.csv in the "
                                     "output folder."))
                self._naming_message(summary)
        else:
            self.count_label.setText(self.tr("Stopped"))
            self.progress_label.setText(self.tr("Watching stopped."))
        log.info("batch run ended (%s)", "error" if error else "ok")
        pending, self._pending_default = self._pending_default, None
        if pending is not None:  # the field keeps the folder the run wrote (Open output folder)
            self._default_output = pending
        self.runFinished.emit(summary, error)

    def _naming_message(self, summary) -> None:  # noqa: ANN001 - batch.BatchSummary
        """What the run found for the operator to check, under the progress bar (a one-line
        message points there): the findings the command line prints (``batch_findings``,
        weightiest first), then the most frequent reason for ungradable photographs (or the
        reasons, when each occurred once)."""
        applying = [(finding.level, finding.text)
                    for finding in batch_findings(summary, REMEDY_WINDOW, engine_text)]
        reasons = tuple(getattr(summary, "ungradable_reasons", ()) or ())
        if reasons:  # an export setting (layouts, compression) shows as one frequent reason
            reason, count = reasons[0]
            if count > 1:
                text = self.tr("{0:,} photographs could not be graded; the most frequent reason "
                               "({1:,} of them): {2}.").format(summary.ungradable, count,
                                                               engine_text(reason))
            elif len(reasons) == 1:
                text = self.tr("1 photograph could not be graded: {0}.").format(
                    engine_text(reason))
            else:  # every reason once: none is "the most frequent"
                text = self.tr("{0:,} photographs could not be graded; the reasons: {1}.").format(
                    summary.ungradable, "; ".join(engine_text(r) for r, _ in reasons[:3])
                    + ("; \u2026" if len(reasons) > 3 else ""))
            applying.append(("info", text))
        self._show_findings(applying[0][0] if applying else "", [t for _, t in applying])
        if applying:
            self.message.emit(applying[0][0], self.tr(
                "1 finding to check after this run: see it under the progress bar.")
                if len(applying) == 1 else self.tr(
                "{0} findings to check after this run: see them under the progress bar.")
                .format(len(applying)))

    def _show_findings(self, level: str, texts: list[str]) -> None:
        """The run's findings under the progress bar, in their level's colours (none: hidden)."""
        self.findings_level = level if texts else ""
        self.findings.setText("\n\n".join(texts))
        self.findings.setVisible(bool(texts))
        if texts:
            background, colour, _icon = MESSAGE_STYLES.get(level, MESSAGE_STYLES["info"])
            self.findings.setStyleSheet(
                f"QLabel#runFindings {{ background: {background}; color: {colour}; border: 1px "
                f"solid {colour}55; border-radius: 6px; padding: 6px 8px; }}")

    def _open_row(self, index: QModelIndex) -> None:
        row = self.proxy.data(self.proxy.index(index.row(), 0), Qt.ItemDataRole.UserRole)
        if row is None:
            return
        if row.report is None or not Path(row.report).is_file():
            self.message.emit("info", self.tr("There is no report for this patient (reports "
                                              "were switched off, or the run stopped before it "
                                              "was written)."))
            return
        self.reportRequested.emit(Path(row.report))  # the app's own preview, with Print


def no_photographs(error: BaseException) -> bool:
    """The engine found no photograph in the camera folder (its ConfigError's wording: the
    engine has no error class of its own for it)."""
    return isinstance(error, ConfigError) and str(error).startswith("no photographs found")


def _run_job(cancel: threading.Event, input_dir: Path, output_dir: Path, settings: Settings,
             options: dict[str, Any], watch: bool, signals: BatchSignals) -> Any:
    """Worker-thread job: the engine's batch run (or watch loop) with callbacks as signals."""
    from .. import batch

    callbacks = dict(progress=signals.progress.emit, on_patient=signals.patient.emit,
                     cancel=cancel)
    if watch:
        return batch.watch_folder(input_dir, output_dir, settings, **options, **callbacks)
    return batch.run_batch(input_dir, output_dir, settings, **options, **callbacks)
