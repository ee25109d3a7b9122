"""Feedback where the operator looks: messages on the preview, tab-aware shortcuts, the quit
question, the date of birth, and the report's paper size at the printer."""

from __future__ import annotations

from pathlib import Path

import pytest
from gui_helpers import WAIT_MS
from PySide6.QtCore import Qt, QTimer
from PySide6.QtWidgets import QApplication, QMessageBox

from retina_screen.results import Eye


def screen_patient(window, srahim: Path, wait_result, patient: str = "Patient036") -> None:
    page = window.patient_page
    page.form.patient_id.setText(patient)
    page.form.patient_id.editingFinished.emit()
    page.add_photos([srahim / "images" / f"{patient}_R.jpg"], Eye.RIGHT)
    page.add_photos([srahim / "images" / f"{patient}_L.jpg"], Eye.LEFT)
    wait_result(window)


def open_preview(window, qtbot):
    pytest.importorskip("pypdfium2")
    page = window.patient_page
    page.print_action.trigger()
    qtbot.waitUntil(lambda: page.preview is not None, timeout=WAIT_MS)
    dialog = page.preview
    with qtbot.waitSignal(dialog.pagesReady, timeout=WAIT_MS):
        pass
    return dialog


def test_preview_messages_show_on_the_preview_and_paper_size_reaches_the_printer(
        window, srahim, wait_result, qtbot, tmp_path, monkeypatch):
    import pypdfium2 as pdfium
    from PySide6.QtGui import QPageSize
    from PySide6.QtPrintSupport import QPrinter

    from retina_screen.gui import report_preview

    window.settings = window.settings.replace(paper_size="Letter")
    screen_patient(window, srahim, wait_result)
    dialog = open_preview(window, qtbot)
    assert dialog.windowModality() != Qt.WindowModality.NonModal  # it blocks the window

    # No printer: the message appears on the preview itself (above its pages), not behind it.
    monkeypatch.setattr(report_preview, "printer_available", lambda: False)
    dialog.print_button.click()
    bar = dialog.message_bar
    assert bar.isVisible() and bar.parent() is dialog and "No printer" in bar.text.text()
    assert dialog.rect().contains(bar.geometry())
    assert bar.geometry().top() < dialog.print_button.mapTo(dialog, dialog.print_button.rect()
                                                            .topLeft()).y()

    # The paper-size setting (Letter) is what the printer gets, whatever its default (A4).
    printer = QPrinter(QPrinter.PrinterMode.HighResolution)
    printer.setOutputFormat(QPrinter.OutputFormat.PdfFormat)
    printer.setPageSize(QPageSize(QPageSize.PageSizeId.A4))
    printed = tmp_path / "printed.pdf"
    printer.setOutputFileName(str(printed))
    printer.setResolution(72)
    with qtbot.waitSignal(dialog.printed, timeout=WAIT_MS):
        dialog.print_to(printer)
    assert "sent to the printer" in bar.text.text() and bar.isVisible()
    document = pdfium.PdfDocument(str(printed))
    width, height = document[0].get_size()
    document.close()
    assert (round(width), round(height)) == (612, 792)  # US Letter in points
    dialog.close()


def test_shortcuts_on_the_folder_tab_bring_the_patient_tab(window):
    window.show_page(window.batch_page)
    assert window.current_page() is window.batch_page
    assert not window.patient_page.zoom_in_action.isEnabled()  # viewer keys do nothing there
    window.patient_page.new_action.trigger()  # Ctrl+N
    assert window.current_page() is window.patient_page
    assert window.patient_page.zoom_in_action.isEnabled()


def test_quit_question_speaks_of_quitting(window):
    page = window.patient_page
    seen = {}

    def answer() -> None:
        box = QApplication.activeModalWidget()
        assert isinstance(box, QMessageBox)
        seen["text"] = box.text()
        seen["buttons"] = [b.text() for b in box.buttons()]
        box.reject()

    QTimer.singleShot(0, answer)
    assert page._ask_discard(quitting=True) is False
    assert "Quit" in seen["text"] and "new patient" not in seen["text"]
    assert "Quit anyway" in seen["buttons"]


def test_a_long_accession_number_is_never_cut(window, srahim, wait_result, qtbot):
    """An 18-character accession number pasted into the form was cut to DICOM's 16 without a
    word, and the report carried a number that is not the order's (found 2026-12-02). It is
    now kept as typed, and printing or saving says what is wrong instead."""
    page = window.patient_page
    form = page.form
    pasted = "ACC-2026-12-020042"  # 18 characters
    form.accession.setText(pasted)
    assert form.accession.text() == pasted
    screen_patient(window, srahim, wait_result)
    page.print_action.trigger()
    level, text = window.messages[-1]
    assert level == "warning" and pasted in text and "at most 16" in text
    assert page.preview is None
    with qtbot.assertNotEmitted(page.reportSaved, wait=200):
        page.save_pdf_to(Path(window.settings.output_dir) / "x.pdf")
    form.accession.setText(pasted[:16])
    assert not form.accession_problem()


def test_a_name_the_report_cannot_print_is_pointed_out(window, srahim, wait_result, qtbot):
    """An Arabic name printed as "???? ???" on the report with no word in the window, which
    warned only for Chinese, Japanese and Korean (found 2026-12-02). Printing now says so."""
    page = window.patient_page
    page.form.name.setText("محمد علي")
    page.form.name.editingFinished.emit()
    screen_patient(window, srahim, wait_result)
    assert page.checked_result() is not None  # what Print, Save and Send check first
    assert any(level == "warning" and "cannot be printed with the report's fonts" in text
               for level, text in window.messages), window.messages
    window.messages.clear()
    page.form.name.setText("Müller Jan")
    page.form.name.editingFinished.emit()
    assert page.checked_result() is not None
    assert not any("cannot be printed" in text for _, text in window.messages)


def test_date_of_birth_is_checked_and_cleared(window, srahim, wait_result, qtbot):
    page = window.patient_page
    form = page.form
    qtbot.keyClicks(form.birth_date, "1950-02-30")
    form.birth_date.editingFinished.emit()
    assert form.birth_date.property("invalid") is True
    screen_patient(window, srahim, wait_result)

    # Printing refuses: a typed date is never printed as "not recorded".
    page.print_action.trigger()
    level, text = window.messages[-1]
    assert level == "warning" and "1950-02-30" in text and "not a valid date" in text
    assert page.preview is None
    with qtbot.assertNotEmitted(page.reportSaved, wait=200):
        page.save_pdf_to(Path(window.settings.output_dir) / "x.pdf")

    page.new_patient(force=True)
    assert form.birth_date.property("invalid") is False and not form.birth_date.toolTip()


def test_save_pdf_opens_in_the_output_folder_it_creates(window, srahim, wait_result,
                                                         monkeypatch):
    from PySide6.QtWidgets import QFileDialog

    screen_patient(window, srahim, wait_result)
    folder = Path(window.settings.output_dir)
    assert not folder.exists()
    asked = []
    monkeypatch.setattr(QFileDialog, "getSaveFileName", staticmethod(
        lambda parent, caption, start, filters: (asked.append(Path(start)) or "", filters)))
    window.patient_page.save_action.trigger()
    assert asked and asked[0].parent == folder and folder.is_dir()


def test_report_without_clinic_or_operator_asks_first(open_window, srahim, wait_result, qtbot,
                                                      tmp_path, monkeypatch):
    """First-run dialog cancelled: Print/Save ask before a report goes out with the
    placeholder clinic name and 'Operator: not recorded'; entering them continues."""
    import pypdf
    from PySide6.QtWidgets import QFileDialog

    from retina_screen.gui.prefs import Preferences
    from retina_screen.settings import Settings

    fresh = Preferences(tmp_path / "fresh.ini", settings_path=tmp_path / "fresh.toml")
    fresh.store_settings({"output_dir": str(tmp_path / "out")})
    assert not fresh.first_run_done
    window = open_window(preferences=fresh)
    page = window.patient_page
    asked: list[list[str]] = []
    answers = iter(["cancel", "enter", "anyway"])
    page.ask_identity = lambda missing: asked.append(list(missing)) or next(answers)
    screen_patient(window, srahim, wait_result)

    # Cancelled: no report is prepared.
    page.print_action.trigger()
    assert asked == [["clinic_name", "operator"]]
    qtbot.wait(300)
    assert page.preview is None

    # "Enter them now…": the clinic/operator dialog, then the save goes on with them.
    target = tmp_path / "report.pdf"
    monkeypatch.setattr(QFileDialog, "getSaveFileName", staticmethod(
        lambda *_args: (str(target), "")))
    page.save_action.trigger()
    assert len(asked) == 2 and not target.exists()
    dialog = window.first_run_dialog
    qtbot.waitUntil(dialog.isVisible, timeout=WAIT_MS)
    dialog.clinic_name.setText("Hill Street Surgery")
    dialog.operator.setText("B. Photographer")
    with qtbot.waitSignal(page.reportSaved, timeout=WAIT_MS):
        dialog.accept()
    text = " ".join(p.extract_text() for p in pypdf.PdfReader(target).pages)
    assert "Hill Street Surgery" in text and "B. Photographer" in text
    assert Settings().clinic_name not in text
    assert "Hill Street Surgery" in window.clinic_label.text()

    # Set: printing asks nothing.
    page.print_action.trigger()
    qtbot.waitUntil(lambda: page.preview is not None, timeout=WAIT_MS)
    assert len(asked) == 2
    first = page.preview
    first.done(0)

    # Operator removed later: asked again, for the operator only; the operator may go on.
    fresh.store_settings({"operator": ""})
    window.reload_settings()
    page.print_action.trigger()
    assert asked[-1] == ["operator"]
    qtbot.waitUntil(lambda: page.preview not in (None, first), timeout=WAIT_MS)


def test_worklist_without_a_server_is_greyed_out_and_said_plainly(open_window,
                                                                   isolated_settings):
    """With no worklist server set up, "From worklist…" stayed enabled and, pressed, told the
    operator to edit worklist_host, worklist_port and worklist_ae_title "in the settings file"
    (which the Settings dialog does not offer): it is now greyed out and says why in words."""
    from retina_screen.gui.clinic_view import pick_from_worklist

    window = open_window(wait_model=False)
    button, action = window.worklist_button, window.worklist_action
    assert not button.isEnabled() and not action.isEnabled()
    assert button.toolTip().startswith("No worklist server is set up on this computer.")
    pick_from_worklist(window)  # e.g. from a shortcut: the same plain words
    level, text = window.messages[-1]
    assert level == "warning" and text == button.toolTip()
    assert "worklist_host" not in text and "settings file" not in text

    configured = open_window(settings=isolated_settings.replace(worklist_host="127.0.0.1"),
                             wait_model=False)
    assert configured.worklist_button.isEnabled() and configured.worklist_action.isEnabled()
    assert configured.worklist_button.toolTip() == "Fill the patient form from the day's worklist"


def test_save_into_an_impossible_folder_is_said_once(window, srahim, wait_result, qtbot):
    """Saving into /proc said "Could not save the report: the report could not be saved in
    /proc: …": the engine's sentence already says what failed, so it is shown alone."""
    screen_patient(window, srahim, wait_result)
    page = window.patient_page
    count = len(window.messages)
    page.save_pdf_to(Path("/proc/report.pdf"))
    qtbot.waitUntil(lambda: len(window.messages) > count, timeout=WAIT_MS)
    level, text = window.messages[-1]
    assert level == "error" and text.startswith("The report could not be saved in /proc"), text
    assert "Could not save" not in text


def test_a_warning_goes_after_a_minute_an_error_stays(window, srahim, wait_result):
    """A warning strip stayed until closed (a run's findings covered the folder controls)."""
    from retina_screen.gui.message_bar import WARNING_TIMEOUT_MS

    screen_patient(window, srahim, wait_result)
    page, bar = window.patient_page, window.message_bar
    page.form.patient_id.clear()
    page.print_action.trigger()  # no patient ID: a warning
    assert window.messages[-1][0] == "warning" and bar.isVisible()
    assert bar._timer.isActive() and bar._timer.interval() == WARNING_TIMEOUT_MS == 60_000
    window.show_message("error", "No printer is set up on this computer.")
    assert bar.isVisible() and not bar._timer.isActive()
