"""Clinic systems in the desktop app: the worklist dialog (pick a scheduled patient to fill the
patient form), "Send to PACS" for the patient on screen (with its state: sending, sent, queued,
not sent) and for a batch's output folder (with what is still queued).

The work (C-FIND, building and sending DICOM) runs in :mod:`.workers` tasks over the Qt-free
core (:mod:`retina_screen.clinic`); nothing connects unless ``worklist_host``/``pacs_host`` is
set. :func:`install` adds the controls to the main window.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from pathlib import Path
from typing import Any

from PySide6.QtCore import QT_TRANSLATE_NOOP, QCoreApplication, QDate, Qt
from PySide6.QtGui import QAction
from PySide6.QtWidgets import (
    QAbstractItemView,
    QDateEdit,
    QDialog,
    QDialogButtonBox,
    QHBoxLayout,
    QHeaderView,
    QLabel,
    QLineEdit,
    QPushButton,
    QTableWidget,
    QTableWidgetItem,
    QVBoxLayout,
    QWidget,
)

from ..settings import Settings
from .messages import plain_message
from .workers import run_task

# window.tr() would be collected by pyside6-lupdate under the context "window": name it.
translate = QCoreApplication.translate
log = logging.getLogger(__name__)

COLUMNS = ("Patient ID", "Name", "Date of birth", "Sex", "Accession", "Time", "Procedure")


class WorklistDialog(QDialog):
    """The day's scheduled patients from the Modality Worklist, with a search field."""

    def __init__(self, settings: Callable[[], Settings], parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setObjectName("worklistDialog")
        self.setWindowTitle(self.tr("Patient from the worklist"))
        self.resize(820, 460)
        self._settings = settings
        self.entries: list[Any] = []
        self.task = None

        self.date = QDateEdit(QDate.currentDate())
        self.date.setCalendarPopup(True)
        self.date.setDisplayFormat("yyyy-MM-dd")
        self.date.setAccessibleName(self.tr("Scheduled date"))
        self.search = QLineEdit()
        self.search.setPlaceholderText(self.tr("Search ID, name, accession number…"))
        self.search.setAccessibleName(self.tr("Search the worklist"))
        self.search.setClearButtonEnabled(True)
        self.refresh_button = QPushButton(self.tr("&Refresh"))
        self.status = QLabel()
        self.status.setObjectName("muted")
        self.status.setWordWrap(True)
        self.table = QTableWidget(0, len(COLUMNS))
        self.table.setHorizontalHeaderLabels([self.tr(c) for c in COLUMNS])
        self.table.setAccessibleName(self.tr("Scheduled patients"))
        self.table.setSelectionBehavior(QAbstractItemView.SelectionBehavior.SelectRows)
        self.table.setSelectionMode(QAbstractItemView.SelectionMode.SingleSelection)
        self.table.setEditTriggers(QAbstractItemView.EditTrigger.NoEditTriggers)
        self.table.verticalHeader().setVisible(False)
        self.table.horizontalHeader().setSectionResizeMode(
            len(COLUMNS) - 1, QHeaderView.ResizeMode.Stretch)
        self.buttons = QDialogButtonBox(QDialogButtonBox.StandardButton.Ok
                                        | QDialogButtonBox.StandardButton.Cancel)
        self.use_button = self.buttons.button(QDialogButtonBox.StandardButton.Ok)
        self.use_button.setText(self.tr("&Use this patient"))
        self.use_button.setEnabled(False)

        top = QHBoxLayout()
        top.addWidget(QLabel(self.tr("Date")))
        top.addWidget(self.date)
        top.addWidget(self.search, 1)
        top.addWidget(self.refresh_button)
        layout = QVBoxLayout(self)
        layout.addLayout(top)
        layout.addWidget(self.table, 1)
        layout.addWidget(self.status)
        layout.addWidget(self.buttons)

        self.buttons.accepted.connect(self.accept)
        self.buttons.rejected.connect(self.reject)
        self.refresh_button.clicked.connect(self.refresh)
        self.date.dateChanged.connect(lambda _d: self.refresh())
        self.search.textChanged.connect(self._filter)
        self.table.itemSelectionChanged.connect(
            lambda: self.use_button.setEnabled(self.selected() is not None))
        self.table.doubleClicked.connect(lambda _i: self.selected() and self.accept())
        self.refresh()

    def refresh(self) -> None:
        from ..clinic.worklist import query_worklist

        self.status.setText(self.tr("Asking the worklist server…"))
        self.refresh_button.setEnabled(False)
        day = self.date.date().toString("yyyyMMdd")
        self.task = run_task(query_worklist, self._settings(), date=day, on_done=self._loaded)

    def _loaded(self, entries: object, error: BaseException | None) -> None:
        self.task = None
        self.refresh_button.setEnabled(True)
        if error is not None:
            self.entries = []
            self._fill()
            self.status.setText(plain_message(error, "read the worklist"))
            return
        self.entries = list(entries or [])
        self._fill()
        self.status.setText(self.tr("{0} patients scheduled.").format(len(self.entries))
                            if self.entries else self.tr("No patients scheduled on this day."))

    def _fill(self) -> None:
        self.table.setRowCount(len(self.entries))
        for row, e in enumerate(self.entries):
            time = e.scheduled_time[:4]
            values = (e.patient_id, e.patient_name, e.birth_date, e.sex, e.accession,
                      f"{time[:2]}:{time[2:]}" if len(time) == 4 else time, e.description)
            for column, value in enumerate(values):
                self.table.setItem(row, column, QTableWidgetItem(value))
        self._filter(self.search.text())

    def _filter(self, text: str) -> None:
        for row, entry in enumerate(self.entries):
            self.table.setRowHidden(row, not entry.matches(text))
        visible = [r for r in range(len(self.entries)) if not self.table.isRowHidden(r)]
        if len(visible) == 1:
            self.table.selectRow(visible[0])
        elif self.selected() is None:
            self.table.clearSelection()

    def selected(self) -> Any:
        rows = {i.row() for i in self.table.selectedItems()}
        rows = [r for r in rows if not self.table.isRowHidden(r)]
        return self.entries[rows[0]] if len(rows) == 1 else None


def fill_patient_form(form: Any, entry: Any) -> None:
    """Put a worklist patient into the patient form (ID, name, date of birth, sex, accession
    number)."""
    form.patient_id.setText(entry.patient_id)
    form.name.setText(entry.patient_name)
    form.birth_date.setText(entry.birth_date)
    form.accession.setText(entry.accession)
    form.set_sex(entry.sex)
    form.check_birth_date()  # validates the date and emits changed


NO_WORKLIST = QT_TRANSLATE_NOOP("MainWindow", "No worklist server is set up on this computer. "
                                             "Type the patient's details, or ask your IT "
                                             "support to set up the worklist.")


def update_worklist(window: Any) -> None:
    """The worklist button and menu item work only once a worklist server is set up; until
    then they are greyed out and say why."""
    configured = bool(window.settings.worklist_host.strip())
    tip = (translate("MainWindow", "Fill the patient form from the day's worklist")
           if configured else translate("MainWindow", NO_WORKLIST))
    for widget in (window.worklist_action, window.worklist_button):
        widget.setEnabled(configured)
        widget.setToolTip(tip)
    window.worklist_action.setStatusTip(tip)


def pick_from_worklist(window: Any) -> None:
    settings = window.settings
    if not settings.worklist_host.strip():
        window.show_message("warning", translate("MainWindow", NO_WORKLIST))
        return
    dialog = WorklistDialog(lambda: window.settings, window)
    window.worklist_dialog = dialog
    dialog.accepted.connect(lambda: _use(window, dialog))
    dialog.open()


def _use(window: Any, dialog: WorklistDialog) -> None:
    entry = dialog.selected()
    if entry is not None:
        window.show_page(window.patient_page)
        fill_patient_form(window.patient_page.form, entry)


class PacsPanel(QWidget):
    """"Send to PACS" for the batch page's output folder, and what is still queued."""

    def __init__(self, batch_page: Any, settings: Callable[[], Settings],
                 message: Callable[[str, str], None]) -> None:
        super().__init__(batch_page)
        self.batch_page = batch_page
        self._settings = settings
        self._message = message
        self.task = None
        self.button = QPushButton(self.tr("Send to &PACS"))
        self.button.setAccessibleName(self.tr("Send results to the PACS"))
        self.button.setToolTip(self.tr("Send every screened patient's report and structured "
                                       "report to the PACS; what cannot be sent stays queued"))
        self.label = QLabel()
        self.label.setObjectName("muted")
        layout = QHBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.addWidget(self.label)
        layout.addWidget(self.button)
        self.button.clicked.connect(self.send)
        batch_page.runFinished.connect(self._run_finished)
        batch_page.output_dir.edit.textChanged.connect(lambda _t: self.refresh())
        self.refresh()

    def _run_finished(self, summary: Any, error: BaseException | None) -> None:
        """After a batch: send automatically when the pacs_auto_send setting asks for it."""
        self.refresh()
        settings = self._settings()
        if summary is not None and error is None and settings.pacs_auto_send \
                and settings.pacs_host.strip():
            self.send()

    def out_dir(self) -> Path | None:
        text = self.batch_page.output_dir.text()
        return Path(text) if text else None

    def refresh(self) -> None:
        from ..clinic.pacs import pending_count

        out = self.out_dir()
        ready = out is not None and (out / "results.jsonl").is_file()
        configured = bool(self._settings().pacs_host.strip())
        self.button.setEnabled(ready and self.task is None and not self.batch_page.running)
        self.button.setVisible(configured)
        pending = pending_count(out) if ready else 0
        self.label.setText(self.tr("PACS: {0} results queued, not sent yet").format(pending)
                           if pending else "")
        self.label.setVisible(bool(pending))

    def send(self) -> None:
        from ..clinic.pacs import send_results

        out = self.out_dir()
        if out is None or self.task is not None:
            return
        self.button.setEnabled(False)
        self.label.setText(self.tr("Sending to the PACS…"))
        self.label.setVisible(True)
        self.task = run_task(send_results, out, self._settings(), on_done=self._sent)

    def _sent(self, summary: Any, error: BaseException | None) -> None:
        self.task = None
        self.refresh()
        if error is not None:
            self._message("error", plain_message(error, "send the results to the PACS"))
        elif summary.pending:
            self._message("warning", self.tr(
                "{0} results sent; {1} stay queued and are sent next time ({2}).").format(
                    summary.sent, summary.pending, summary.error))
        else:
            self._message("info", self.tr("{0} results sent to the PACS {1}.").format(
                summary.sent, summary.destination))


class PatientPacsPanel(QWidget):
    """"Send to PACS" for the patient on the patient page, and where its results stand:
    sending, sent, queued (the PACS could not be reached: sent with the next send), or not
    sent (an error). Disabled, with a tooltip saying why, while no PACS is configured."""

    def __init__(self, page: Any, settings: Callable[[], Settings],
                 message: Callable[[str, str], None]) -> None:
        super().__init__(page.result_panel)
        self.page = page
        self._settings = settings
        self._message = message
        self.task = None
        # "", "sending", "sent", "pending" or "failed", for the result of self.sent_key.
        self.state = ""
        self.sent_key: tuple[str, str] | None = None
        self.action: QAction | None = None  # the menu's action, enabled with the button
        self.button = QPushButton(self.tr("Send to &PACS"))
        self.button.setObjectName("sendPatientToPacs")
        self.button.setMinimumHeight(34)
        self.button.setAutoDefault(True)
        self.button.setAccessibleName(self.tr("Send this patient's results to the PACS"))
        # The button goes beside the result panel's Print button (install()); this widget
        # holds the state line, shown only once there is a state (no height otherwise).
        self.label = QLabel()
        self.label.setObjectName("muted")
        self.label.setWordWrap(True)
        layout = QHBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.addWidget(self.label, 1)
        self.button.clicked.connect(self.send)
        page.resultShown.connect(lambda _r: self.refresh())
        self.refresh()

    @staticmethod
    def _key(result: Any) -> tuple[str, str] | None:
        return None if result is None else (result.patient.patient_id, result.screened_at)

    def refresh(self) -> None:
        configured = bool(self._settings().pacs_host.strip())
        session = self.page.session
        ready = session.result is not None and not session.pending
        self.button.setEnabled(configured and ready and self.task is None)
        if not configured:
            self.button.setToolTip(self.tr(
                "No PACS is configured: set pacs_host, pacs_port and pacs_ae_title in the "
                "settings file to send results to the PACS."))
        else:
            self.button.setToolTip(self.tr(
                "Send this patient's report and structured report to the PACS; what cannot be "
                "sent stays queued and goes with the next send"))
        if self.action is not None:
            self.action.setEnabled(self.button.isEnabled())
            self.action.setToolTip(self.button.toolTip())
        if self.task is None and self._key(session.result) != self.sent_key:
            self.state = ""  # another patient, or screened again: not sent yet
        self._show_state()

    def _show_state(self, detail: str = "") -> None:
        texts = {"sending": self.tr("PACS: sending…"),
                 "sent": self.tr("PACS: sent."),
                 "pending": self.tr("PACS: queued, not sent yet ({0}). Send again when the "
                                    "PACS is back.").format(detail),
                 "failed": self.tr("PACS: not sent ({0}).").format(detail)}
        if self.state in ("pending", "failed") and not detail:
            return  # keep the text that explains it
        self.label.setText(texts.get(self.state, ""))
        self.label.setAccessibleName(self.label.text())
        self.setVisible(bool(self.state))

    def send(self) -> None:
        """Queue and send the patient's results on a worker thread (the same queue and code
        as ``batch --send``, :func:`retina_screen.clinic.pacs.send_patient`)."""
        from ..clinic.pacs import send_patient

        settings = self._settings()
        if self.task is not None or not settings.pacs_host.strip():
            return
        result = self.page.checked_result()
        if result is None:
            return
        self.sent_key = self._key(result)
        self.state = "sending"
        self._show_state()
        self.button.setEnabled(False)
        self.task = run_task(send_patient, result, Path(settings.output_dir), settings,
                             on_done=self._sent)

    def send_if_automatic(self) -> None:
        """After the operator saved the report (the patient's details are then final): send
        when the pacs_auto_send setting asks for it."""
        if self._settings().pacs_auto_send:
            self.send()

    def _sent(self, summary: Any, error: BaseException | None) -> None:
        self.task = None
        if error is not None:
            self.state = "failed"
            text = plain_message(error, "send the results to the PACS")
            self._show_state(text)
            self._message("error", text)
        elif summary.status == "sent":
            self.state = "sent"
            self._show_state()
            self._message("info", self.tr("The patient's results were sent to the PACS "
                                          "{0}.").format(summary.destination))
        else:
            self.state = "pending"
            self._show_state(summary.error or self.tr("not confirmed by the PACS"))
            self._message("warning", self.tr(
                "The patient's results stay queued and are sent next time ({0}).").format(
                    summary.error))
        self.refresh()


def install(window: Any) -> None:
    """Add the worklist action (menu and a button under the patient form) and the PACS panel
    (beside the batch page's patient table) to the main window."""
    worklist_action = QAction(translate("MainWindow", "Patient from &worklist…"), window)
    worklist_action.setObjectName("worklistAction")
    worklist_action.setStatusTip(translate("MainWindow",
                                           "Fill the patient form from the day's worklist"))
    worklist_action.triggered.connect(lambda _c=False: pick_from_worklist(window))
    window.worklist_action = worklist_action
    menu = window.menuBar().addMenu(translate("MainWindow", "&Clinic"))
    menu.addAction(worklist_action)

    form = window.patient_page.form
    button = QPushButton(translate("MainWindow", "From &worklist…"))
    button.setAccessibleName(translate("MainWindow", "Fill the patient form from the worklist"))
    button.clicked.connect(worklist_action.trigger)
    form.layout().addWidget(button)
    window.worklist_button = button
    update_worklist(window)
    window.settingsChanged.connect(lambda: update_worklist(window))

    patient_page = window.patient_page
    patient_panel = PatientPacsPanel(patient_page, lambda: window.settings, window.show_message)
    window.patient_pacs_panel = patient_panel
    patient_page.reportSaved.connect(lambda _path: patient_panel.send_if_automatic())
    result_panel = patient_page.result_panel
    result_layout = result_panel.layout()
    result_layout.insertWidget(max(result_layout.count() - 1, 0), patient_panel)
    grid = result_panel.button_grid  # Print | Send to PACS, then Save PDF | New patient
    grid.removeWidget(result_panel.print_button)
    grid.addWidget(result_panel.print_button, 0, 0)
    grid.addWidget(patient_panel.button, 0, 1)
    patient_page.update_tab_order()  # the worklist button and Send to PACS in their places
    send_patient_action = QAction(translate("MainWindow", "Send this &patient to PACS"), window)
    send_patient_action.setObjectName("sendPatientAction")
    send_patient_action.triggered.connect(lambda _c=False: patient_panel.send())
    window.send_patient_action = send_patient_action
    patient_panel.action = send_patient_action
    menu.addAction(send_patient_action)

    page = window.batch_page
    panel = PacsPanel(page, lambda: window.settings, window.show_message)
    window.pacs_panel = panel
    send_action = QAction(translate("MainWindow", "&Send batch results to PACS"), window)
    send_action.triggered.connect(lambda _c=False: panel.send())
    menu.addAction(send_action)
    layout = page.layout()
    layout.insertWidget(max(layout.count() - 1, 0), panel,
                        alignment=Qt.AlignmentFlag.AlignRight)
