"""Issue 13, section 6: visits, patients and usage mistakes, as a new user meets them. Each
visit is decided on its own photographs; usage mistakes are errors without a clinical record;
camera file names are understood; DICOM names reach batch reports. Real photographs only."""

from __future__ import annotations

import csv
import os
import shutil
import sqlite3
import subprocess
import sys
from pathlib import Path

import pytest

from retina_screen.batch import run_batch
from retina_screen.errors import ConfigError
from retina_screen.loading import load_image

ROOT = Path(__file__).resolve().parents[1]
UNGRADABLE = ("drimdb_bad (12).jpg", "drimdb_bad (14).jpg")  # out of focus (real photographs)


def rows(path: Path) -> list[dict[str, str]]:
    with open(path, newline="", encoding="utf-8") as handle:
        return list(csv.DictReader(handle))


def cli(*args: str, home: Path) -> subprocess.CompletedProcess:
    env = {**os.environ, "XDG_DATA_HOME": str(home / "data"),
           "XDG_CONFIG_HOME": str(home / "config")}
    return subprocess.run([sys.executable, "-m", "retina_screen", *args], capture_output=True,
                          text=True, cwd=ROOT, env=env, timeout=300)


def audit_records(home: Path) -> int:
    db = home / "data" / "retina-screen" / "audit.sqlite"
    if not db.exists():
        return 0
    with sqlite3.connect(db) as connection:
        return connection.execute("SELECT COUNT(*) FROM records").fetchone()[0]


def test_an_older_visit_never_decides_todays(srahim: Path, data_dir: Path, isolated_settings,
                                            tmp_path: Path) -> None:
    camera = tmp_path / "camera"
    (camera / "2025-11-29").mkdir(parents=True)
    (camera / "2026-11-29").mkdir()
    for eye in "RL":  # last year: gradable, no referable DR
        shutil.copy(srahim / f"images/Patient006_{eye}.jpg", camera / "2025-11-29")
    for eye, bad in zip("RL", UNGRADABLE, strict=True):  # today: both photographs ungradable
        shutil.copy(data_dir / "drimdb/images/bad" / bad,
                    camera / f"2026-11-29/Patient006_{eye}.jpg")
    run_batch(camera, tmp_path / "out", isolated_settings, workers=1, reports=False)
    visits = {p["visit"]: p for p in rows(tmp_path / "out/patients.csv")}
    assert set(visits) == {"2025-11-29", "2026-11-29"}
    assert visits["2025-11-29"]["outcome"] == "no_referable"
    assert visits["2026-11-29"]["outcome"] == "insufficient"
    images = {(r["visit"], r["path"]) for r in rows(tmp_path / "out/results.csv")}
    assert ("2026-11-29", "2026-11-29/Patient006_R.jpg") in images and len(images) == 4
    trail = ("--audit-db", str(isolated_settings.audit_db))  # the batch's own trail
    latest = cli(*trail, "report", str(tmp_path / "out"), "Patient006", home=tmp_path)
    assert latest.returncode == 0, latest.stderr
    assert latest.stdout.startswith("Images insufficient") and "2 visits" in latest.stderr
    older = cli(*trail, "report", str(tmp_path / "out"), "Patient006", "--visit", "2025-11-29",
                home=tmp_path)
    assert older.returncode == 0 and older.stdout.startswith("No referable"), older.stderr
    assert len(list((tmp_path / "out/reports").glob("Patient006*.pdf"))) == 2


def test_dicom_study_dates_are_separate_visits(srahim: Path, isolated_settings,
                                               tmp_path: Path) -> None:
    import pydicom
    from test_batch_cli import make_dicom

    camera = tmp_path / "camera"
    camera.mkdir()
    for index, (eye, study) in enumerate([("R", "20251129"), ("L", "20251129"),
                                          ("R", "20261129"), ("L", "20261129")]):
        rgb = load_image(srahim / f"images/Patient006_{eye}.jpg", max_side=800).pixels
        path = camera / f"IMG{index:04d}.dcm"
        make_dicom(rgb, path, "MRN-6", eye)
        dataset = pydicom.dcmread(path)
        dataset.StudyDate = study
        dataset.save_as(path)
    os.remove(camera / "IMG0003.dcm")  # today: the left eye is not photographed yet
    run_batch(camera, tmp_path / "out", isolated_settings, workers=1, reports=False)
    visits = {p["visit"]: p["outcome"] for p in rows(tmp_path / "out/patients.csv")}
    assert visits == {"2025-11-29": "no_referable", "2026-11-29": "insufficient"}


def test_batch_reports_keep_the_dicom_name_and_birth_date(srahim: Path, isolated_settings,
                                                          tmp_path: Path) -> None:
    from pypdf import PdfReader
    from test_batch_cli import make_dicom

    camera = tmp_path / "camera"
    camera.mkdir()
    for eye in "RL":
        rgb = load_image(srahim / f"images/Patient006_{eye}.jpg", max_side=800).pixels
        make_dicom(rgb, camera / f"{eye}.dcm", "MRN-77", eye, name="Ødegård^Åse",
                   birth="19581224")
    summary = run_batch(camera, tmp_path / "out", isolated_settings, workers=1, reports=True)
    text = " ".join(page.extract_text() for page in PdfReader(summary.patients[0].report).pages)
    assert "Ødegård Åse" in text and "1958" in text and "MRN-77" in text


def test_camera_names_with_a_time_stamp_are_one_patient(srahim: Path, isolated_settings,
                                                        tmp_path: Path) -> None:
    camera = tmp_path / "camera"
    camera.mkdir()
    shutil.copy(srahim / "images/Patient006_R.jpg", camera / "Patient221_20261127_101500_OD.jpg")
    shutil.copy(srahim / "images/Patient006_L.jpg", camera / "Patient221_20261127_101530_OS.jpg")
    summary = run_batch(camera, tmp_path / "out", isolated_settings, workers=1, reports=False)
    patients = rows(tmp_path / "out/patients.csv")
    assert [(p["patient_id"], p["eyes"], p["outcome"]) for p in patients] == [
        ("Patient221", "R+L", "no_referable")]
    assert summary.one_eyed == ()


def test_pattern_matches_are_counted_and_split_patients_warned(srahim: Path,
                                                               tmp_path: Path) -> None:
    camera = tmp_path / "camera"
    camera.mkdir()
    shutil.copy(srahim / "images/Patient006_R.jpg", camera / "A12-OD-1.jpg")
    shutil.copy(srahim / "images/Patient006_L.jpg", camera / "A12-OS-1.jpg")
    shutil.copy(srahim / "images/Patient036_R.jpg", camera / "Patient036_R.jpg")  # default naming
    shutil.copy(srahim / "images/Patient036_L.jpg", camera / "Patient036_L.jpg")
    shutil.copy(srahim / "images/Patient108_R.jpg", camera / "Smith7a right.jpg")
    shutil.copy(srahim / "images/Patient108_L.jpg", camera / "Smith7b left.jpg")
    done = cli("batch", str(camera), "--out", str(tmp_path / "out"), "--workers", "1",
               "--no-reports", "--pattern", "{patient}-{eye}-{any}", home=tmp_path)
    assert done.returncode == 0, done.stderr
    assert "2 of 6 matched --pattern" in done.stdout
    assert "split in two by the file names" in done.stdout and "Smith7a" in done.stdout
    patients = {p["patient_id"]: p["eyes"] for p in rows(tmp_path / "out/patients.csv")}
    assert patients["A12"] == patients["Patient036"] == "R+L"  # the fallback kept working


def test_running_numbers_are_not_taken_for_a_patient_split_in_two() -> None:
    """Names without an eye that differ only by a running number (an archive's or a camera's
    sequence, e.g. Messidor-2's) are one-eyed visits, not one patient split in two; names that
    differ by a letter still are."""
    from retina_screen.batch import InputImage, group_by_patient, one_eyed_visits
    from retina_screen.results import Eye

    def image(pid: str, eye: Eye = Eye.UNKNOWN) -> InputImage:
        return InputImage(Path(f"{pid}.jpg"), f"{pid}.jpg", pid, eye, visit="2026-12-01")

    archive = [image("20051110_34013_0400_PP"), image("20051110_34071_0400_PP"),
               image("IMG_0012"), image("IMG_0013")]
    one_eyed, split = one_eyed_visits(group_by_patient(archive))
    assert len(one_eyed) == 4 and split == []
    lettered = [image("Smith7a", Eye.RIGHT), image("Smith7b", Eye.LEFT)]
    assert one_eyed_visits(group_by_patient(lettered))[1] == ["Smith7a", "Smith7b"]


def test_screen_usage_mistakes_are_errors_without_a_record(srahim: Path,
                                                           tmp_path: Path) -> None:
    (tmp_path / "README.md").write_text("# not a photograph\n")
    (tmp_path / "P1_R.heic").write_bytes(b"\0\0\0\x18ftypheic")  # an iPhone adapter's
    pdf = tmp_path / "r.pdf"
    right = str(srahim / "images/Patient006_R.jpg")
    for args, message in [
        ((str(tmp_path / "missing_R.jpg"),), "not found"),
        ((str(tmp_path / "README.md"),), "is not a photograph"),
        ((str(tmp_path / "P1_R.heic"),), "a picture format this application does not read "
                                         "(.heic): export the photographs as JPEG"),
        ((str(tmp_path),), "is a folder"),
        ((right, str(srahim / "images/Patient036_L.jpg")), "different patients"),
        (("--right", right, "--left", str(tmp_path / "gone.jpg")), "not found"),
    ]:
        done = cli("screen", "--report", str(pdf), *args, home=tmp_path)
        assert done.returncode == 2, (args, done.stdout, done.stderr)
        assert message in done.stderr and "Traceback" not in done.stderr
        assert not pdf.exists() and audit_records(tmp_path) == 0
    # The same photographs of one patient are screened (and recorded) as before.
    done = cli("screen", "--report", str(pdf), right, str(srahim / "images/Patient006_L.jpg"),
               home=tmp_path)
    assert done.returncode == 0, done.stderr
    assert pdf.exists() and audit_records(tmp_path) == 1


def test_screen_points_out_a_photograph_dated_long_before_today(srahim: Path, tmp_path: Path,
                                                                camera_dated) -> None:  # noqa: ANN001
    """`screen` is a patient screened now: a photograph its camera dated more than 30 days ago
    is named in a warning (last year's photograph picked by mistake), and with today's of the
    other eye the patient is not "no referable DR" (the visit's dates lie apart)."""
    import datetime as dt

    today = dt.date.today()
    old = today - dt.timedelta(days=400)
    right = camera_dated(srahim / "images" / "Patient006_R.jpg", tmp_path / "P9_R.jpg",
                         today.strftime("%Y:%m:%d 09:00:00"))
    left = camera_dated(srahim / "images" / "Patient006_L.jpg", tmp_path / "P9_L.jpg",
                        old.strftime("%Y:%m:%d 09:00:00"))
    result = cli("screen", str(right), str(left), "--json", home=tmp_path)
    assert result.returncode == 0, result.stderr
    warnings = [line for line in result.stderr.splitlines() if line.startswith("warning:")]
    assert len(warnings) == 1 and "P9_L.jpg" in warnings[0] and "400 days ago" in warnings[0]
    assert '"outcome": "insufficient"' in result.stdout


def test_a_folder_without_photographs_is_refused_and_nothing_created(isolated_settings,
                                                                     tmp_path: Path) -> None:
    empty, notes, out = tmp_path / "empty", tmp_path / "notes", tmp_path / "out"
    empty.mkdir()
    notes.mkdir()
    (notes / "README.txt").write_text("camera manual")
    for folder in (empty, notes):
        with pytest.raises(ConfigError, match="no photographs found"):
            run_batch(folder, out, isolated_settings, workers=1)
        assert not out.exists()
    done = cli("batch", str(empty), "--out", str(out), home=tmp_path)
    assert done.returncode == 1 and "no photographs found" in done.stderr
    file_input = notes / "README.txt"
    done = cli("batch", str(file_input), "--out", str(out), home=tmp_path)
    assert done.returncode == 1 and "is a file, not a folder" in done.stderr
    assert "Traceback" not in done.stderr and not out.exists()


def test_last_years_photographs_in_todays_folder_are_not_a_negative_screening(
        srahim: Path, isolated_settings, tmp_path: Path, camera_dated) -> None:  # noqa: ANN001
    """Last year's pair of a patient exported again into today's dated folder: both cameras'
    dates agree with each other, so nothing was said, and today's visit read "no referable DR,
    rescreen in 12 months" on year-old photographs (found 2026-12-02). The folder's date is the
    visit's; a photograph its camera dated on another day is now named, and the visit is never
    a negative screening. Photographs dated on the folder's day are screened as before."""
    from retina_screen.decision import FILED_UNDER_ANOTHER_DATE

    camera = tmp_path / "camera"
    for folder, taken in (("2026-12-02", "2025:11:20 10:00:00"),
                          ("2026-12-03", "2026:12:03 09:30:00")):
        (camera / folder).mkdir(parents=True)
        for eye in "RL":
            camera_dated(srahim / f"images/Patient006_{eye}.jpg",
                         camera / folder / f"P5_{eye}.jpg", taken)
    summary = run_batch(camera, tmp_path / "out", isolated_settings, workers=1, reports=False)
    visits = {p["visit"]: p for p in rows(tmp_path / "out/patients.csv")}
    assert visits["2026-12-02"]["outcome"] == "insufficient"
    assert FILED_UNDER_ANOTHER_DATE.format(taken="2025-11-20", filed="2026-12-02") in \
        visits["2026-12-02"]["notes"]
    assert visits["2026-12-03"]["outcome"] == "no_referable", visits["2026-12-03"]["notes"]
    assert summary.taken_days_apart == ("P5",)


def test_a_time_stamp_in_the_name_dates_the_visit(srahim: Path, isolated_settings,
                                                  tmp_path: Path) -> None:
    """A folder per patient named with a birth date (``Smith John 1960-01-01/``) made every
    year's photographs of that patient one visit "1960-01-01", and the time stamp in camera
    file names was only taken out of the patient ID: last year's gradable right eye then
    covered today's blurred one, "no referable DR" (found 2026-12-02; no camera dates in the
    files). A camera time stamp in the name now dates its photograph's visit."""
    from PIL import Image, ImageFilter

    folder = tmp_path / "camera" / "Smith John 1960-01-01"
    folder.mkdir(parents=True)
    shutil.copy(srahim / "images/Patient006_R.jpg", folder / "Smith_20251127_101500_OD.jpg")
    shutil.copy(srahim / "images/Patient006_L.jpg", folder / "Smith_20251127_101530_OS.jpg")
    with Image.open(srahim / "images/Patient006_R.jpg") as image:
        image.filter(ImageFilter.GaussianBlur(6)).save(folder / "Smith_20261202_091500_OD.jpg",
                                                       quality=92)
    # This year's left eye is another photograph (the same file in both visits is never "no
    # referable DR" for either: one of them has the other's photograph).
    shutil.copy(srahim / "images/Patient016_L.jpg", folder / "Smith_20261202_091530_OS.jpg")
    run_batch(tmp_path / "camera", tmp_path / "out", isolated_settings, workers=1,
              reports=False)
    visits = {p["visit"]: p["outcome"] for p in rows(tmp_path / "out/patients.csv")}
    assert visits == {"2025-11-27": "no_referable", "2026-12-02": "insufficient"}, visits
