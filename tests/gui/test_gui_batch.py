"""The batch view on a small real camera folder: start, cancel midway, resume, and the table
against the engine's own results.csv and patients.csv."""

from __future__ import annotations

import csv
import os
import shutil
import time
from pathlib import Path

import pytest
from gui_helpers import WAIT_MS
from PySide6.QtCore import Qt

from retina_screen.results import Outcome

pytest.importorskip("retina_screen.batch")

PATIENTS = ("Patient006", "Patient013", "Patient036")
RUN_MS = max(WAIT_MS, 120_000)


def read_csv(path: Path) -> list[dict[str, str]]:
    with open(path, newline="", encoding="utf-8") as handle:
        return list(csv.DictReader(handle))


def check_table(page, out: Path) -> list[dict[str, str]]:
    """Every patient visit's row in the window equals its row in patients.csv, and vice
    versa."""
    from retina_screen.gui.batch_view import (
        COLUMN_INTERVAL,
        COLUMN_OUTCOME,
        COLUMN_PATIENT,
        COLUMN_VISIT,
    )
    from retina_screen.gui.text import OUTCOME_SHORT

    rows = read_csv(out / "patients.csv")
    table = {r.key: r for r in page.model.rows}
    assert len(table) == len(page.model.rows)
    assert set(table) == {(r["patient_id"], r["visit"]) for r in rows}
    for row in rows:
        shown = table[(row["patient_id"], row["visit"])]
        assert shown.patient_id == row["patient_id"] and shown.visit == row["visit"]
        assert shown.eyes == row["eyes"]
        assert shown.outcome is Outcome(row["outcome"])
        assert shown.headline == row["decision"]
        assert shown.interval == row["interval"]
        assert shown.report == ((out / row["report"]) if row["report"] else None)
        position = page.model.rows.index(shown)
        assert page.model.data(page.model.index(position, COLUMN_OUTCOME)) == \
            OUTCOME_SHORT[shown.outcome]
        assert page.model.data(page.model.index(position, COLUMN_INTERVAL)) == row["interval"]
        assert page.model.data(page.model.index(position, COLUMN_VISIT)) == row["visit"]
        # A long ID cut by the column's width is whole in its tooltip.
        assert page.model.data(page.model.index(position, COLUMN_PATIENT),
                               Qt.ItemDataRole.ToolTipRole) == row["patient_id"]
    return rows


def test_batch_cancel_resume_and_table(open_window, isolated_settings, srahim, tmp_path, qtbot):
    camera = tmp_path / "camera"
    camera.mkdir()
    for patient in PATIENTS:
        for eye in "RL":
            shutil.copy(srahim / "images" / f"{patient}_{eye}.jpg", camera)
    out = tmp_path / "results"
    window = open_window(settings=isolated_settings.replace(workers=2))
    page = window.batch_page
    window.show_page(page)
    page.input_dir.setText(str(camera))
    page.output_dir.setText(str(out))

    # Run 1: cancelled as soon as the first patient appears in the table.
    def cancel_once(*_args) -> None:
        page.model.rowsInserted.disconnect(cancel_once)
        page.cancel()

    page.model.rowsInserted.connect(cancel_once)
    progress = []
    page.progressed.connect(progress.append)
    with qtbot.waitSignal(page.runFinished, timeout=RUN_MS) as first:
        qtbot.mouseClick(page.start_button, Qt.MouseButton.LeftButton)
        assert page.running and not page.start_button.isEnabled()
    summary, error = first.args
    assert error is None, error
    assert summary.cancelled, "the run finished before the cancel reached it"
    assert 1 <= len(page.model.rows) < len(PATIENTS)
    assert "Press Start to resume" in page.progress_label.text()
    done_images = summary.ok + summary.ungradable + summary.errors
    assert f"Stopped after {done_images} of {2 * len(PATIENTS)} photographs" in \
        page.progress_label.text()
    assert progress and progress[-1].total == 2 * len(PATIENTS)
    done_first = {r.patient_id for r in page.model.rows}
    check_table(page, out)
    assert not page.running and page.start_button.isEnabled()

    # Run 2: resumes; patients finished before are reported again, not screened again.
    with qtbot.waitSignal(page.runFinished, timeout=RUN_MS) as second:
        page.start_button.click()
    summary, error = second.args
    assert error is None, error
    assert not summary.cancelled
    assert summary.resumed == 2 * len(done_first)
    assert summary.images == 2 * len(PATIENTS)
    assert page.count_label.text() == "Finished"
    patients = check_table(page, out)
    assert len(patients) == len(PATIENTS)

    results = read_csv(out / "results.csv")
    assert sorted(r["path"] for r in results) == sorted(p.name for p in camera.iterdir())
    for row in results:
        table_row = next(r for r in page.model.rows if r.patient_id == row["patient_id"])
        assert row["eye"][0].upper() in table_row.eyes

    # "Refer only" filter shows exactly the referred patients of patients.csv.
    page.refer_only.setChecked(True)
    referred = [r for r in patients if Outcome(r["outcome"]).is_referral]
    assert page.proxy.rowCount() == len(referred)
    page.refer_only.setChecked(False)
    assert page.proxy.rowCount() == len(PATIENTS)

    # Double-click shows the patient's report in the app's own preview, ready to print.
    page.table.doubleClicked.emit(page.proxy.index(0, 0))
    first_row = page.proxy.data(page.proxy.index(0, 0), Qt.ItemDataRole.UserRole)
    preview = window.report_preview
    assert preview is not None and preview.pdf == first_row.report and preview.isVisible()
    with qtbot.waitSignal(preview.pagesReady, timeout=WAIT_MS) as ready:
        pass
    assert ready.args[0] >= 1 and preview.print_button.isEnabled()
    preview.close()

    # The folders are remembered for the next session.
    again = open_window(wait_model=False)
    assert again.batch_page.input_dir.text() == str(camera)
    assert again.batch_page.output_dir.text() == str(out)


def _screen_folder(open_window, settings, camera: Path, out: Path, qtbot):  # noqa: ANN001, ANN202
    """Open the window with one worker, screen ``camera`` into ``out``; (window, page, summary)."""
    window = open_window(settings=settings.replace(workers=1))
    page = window.batch_page
    window.show_page(page)
    page.input_dir.setText(str(camera))
    page.output_dir.setText(str(out))
    with qtbot.waitSignal(page.runFinished, timeout=RUN_MS) as finished:
        assert page.start()
    summary, error = finished.args
    assert error is None, error
    return window, page, summary


def test_two_visits_of_one_patient_are_two_rows(open_window, isolated_settings, srahim,
                                                tmp_path, qtbot):
    """Last year's and this year's photographs of one patient (date folders) are two visits,
    decided apart by the engine: two rows, each with its visit, outcome and own report."""
    from retina_screen.gui.batch_view import COLUMN_PATIENT, COLUMN_VISIT

    camera, out = tmp_path / "camera", tmp_path / "results"
    camera.mkdir()
    for visit in ("2025-11-29", "2026-11-29"):
        _camera(srahim, camera / visit, ("Patient006",))
    os.remove(camera / "2026-11-29" / "Patient006_L.jpg")  # this year: left eye not yet taken
    window, page, summary = _screen_folder(open_window, isolated_settings, camera, out, qtbot)
    # This year's right eye is last year's file (copied here as a stand-in): said so.
    assert summary.in_two_visits == ("Patient006",)
    kind, text = page.findings_level, page.findings.text()
    assert kind == "warning" and text.startswith(
        "1 patients have a photograph that is in two of their visits"), window.messages
    assert summary.images == 3 and len(summary.patients) == 2

    rows = check_table(page, out)
    assert len(rows) == page.model.rowCount() == 2
    assert {r.key for r in page.model.rows} == {("Patient006", "2025-11-29"),
                                                ("Patient006", "2026-11-29")}
    shown = {page.model.data(page.model.index(i, COLUMN_VISIT)):
             page.model.data(page.model.index(i, COLUMN_PATIENT)) for i in range(2)}
    assert shown == {"2025-11-29": "Patient006", "2026-11-29": "Patient006"}
    by_visit = {r.visit: r for r in page.model.rows}
    # This year's visit has one eye only: never decided with last year's photographs.
    assert by_visit["2026-11-29"].outcome is Outcome.INSUFFICIENT
    assert by_visit["2026-11-29"].eyes == "R" and by_visit["2025-11-29"].eyes == "R+L"
    reports = {r.report for r in page.model.rows}
    assert len(reports) == 2 and all(p is not None and p.is_file() for p in reports)
    assert page.patients_label.text().startswith("1 patient (2 visits)")

    # Run again: the table shows each visit once, still two rows.
    with qtbot.waitSignal(page.runFinished, timeout=RUN_MS) as again:
        assert page.start()
    assert again.args[1] is None and again.args[0].resumed == 3
    assert page.model.rowCount() == 2
    check_table(page, out)


@pytest.mark.parametrize(("copies", "field", "ids", "words"), [
    ((("Patient013_R", "Patient013_R"), ("Patient013_L", "Patient013_L"),
      ("Patient006_R", "Smith7a right"), ("Patient006_L", "Smith7b left")),
     "split_by_naming", ("Smith7a", "Smith7b"),
     "2 patient visits look like one patient split in two"),
    ((("Patient006_R", "Patient006_R"), ("Patient006_L", "Patient006_L"),
      ("Patient013_R", "Patient013_R"), ("Patient006_L", "Patient013_L")),
     "shared_with_another_patient", ("Patient006", "Patient013"),
     "2 patients have a photograph that is also another patient's"),
], ids=["split by naming", "one photograph, two patients"])
def test_whose_photographs_are_whose_is_pointed_out(copies, field, ids, words, open_window,
                                                    isolated_settings, srahim, tmp_path, qtbot):
    """The command line warns when file names seem to split one patient in two (one eye
    each), and when one photograph stands under two patients' names; the window said nothing
    (the operator saw two "retake" rows, or two results). It now says so, naming them."""
    camera, out = tmp_path / "camera", tmp_path / "results"
    camera.mkdir()
    for source, target in copies:
        shutil.copy(srahim / "images" / f"{source}.jpg", camera / f"{target}.jpg")
    window, page, summary = _screen_folder(open_window, isolated_settings, camera, out, qtbot)
    assert getattr(summary, field) == ids
    kind, text = page.findings_level, page.findings.text()
    assert kind == "warning", window.messages
    assert text.startswith(words) and ", ".join(ids) in text, text


def test_files_the_run_could_not_screen_are_named(open_window, isolated_settings, srahim,
                                                  tmp_path, qtbot):
    """A photograph in a format the application does not read (HEIC from a phone adapter) was
    passed over in silence: the window now names it after the run."""
    camera, out = tmp_path / "camera", tmp_path / "results"
    camera.mkdir()
    for eye in "RL":
        shutil.copy(srahim / "images" / f"Patient006_{eye}.jpg", camera)
    (camera / "Patient013_R.heic").write_bytes(b"\0\0\0\x18ftypheic")
    window, page, summary = _screen_folder(open_window, isolated_settings, camera, out, qtbot)
    assert [path for path, _ in summary.passed_over] == ["Patient013_R.heic"]
    kind, text = page.findings_level, page.findings.text()
    assert kind == "warning", window.messages
    assert text.startswith("1 files or folders in the input folder were not screened: "
                           "Patient013_R.heic"), text


def test_every_finding_of_a_run_is_shown(open_window, isolated_settings, srahim, tmp_path,
                                        camera_dated, qtbot):
    """A run with two findings showed only the weightier one (a photograph under two patients'
    names), so the operator never learnt of the file it had not screened. Every finding is
    now in the message, the weightiest first."""
    camera, out = tmp_path / "camera", tmp_path / "results"
    camera.mkdir()
    for patient in ("Patient006", "Patient008"):
        for eye in "RL":
            shutil.copy(srahim / "images" / f"Patient006_{eye}.jpg",
                        camera / f"{patient}_{eye}.jpg")
    (camera / "Patient013_R.heic").write_bytes(b"\0\0\0\x18ftypheic")
    for side, taken in (("R", "2026:11:29 10:02:11"), ("L", "2025:11:27 09:40:05")):
        camera_dated(srahim / "images" / f"Patient016_{side}.jpg",
                     camera / f"Patient016_{side}.jpg", taken)
    # A "left eye" that is another right eye: the optic disc on the same side.
    shutil.copy(srahim / "images" / "Patient017_R.jpg", camera / "Patient017_R.jpg")
    shutil.copy(srahim / "images" / "Patient008_R.jpg", camera / "Patient017_L.jpg")
    window, page, summary = _screen_folder(open_window, isolated_settings, camera, out, qtbot)
    assert summary.shared_with_another_patient and summary.passed_over
    assert summary.taken_days_apart == ("Patient016",)
    assert summary.eyes_in_doubt == ("Patient017",)
    kind, text = page.findings_level, page.findings.text()
    assert kind == "warning", window.messages
    shared = text.index("have a photograph that is also another patient's")
    apart = text.index("than their dated folder's: Patient016")
    doubt = text.index("may not be the eyes they are filed as: Patient017")
    passed_over = text.index("were not screened: Patient013_R.heic")
    assert shared < apart < doubt < passed_over, text
    # Listed in the page under the progress bar; the floating strip only points there.
    assert page.findings.isVisible()
    assert window.messages[-1] == ("warning", "4 findings to check after this run: see them "
                                              "under the progress bar.")


def test_batch_refuses_a_missing_folder(open_window, tmp_path):
    window = open_window(wait_model=False)
    page = window.batch_page
    page.input_dir.setText(str(tmp_path / "no-such-folder"))
    assert not page.start()
    assert window.messages[-1][0] == "warning"
    assert not page.running


def _camera(srahim: Path, folder: Path, patients: tuple[str, ...], age_s: float = 0) -> None:
    folder.mkdir(exist_ok=True)
    for patient in patients:
        for eye in "RL":
            target = folder / f"{patient}_{eye}.jpg"
            shutil.copy(srahim / "images" / target.name, target)
            if age_s:
                old = time.time() - age_s
                os.utime(target, (old, old))


def test_watch_mode_screens_new_patients(open_window, isolated_settings, srahim, tmp_path,
                                         qtbot):
    camera, out = tmp_path / "camera", tmp_path / "results"
    _camera(srahim, camera, ("Patient006",), age_s=60)  # written a minute ago: settled
    window = open_window(settings=isolated_settings.replace(workers=1))
    page = window.batch_page
    page.input_dir.setText(str(camera))
    page.output_dir.setText(str(out))
    page.reports.setChecked(False)
    page.watch.setChecked(True)
    assert page.start()
    qtbot.waitUntil(lambda: len(page.model.rows) == 1, timeout=RUN_MS)
    _camera(srahim, camera, ("Patient008",), age_s=60)  # the camera writes a new patient
    qtbot.waitUntil(lambda: len(page.model.rows) == 2, timeout=RUN_MS)
    assert page.running
    # Esc (one key anywhere on the page) stopped a day's watch without a word: now it asks.
    asked: list[bool] = []
    page.confirm_stop_watching = lambda: asked.append(True) or False
    from PySide6.QtGui import QKeySequence, QShortcut

    (escape,) = [shortcut for shortcut in page.findChildren(QShortcut)
                 if shortcut.key() == QKeySequence(Qt.Key.Key_Escape)]
    escape.activated.emit()  # what the key does (offscreen windows are never active)
    qtbot.wait(300)
    assert asked == [True] and page.running and page.cancel_button.isEnabled()
    with qtbot.waitSignal(page.runFinished, timeout=RUN_MS) as stopped:
        page.cancel_button.click()
    summary, error = stopped.args
    assert error is None and summary.images == 4
    check_table(page, out)
    assert all(r.report is None for r in page.model.rows)  # reports were switched off
    assert "Watching stopped" in page.progress_label.text()
    assert "earlier run" not in page.progress_label.text()


def test_watch_mode_on_an_empty_folder_says_it_is_watching(open_window, isolated_settings,
                                                           srahim, tmp_path, qtbot):
    camera, out = tmp_path / "camera", tmp_path / "results"
    _camera(srahim, camera, ("Patient006",), age_s=60)
    window = open_window(settings=isolated_settings.replace(workers=1))
    page = window.batch_page
    page.input_dir.setText(str(camera))
    page.output_dir.setText(str(out))
    page.reports.setChecked(False)
    with qtbot.waitSignal(page.runFinished, timeout=RUN_MS):
        assert page.start()
    assert page.patients_label.text().startswith("1 patient")

    empty = tmp_path / "empty-camera"
    empty.mkdir()
    page.input_dir.setText(str(empty))
    page.output_dir.setText(str(tmp_path / "results-2"))
    page.watch.setChecked(True)
    assert page.start()
    assert page.patients_label.text() == "No patients yet"  # not the previous run's count
    assert page.count_label.text() == "Watching"
    assert "Watching the camera folder" in page.progress_label.text()
    qtbot.wait(300)
    with qtbot.waitSignal(page.runFinished, timeout=RUN_MS):
        page.cancel_button.click()
    assert page.count_label.text() == "Stopped"
    assert "Watching stopped" in page.progress_label.text()
    assert "earlier run" not in page.progress_label.text()


def test_closing_the_window_stops_a_batch_safely(open_window, isolated_settings, srahim,
                                                 tmp_path, qtbot):
    camera, out = tmp_path / "camera", tmp_path / "results"
    _camera(srahim, camera, PATIENTS + ("Patient008", "Patient016", "Patient017"))
    window = open_window(settings=isolated_settings.replace(workers=1))
    page = window.batch_page
    page.input_dir.setText(str(camera))
    page.output_dir.setText(str(out))
    with qtbot.waitSignal(page.progressed, timeout=RUN_MS):
        assert page.start()
    finished = []
    page.runFinished.connect(lambda summary, error: finished.append((summary, error)))
    window.close()  # cancels the run and waits for it
    assert not page.running
    qtbot.waitUntil(lambda: bool(finished), timeout=WAIT_MS)
    summary, error = finished[0]
    assert error is None and summary.cancelled
    assert (out / "patients.csv").is_file()


def test_the_most_frequent_reason_for_ungradable_photographs_is_given(
        open_window, isolated_settings, srahim, tmp_path, qtbot):
    """A camera export that lays both eyes out in one picture makes every such photograph
    ungradable; the window counted them and no more. It now names the most frequent reason
    after the run, so one export setting at the root of many refusals is seen at once."""
    import cv2
    import numpy as np

    camera, out = tmp_path / "camera", tmp_path / "results"
    camera.mkdir()
    for patient in ("Patient006", "Patient008"):
        right, left = (cv2.imread(str(srahim / "images" / f"{patient}_{eye}.jpg"))
                       for eye in "RL")
        cv2.imwrite(str(camera / f"{patient}_R.jpg"), np.concatenate([right, left], axis=1))
    for eye in "RL":
        shutil.copy(srahim / "images" / f"Patient016_{eye}.jpg", camera)
    window, page, summary = _screen_folder(open_window, isolated_settings, camera, out, qtbot)
    assert summary.ungradable == 2 and len(summary.ungradable_reasons) == 1
    text = page.findings.text()
    assert text.endswith("2 photographs could not be graded; the most frequent reason (2 of "
                         "them): the file holds more than one photograph (side by side or in a "
                         "grid, as a layout or report export puts them): load each photograph "
                         "from its own file."), text


def test_an_empty_camera_folder_is_not_a_problem(open_window, tmp_path, qtbot):
    """An empty export folder said "The run stopped because of a problem." with an error
    listing thirteen file extensions: it now says that no photographs were found."""
    camera, out = tmp_path / "camera", tmp_path / "results"
    camera.mkdir()
    (camera / "notes.txt").write_text("exported later", encoding="utf-8")
    window = open_window()
    page = window.batch_page
    page.input_dir.setText(str(camera))
    page.output_dir.setText(str(out))
    with qtbot.waitSignal(page.runFinished, timeout=RUN_MS) as finished:
        assert page.start()
    assert finished.args[1] is not None  # the engine refused the empty folder
    assert page.count_label.text() == "Nothing to screen"
    assert page.progress_label.text().startswith("No photographs were found in this folder.")
    assert "problem" not in page.progress_label.text()
    level, text = window.messages[-1]
    assert level == "info" and text.startswith("No photographs were found") and ".jpg" not in text

    # A picture in a format not read is named.
    (camera / "Patient013_R.heic").write_bytes(b"\0\0\0\x18ftypheic")
    with qtbot.waitSignal(page.runFinished, timeout=RUN_MS):
        assert page.start()
    level, text = window.messages[-1]
    assert level == "warning" and "Patient013_R.heic" in text, text


def test_patients_kept_apart_by_folder_are_named(open_window, isolated_settings, srahim,
                                                 tmp_path, qtbot):
    """Per-patient export folders with the same file names are screened as a patient each
    (``batch.separate_folders``), and the window says so, as the command line does."""
    camera, out = tmp_path / "camera", tmp_path / "results"
    for person, patient in (("Smith John", "Patient006"), ("Doe Jane", "Patient008")):
        (camera / person).mkdir(parents=True)
        for eye, word in (("R", "OD"), ("L", "OS")):
            shutil.copy(srahim / f"images/{patient}_{eye}.jpg",
                        camera / person / f"fundus_{word}.jpg")
    window, page, summary = _screen_folder(open_window, isolated_settings, camera, out, qtbot)
    assert summary.kept_apart_by_folder == ("Doe Jane/fundus", "Smith John/fundus")
    assert len(summary.patients) == 2
    text = page.findings.text()
    assert "screened as a patient of their own (2): Doe Jane/fundus, Smith John/fundus" in text


def test_a_new_default_output_folder_never_moves_a_running_batch(open_window, isolated_settings,
                                                                 srahim, tmp_path, qtbot):
    """Settings saved during a run with another default output folder changed the running
    batch's folder field, and "Open output folder" then opened a folder the run never wrote
    (found 2026-12-02). The field now keeps the run's folder; the new default is remembered."""
    camera = tmp_path / "camera"
    _camera(srahim, camera, ("Patient006",), age_s=60)
    window = open_window(settings=isolated_settings.replace(workers=1))
    page = window.batch_page
    page.input_dir.setText(str(camera))
    written = page.output_dir.text()
    assert written  # the default output folder
    page.reports.setChecked(False)
    page.watch.setChecked(True)
    assert page.start()
    qtbot.waitUntil(lambda: len(page.model.rows) == 1, timeout=RUN_MS)
    elsewhere = tmp_path / "elsewhere"
    page._settings = lambda: isolated_settings.replace(output_dir=elsewhere)
    page.settings_changed()
    assert page.output_dir.text() == written
    with qtbot.waitSignal(page.runFinished, timeout=RUN_MS):
        page.cancel_button.click()
    assert page.output_dir.text() == written and (Path(written) / "patients.csv").is_file()
    assert page._default_output == str(elsewhere / "batch")
