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
from test_worklist import SCHEDULE, TODAY, worklist_file  # noqa: E402

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

    for old in orthanc.worklists.glob("*.wl"):
        old.unlink()
    for number, entry in enumerate(SCHEDULE):
        (orthanc.worklists / f"slot{number}.wl").write_bytes(worklist_file(entry))
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
