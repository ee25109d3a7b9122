"""The desktop app's clinic controls against the real Orthanc: picking a worklist patient fills
the patient form; "Send to PACS" sends a batch's results, and what cannot be sent shows as
queued."""

from __future__ import annotations

import os
import shutil
from pathlib import Path
from typing import TYPE_CHECKING

import pytest

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")
pytest.importorskip("PySide6.QtWidgets")
pytest.importorskip("pytestqt")

from clinic_helpers import closed_port  # noqa: E402
from test_worklist import TODAY, fill_worklist  # noqa: E402

if TYPE_CHECKING:
    from tests.clinic.conftest import Orthanc

WAIT_MS = 30_000


def _settings(tmp_path: Path, **overrides: object):  # noqa: ANN202 - Settings
    from retina_screen.settings import load_settings

    return load_settings(overrides={"audit_db": tmp_path / "audit.sqlite",
                                    "audit_key": tmp_path / "audit.key",
                                    "log_dir": tmp_path / "logs", **overrides},
                         use_environment=False, use_file=False)


def test_worklist_dialog_search_fills_the_patient_form(qtbot, orthanc: Orthanc,
                                                       tmp_path: Path) -> None:
    from retina_screen.gui.clinic_view import WorklistDialog, fill_patient_form
    from retina_screen.gui.patient_view import PatientForm

    fill_worklist(orthanc)
    settings = _settings(tmp_path, worklist_host="127.0.0.1",
                         worklist_port=orthanc.dicom_port, worklist_ae_title=orthanc.aet)
    dialog = WorklistDialog(lambda: settings)
    qtbot.addWidget(dialog)
    qtbot.waitUntil(lambda: dialog.task is None, timeout=WAIT_MS)
    assert [e.patient_id for e in dialog.entries] == ["MRN0002", "MRN0001"]
    assert dialog.table.rowCount() == 2 and not dialog.use_button.isEnabled()

    qtbot.keyClicks(dialog.search, "mensah")
    assert [dialog.table.isRowHidden(r) for r in range(2)] == [True, False]
    assert dialog.selected().patient_id == "MRN0001" and dialog.use_button.isEnabled()

    form = PatientForm()
    qtbot.addWidget(form)
    fill_patient_form(form, dialog.selected())
    info = form.info()
    assert (info.patient_id, info.name, info.birth_date) == ("MRN0001", "Mensah Ama",
                                                             "1961-04-02")
    assert (info.sex, info.accession) == ("F", "ACC1001")
    assert form.sex.currentText() == "Female" and form.accession.text() == "ACC1001"
    dialog.date.setDate(dialog.date.date().fromString("2020-01-01", "yyyy-MM-dd"))
    qtbot.waitUntil(lambda: dialog.task is None, timeout=WAIT_MS)
    assert [e.patient_id for e in dialog.entries] == ["MRN0003"]
    assert TODAY  # the schedule above is for today


def test_worklist_dialog_says_when_the_server_is_down(qtbot, tmp_path: Path) -> None:
    from retina_screen.gui.clinic_view import WorklistDialog

    settings = _settings(tmp_path, worklist_host="127.0.0.1", worklist_port=closed_port())
    dialog = WorklistDialog(lambda: settings)
    qtbot.addWidget(dialog)
    qtbot.waitUntil(lambda: dialog.task is None, timeout=WAIT_MS)
    assert "cannot be reached" in dialog.status.text() and dialog.table.rowCount() == 0


def test_send_to_pacs_shows_queued_results_and_sends_them(
        qtbot, orthanc: Orthanc, srahim: Path, tmp_path: Path) -> None:
    from retina_screen.batch import run_batch
    from retina_screen.gui.batch_view import BatchPage
    from retina_screen.gui.clinic_view import PacsPanel

    orthanc.delete_all()
    photos = tmp_path / "export"
    photos.mkdir()
    for eye in "RL":
        shutil.copy(srahim / "images" / f"Patient008_{eye}.jpg", photos)
    out = tmp_path / "results"
    settings = _settings(tmp_path, pacs_host="127.0.0.1", pacs_port=closed_port(),
                         pacs_ae_title=orthanc.aet)
    run_batch(photos, out, settings, workers=1)
    messages: list[tuple[str, str]] = []
    current = {"settings": settings}
    page = BatchPage(lambda: current["settings"])
    qtbot.addWidget(page)
    panel = PacsPanel(page, lambda: current["settings"], lambda *m: messages.append(m))
    page.output_dir.setText(str(out))
    assert panel.button.isVisibleTo(page) and panel.button.isEnabled()

    panel.button.click()  # the PACS is down: everything stays queued and is shown
    qtbot.waitUntil(lambda: panel.task is None, timeout=WAIT_MS)
    assert messages[-1][0] == "warning" and "stay queued" in messages[-1][1]
    assert "2 results queued" in panel.label.text() and panel.label.isVisibleTo(page)

    current["settings"] = settings.replace(pacs_port=orthanc.dicom_port)
    panel.button.click()
    qtbot.waitUntil(lambda: panel.task is None, timeout=WAIT_MS)
    assert messages[-1][0] == "info" and "2 results sent" in messages[-1][1]
    assert not panel.label.isVisibleTo(page)
    assert len(orthanc.instances()) == 2


def test_batch_results_go_to_the_pacs_automatically_when_set(
        qtbot, orthanc: Orthanc, srahim: Path, tmp_path: Path) -> None:
    from retina_screen.gui.batch_view import BatchPage
    from retina_screen.gui.clinic_view import PacsPanel

    orthanc.delete_all()
    photos = tmp_path / "export"
    photos.mkdir()
    for eye in "RL":
        shutil.copy(srahim / "images" / f"Patient017_{eye}.jpg", photos)
    settings = _settings(tmp_path, pacs_host="127.0.0.1", pacs_port=orthanc.dicom_port,
                         pacs_ae_title=orthanc.aet, pacs_auto_send=True, workers=1)
    messages: list[tuple[str, str]] = []
    page = BatchPage(lambda: settings)
    qtbot.addWidget(page)
    panel = PacsPanel(page, lambda: settings, lambda *m: messages.append(m))
    page.input_dir.setText(str(photos))
    page.output_dir.setText(str(tmp_path / "results"))
    assert page.start()
    qtbot.waitUntil(lambda: not page.running and panel.task is None
                    and len(orthanc.instances()) == 2, timeout=60_000)
    assert messages[-1][0] == "info" and "2 results sent" in messages[-1][1]


def _open_window(qtbot, tmp_path: Path, settings):  # noqa: ANN001, ANN202 - MainWindow
    from retina_screen.gui.main_window import MainWindow
    from retina_screen.gui.prefs import Preferences

    prefs = Preferences(tmp_path / "gui-prefs.ini")
    prefs.store_settings({"clinic_name": "Riverside Diabetes Clinic", "operator": "A. Nurse",
                          "output_dir": str(settings.output_dir)})
    window = MainWindow(prefs, settings)
    qtbot.addWidget(window)
    window.patient_page.confirm_discard = lambda *_quitting: True
    with qtbot.waitSignal(window.modelReady, timeout=60_000):
        window.show()
    return window


def _pdf_text(data: bytes) -> str:
    pdfium = pytest.importorskip("pypdfium2")
    document = pdfium.PdfDocument(data)
    return " ".join(document[i].get_textpage().get_text_range() for i in range(len(document)))


def test_worklist_patient_screened_and_sent_to_pacs_from_the_patient_page(
        qtbot, orthanc: Orthanc, srahim: Path, tmp_path: Path, monkeypatch) -> None:
    """The whole desktop flow: pick a patient (sex F, an accession number) from the real
    worklist, screen real photographs, "Send to PACS" while the PACS is down (queued, shown as
    such), then when it is up (sent); the SR and the report in Orthanc carry the patient's sex
    and accession number. Without a PACS the action is disabled and says why."""
    import io

    import pydicom
    from PySide6.QtWidgets import QDialog

    from retina_screen.gui.clinic_view import pick_from_worklist
    from retina_screen.results import Eye

    monkeypatch.setenv("XDG_CONFIG_HOME", str(tmp_path / "config"))
    monkeypatch.setenv("XDG_DATA_HOME", str(tmp_path / "data"))
    monkeypatch.setenv("RETINA_SCREEN_CONFIG", str(tmp_path / "settings.toml"))
    orthanc.delete_all()
    fill_worklist(orthanc)
    out = tmp_path / "reports"
    settings = _settings(tmp_path, output_dir=out, worklist_host="127.0.0.1",
                         worklist_port=orthanc.dicom_port, worklist_ae_title=orthanc.aet,
                         pacs_host="127.0.0.1", pacs_port=closed_port(),
                         pacs_ae_title=orthanc.aet)
    window = _open_window(qtbot, tmp_path, settings)
    page, panel = window.patient_page, window.patient_pacs_panel
    messages = window.messages  # what the window's message bar showed: (level, text)
    try:
        assert not panel.button.isEnabled()  # nothing screened yet

        pick_from_worklist(window)
        dialog = window.worklist_dialog
        qtbot.waitUntil(lambda: dialog.task is None, timeout=WAIT_MS)
        qtbot.keyClicks(dialog.search, "ACC1001")
        assert dialog.selected().patient_id == "MRN0001"
        dialog.done(QDialog.DialogCode.Accepted)
        info = page.form.info()
        assert (info.patient_id, info.name, info.birth_date, info.sex, info.accession) == (
            "MRN0001", "Mensah Ama", "1961-04-02", "F", "ACC1001")

        page.add_photos([srahim / "images" / "Patient013_R.jpg"], Eye.RIGHT)
        page.add_photos([srahim / "images" / "Patient013_L.jpg"], Eye.LEFT)
        qtbot.waitUntil(lambda: page.session.result is not None and not page.session.pending,
                        timeout=60_000)
        assert page.session.result.patient.sex == "F"
        assert panel.button.isEnabled() and window.send_patient_action.isEnabled()

        # The PACS is down: the results stay queued on disk, and the page says so.
        panel.button.click()
        assert panel.state == "sending" and not panel.button.isEnabled()
        qtbot.waitUntil(lambda: panel.task is None, timeout=WAIT_MS)
        assert panel.state == "pending", messages
        assert "queued" in panel.label.text() and "cannot be reached" in panel.label.text()
        assert panel.label.isVisibleTo(page)
        assert messages[-1][0] == "warning"
        assert len(list((out / "outbox" / "pending").glob("*.dcm"))) == 2
        assert orthanc.instances() == []

        # The PACS is back: the same action sends the queued SR and report.
        window.settings = settings.replace(pacs_port=orthanc.dicom_port)
        window.send_patient_action.trigger()
        qtbot.waitUntil(lambda: panel.task is None, timeout=WAIT_MS)
        assert panel.state == "sent" and panel.label.text() == "PACS: sent.", messages
        assert messages[-1][0] == "info"
        stored = [pydicom.dcmread(io.BytesIO(orthanc.get(f"/instances/{i}/file")))
                  for i in orthanc.instances()]
        assert sorted(ds.Modality for ds in stored) == ["DOC", "SR"]
        for ds in stored:
            assert (ds.PatientID, str(ds.PatientName)) == ("MRN0001", "Mensah^Ama")
            assert (ds.PatientSex, ds.AccessionNumber) == ("F", "ACC1001")
            assert ds.PatientBirthDate == "19610402"
        pdf = next(ds for ds in stored if ds.Modality == "DOC")
        text = _pdf_text(bytes(pdf.EncapsulatedDocument)[:pdf.EncapsulatedDocumentLength])
        assert "Sex Female" in text and "Accession no. ACC1001" in text
        assert "MRN0001" in text

        # Sending the same result again puts nothing new in the PACS.
        panel.button.click()
        qtbot.waitUntil(lambda: panel.task is None, timeout=WAIT_MS)
        assert panel.state == "sent" and len(orthanc.instances()) == 2

        # Without a PACS the action is disabled and its tooltip says why.
        window.settings = settings.replace(pacs_host="")
        panel.refresh()
        assert not panel.button.isEnabled() and not window.send_patient_action.isEnabled()
        assert "No PACS is configured" in panel.button.toolTip()
    finally:
        window.close()


def test_saving_the_report_sends_the_patient_when_auto_send_is_set(
        qtbot, orthanc: Orthanc, srahim: Path, tmp_path: Path, monkeypatch) -> None:
    """With pacs_auto_send, saving a screened patient's report (their details are then final)
    sends the SR and the report to the real PACS; without it, saving sends nothing."""
    from retina_screen.results import Eye

    monkeypatch.setenv("XDG_CONFIG_HOME", str(tmp_path / "config"))
    monkeypatch.setenv("XDG_DATA_HOME", str(tmp_path / "data"))
    monkeypatch.setenv("RETINA_SCREEN_CONFIG", str(tmp_path / "settings.toml"))
    orthanc.delete_all()
    out = tmp_path / "reports"
    settings = _settings(tmp_path, output_dir=out, pacs_host="127.0.0.1",
                         pacs_port=orthanc.dicom_port, pacs_ae_title=orthanc.aet,
                         pacs_auto_send=False)
    window = _open_window(qtbot, tmp_path, settings)
    page, panel = window.patient_page, window.patient_pacs_panel
    try:
        page.form.patient_id.setText("AUTO1")
        page.add_photos([srahim / "images" / "Patient013_R.jpg"], Eye.RIGHT)
        page.add_photos([srahim / "images" / "Patient013_L.jpg"], Eye.LEFT)
        qtbot.waitUntil(lambda: page.session.result is not None and not page.session.pending,
                        timeout=60_000)
        with qtbot.waitSignal(page.reportSaved, timeout=WAIT_MS):
            page.save_pdf_to(tmp_path / "first.pdf")
        assert panel.task is None and panel.state == "" and orthanc.instances() == []

        window.settings = settings.replace(pacs_auto_send=True)
        with qtbot.waitSignal(page.reportSaved, timeout=WAIT_MS):
            page.save_pdf_to(tmp_path / "second.pdf")
        qtbot.waitUntil(lambda: panel.task is None and panel.state == "sent", timeout=WAIT_MS)
        assert len(orthanc.instances()) == 2
    finally:
        window.close()
