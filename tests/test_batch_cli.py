"""Batch screening of a real folder, resume, locking, DICOM input, the command line, audit."""

from __future__ import annotations

import csv
import json
import os
import shutil
import sqlite3
import subprocess
import sys
import threading
from pathlib import Path

import numpy as np
import pytest

from retina_screen.audit import AuditTrail, verify
from retina_screen.batch import output_lock, run_batch
from retina_screen.errors import OutputLockedError
from retina_screen.loading import load_image
from retina_screen.results import Eye, Outcome

ROOT = Path(__file__).resolve().parents[1]
PATIENTS = ("Patient006", "Patient036", "Patient145", "Patient108")


def make_dicom(rgb: np.ndarray, path: Path, patient_id: str, laterality: str,
               name: str = "Doe^Jane", birth: str = "19600131", sex: str = "",
               accession: str = "") -> None:
    """A DICOM Ophthalmic Photography file holding ``rgb`` (uncompressed); PatientSex and
    AccessionNumber only when given."""
    from pydicom.dataset import FileDataset, FileMetaDataset
    from pydicom.uid import ExplicitVRLittleEndian, generate_uid

    meta = FileMetaDataset()
    meta.MediaStorageSOPClassUID = "1.2.840.10008.5.1.4.1.1.77.1.5.1"
    meta.MediaStorageSOPInstanceUID = generate_uid()
    meta.TransferSyntaxUID = ExplicitVRLittleEndian
    ds = FileDataset(str(path), {}, file_meta=meta, preamble=b"\0" * 128)
    ds.SOPClassUID = meta.MediaStorageSOPClassUID
    ds.SOPInstanceUID = meta.MediaStorageSOPInstanceUID
    ds.PatientID = patient_id
    ds.PatientName = name
    ds.PatientBirthDate = birth
    ds.ImageLaterality = laterality
    if sex:
        ds.PatientSex = sex
    if accession:
        ds.AccessionNumber = accession
    ds.AcquisitionDateTime = "20261120093000"
    ds.Modality = "OP"
    ds.Rows, ds.Columns = rgb.shape[:2]
    ds.SamplesPerPixel = 3
    ds.PhotometricInterpretation = "RGB"
    ds.PlanarConfiguration = 0
    ds.BitsAllocated = ds.BitsStored = 8
    ds.HighBit = 7
    ds.PixelRepresentation = 0
    ds.PixelData = np.ascontiguousarray(rgb).tobytes()
    ds.save_as(str(path), enforce_file_format=True)


@pytest.fixture(scope="module")
def camera_folder(tmp_path_factory, data_dir: Path) -> Path:
    folder = tmp_path_factory.mktemp("camera")
    (folder / "day1" / "sub").mkdir(parents=True)
    for index, patient in enumerate(PATIENTS):
        target = folder / "day1" / ("sub" if index % 2 else "")
        for eye in "LR":
            shutil.copy(data_dir / f"srahim_dev/images/{patient}_{eye}.jpg", target)
    (folder / "day1" / "notes_R.jpg").write_text("not a photo")
    rgb = load_image(data_dir / "srahim_dev/images/Patient016_L.jpg", max_side=800).pixels
    make_dicom(rgb, folder / "day1" / "IMG0001.dcm", "DCM-77", "L")
    return folder


@pytest.fixture(scope="module")
def settings_for(tmp_path_factory):
    from retina_screen.settings import load_settings

    base = tmp_path_factory.mktemp("settings")
    return load_settings(use_environment=False, use_file=False, overrides={
        "audit_db": base / "audit.sqlite", "log_dir": base / "logs"})


def read_csv(path: Path) -> list[dict[str, str]]:
    with open(path, newline="", encoding="utf-8") as handle:
        return list(csv.DictReader(handle))


@pytest.fixture(scope="module")
def full_run(camera_folder: Path, settings_for, tmp_path_factory):
    out = tmp_path_factory.mktemp("full")
    summary = run_batch(camera_folder, out, settings_for, workers=2)
    return out, summary


def test_batch_writes_one_row_per_image_and_a_decision_per_patient(full_run) -> None:
    out, summary = full_run
    rows = read_csv(out / "results.csv")
    assert len(rows) == 10 and summary.images == 10
    assert {"path", "patient_id", "eye", "status", "reasons", "icdr_grade", "p_referable",
            "referable", "model_version"} <= set(rows[0])
    by_path = {r["path"]: r for r in rows}
    bad = by_path["day1/notes_R.jpg"]
    assert bad["status"] == "error" and bad["reasons"] and bad["icdr_grade"] == ""
    for row in rows:
        if row["status"] == "ok":
            assert row["icdr_grade"] in "01234" and 0 <= float(row["p_referable"]) <= 1
            assert row["referable"] in ("yes", "no")
        else:
            assert row["icdr_grade"] == row["p_referable"] == row["referable"] == ""
    dicom = by_path["day1/IMG0001.dcm"]
    assert dicom["patient_id"] == "DCM-77" and dicom["eye"] == "left"
    assert by_path["day1/sub/Patient036_R.jpg"]["eye"] == "right"
    patients = {p["patient_id"]: p for p in read_csv(out / "patients.csv")}
    assert set(patients) == {*PATIENTS, "notes", "DCM-77"}
    assert patients["Patient145"]["outcome"] in ("refer", "refer_urgent")
    assert patients["Patient006"]["outcome"] == "no_referable"
    assert patients["Patient006"]["interval"] == "rescreen in 12 months"
    assert patients["notes"]["outcome"] == "insufficient"
    assert patients["DCM-77"]["outcome"] == "insufficient"  # one eye only
    for patient in patients.values():
        assert (out / patient["report"]).stat().st_size > 10_000
    records = [json.loads(line) for line in (out / "results.jsonl").read_text().splitlines()]
    assert sum(r["kind"] == "image" for r in records) == 10
    assert sum(r["kind"] == "patient" for r in records) == 6
    ok = next(r for r in records if r["kind"] == "image" and r["status"] == "ok")
    assert len(ok["probabilities"]) == 5 and ok["quality"]["checks"]
    assert summary.error_files == (("day1/notes_R.jpg", bad["reasons"]),)


def test_batch_decisions_match_single_patient_screening(full_run, screener,
                                                        data_dir: Path) -> None:
    out, _ = full_run
    patients = {p["patient_id"]: p for p in read_csv(out / "patients.csv")}
    for patient in PATIENTS:
        result = screener.screen_patient(
            [(data_dir / f"srahim_dev/images/{patient}_{e}.jpg",
              Eye.LEFT if e == "L" else Eye.RIGHT) for e in "LR"])
        assert patients[patient]["outcome"] == result.outcome.value


def test_interrupted_batch_resumes_without_loss_or_repeats(full_run, camera_folder: Path,
                                                           settings_for, tmp_path: Path) -> None:
    reference = read_csv(full_run[0] / "results.csv")
    out = tmp_path / "out"
    cancel = threading.Event()
    seen: list[int] = []

    def stop_after_four(progress) -> None:  # noqa: ANN001
        seen.append(progress.done)
        if progress.done >= 4:
            cancel.set()

    first = run_batch(camera_folder, out, settings_for, workers=1, reports=False,
                      progress=stop_after_four, cancel=cancel)
    assert first.cancelled and 0 < first.images < 10
    with open(out / "results.jsonl", "ab") as journal:  # a torn write from a power cut
        journal.write(b'{"kind": "image", "path": "day1/Pat')
    second = run_batch(camera_folder, out, settings_for, workers=1, reports=False)
    assert not second.cancelled and second.resumed == first.images
    rows = read_csv(out / "results.csv")
    assert len(rows) == len({r["path"] for r in rows}) == 10
    key = ("path", "patient_id", "eye", "status", "icdr_grade", "referable", "p_referable")
    assert [{k: r[k] for k in key} for r in rows] == [{k: r[k] for k in key} for r in reference]
    for line in (out / "results.jsonl").read_text().splitlines():
        json.loads(line)


def test_second_run_on_the_same_output_folder_refuses(camera_folder: Path, settings_for,
                                                      tmp_path: Path) -> None:
    out = tmp_path / "locked"
    out.mkdir()
    with output_lock(out), pytest.raises(OutputLockedError, match="already writing"):
        run_batch(camera_folder, out, settings_for, workers=1)


def test_new_photo_of_a_screened_patient_updates_its_decision(camera_folder: Path, settings_for,
                                                              tmp_path: Path,
                                                              data_dir: Path) -> None:
    folder = tmp_path / "watch"
    folder.mkdir()
    shutil.copy(data_dir / "srahim_dev/images/Patient006_R.jpg", folder)
    out = tmp_path / "out"
    first = run_batch(folder, out, settings_for, workers=1, reports=False)
    assert first.patients[0].outcome is Outcome.INSUFFICIENT  # left eye not yet photographed
    shutil.copy(data_dir / "srahim_dev/images/Patient006_L.jpg", folder)
    second = run_batch(folder, out, settings_for, workers=1, reports=False)
    assert second.patients[0].outcome is Outcome.NO_REFERABLE
    assert len(read_csv(out / "results.csv")) == 2
    assert len(read_csv(out / "patients.csv")) == 1


def test_dicom_tags_are_read(data_dir: Path, tmp_path: Path) -> None:
    rgb = load_image(data_dir / "srahim_dev/images/Patient006_R.jpg", max_side=600).pixels
    path = tmp_path / "eye.dcm"
    make_dicom(rgb, path, "ID-1", "R", name="Ødegård^Åse", birth="19581224")
    loaded = load_image(path)
    assert loaded.format == "DICOM" and np.array_equal(loaded.pixels, rgb)
    assert loaded.dicom.patient_id == "ID-1"
    assert loaded.dicom.patient_name == "Ødegård Åse"
    assert loaded.dicom.birth_date == "1958-12-24"
    assert loaded.dicom.laterality == "right"
    assert loaded.dicom.acquisition_date == "2026-11-20"


def _cli(*args: str, env_home: Path) -> subprocess.CompletedProcess:
    env = {**os.environ, "XDG_DATA_HOME": str(env_home / "data"),
           "XDG_CONFIG_HOME": str(env_home / "config")}
    return subprocess.run([sys.executable, "-m", "retina_screen", *args], capture_output=True,
                          text=True, cwd=ROOT, env=env, timeout=300)


def test_cli_screen_json_and_report(data_dir: Path, tmp_path: Path) -> None:
    left = data_dir / "srahim_dev/full_resolution/Patient006_L.jpg"
    right = data_dir / "srahim_dev/images/Patient006_R.jpg"
    report = tmp_path / "p6.pdf"
    done = _cli("screen", "--json", "--report", str(report), str(left), str(right),
                env_home=tmp_path)
    assert done.returncode == 0, done.stderr
    summary = json.loads(done.stdout)
    assert summary["outcome"] == "no_referable" and summary["patient_id"] == "Patient006"
    assert {e["eye"] for e in summary["eyes"]} == {"left", "right"}
    assert report.read_bytes().startswith(b"%PDF")
    verified = _cli("audit", "verify", env_home=tmp_path)
    assert verified.returncode == 0 and "1 records verified" in verified.stdout


def test_cli_model_info_and_version(tmp_path: Path) -> None:
    info = _cli("model", "info", env_home=tmp_path)
    assert info.returncode == 0, info.stderr
    assert "(verified)" in info.stdout and "Threshold" in info.stdout
    version = _cli("--version", env_home=tmp_path)
    assert version.stdout.startswith("retina-screen ")


def test_cli_batch_reports_bad_files_and_exits_zero(camera_folder: Path, tmp_path: Path) -> None:
    done = _cli("batch", str(camera_folder), "--out", str(tmp_path / "o"), "--workers", "2",
                "--no-reports", env_home=tmp_path)
    assert done.returncode == 0, done.stderr
    assert "unreadable: day1/notes_R.jpg" in done.stdout
    missing = _cli("batch", str(tmp_path / "nope"), "--out", str(tmp_path / "o2"),
                   env_home=tmp_path)
    assert missing.returncode == 1 and "input folder not found" in missing.stderr


def test_a_photograph_under_two_patients_is_pointed_out(data_dir: Path,
                                                        tmp_path: Path) -> None:
    """One patient's photograph copied under another patient's name (a wrong-patient export)
    gave the second patient the first one's result, and nothing said so."""
    camera = tmp_path / "camera"
    camera.mkdir()
    images = data_dir / "srahim_dev" / "images"
    for name in ("Patient006_R.jpg", "Patient006_L.jpg", "Patient013_R.jpg",
                 "Patient016_R.jpg", "Patient016_L.jpg"):
        shutil.copy(images / name, camera / name)
    shutil.copy(images / "Patient006_L.jpg", camera / "Patient013_L.jpg")
    done = _cli("batch", str(camera), "--out", str(tmp_path / "o"), "--workers", "1",
                "--no-reports", env_home=tmp_path)
    assert done.returncode == 0, done.stderr
    assert ("Warning: 2 patients have a photograph that is also another patient's (the same "
            "file content): Patient006, Patient013.") in done.stdout
    assert "Patient016" not in done.stdout.split("Warning: 2 patients")[1].split("\n")[0]
    # Neither visit is "no referable DR" (both read it before 2026-12-02, with clean
    # reports): one of them has the other's photograph. Each names the other.
    rows = {r["patient_id"]: r for r in read_csv(tmp_path / "o" / "patients.csv")}
    assert len(rows) == 3 and rows["Patient016"]["outcome"] == "no_referable"
    for patient, other in (("Patient006", "Patient013"), ("Patient013", "Patient006")):
        assert rows[patient]["outcome"] != "no_referable", rows[patient]
        assert (f"filed for another patient or visit too (the same file content: {other})"
                in rows[patient]["notes"]), rows[patient]["notes"]
    # The copy taken away: Patient006's visit is decided again on what it holds.
    (camera / "Patient013_L.jpg").unlink()
    done = _cli("batch", str(camera), "--out", str(tmp_path / "o"), "--workers", "1",
                "--no-reports", env_home=tmp_path)
    assert done.returncode == 0, done.stderr
    rows = {r["patient_id"]: r for r in read_csv(tmp_path / "o" / "patients.csv")}
    assert rows["Patient006"]["outcome"] == "no_referable", rows["Patient006"]
    assert "another patient" not in done.stdout


def test_a_photograph_in_two_visits_of_a_patient_is_pointed_out(data_dir: Path,
                                                                 tmp_path: Path) -> None:
    """Last year's photograph exported again into this year's visit gave this year's result
    from it, and nothing said so."""
    camera = tmp_path / "camera"
    images = data_dir / "srahim_dev" / "images"
    for visit in ("2025-11-29", "2026-11-29"):
        (camera / visit).mkdir(parents=True)
        for name in ("Patient016_R.jpg", "Patient016_L.jpg"):
            shutil.copy(images / name, camera / visit / name)
    shutil.copy(images / "Patient006_R.jpg", camera / "2025-11-29" / "Patient006_R.jpg")
    shutil.copy(images / "Patient006_L.jpg", camera / "2025-11-29" / "Patient006_L.jpg")
    shutil.copy(images / "Patient006_R.jpg", camera / "2026-11-29" / "Patient006_R.jpg")
    shutil.copy(images / "Patient013_L.jpg", camera / "2026-11-29" / "Patient006_L.jpg")
    done = _cli("batch", str(camera), "--out", str(tmp_path / "o"), "--workers", "1",
                "--no-reports", env_home=tmp_path)
    assert done.returncode == 0, done.stderr
    warning = next(line for line in done.stdout.splitlines() if "two of their visits" in line)
    assert warning.startswith("Warning: 2 patients have a photograph that is in two of their "
                              "visits (the same file content): Patient006, Patient016.")
    assert "another patient's" not in done.stdout
    # No visit resting on a photograph that another visit holds too is "no referable DR".
    rows = {(r["patient_id"], r["visit"]): r for r in read_csv(tmp_path / "o" / "patients.csv")}
    assert len(rows) == 4
    for visit in ("2025-11-29", "2026-11-29"):
        other = "2026-11-29" if visit == "2025-11-29" else "2025-11-29"
        row = rows[("Patient016", visit)]
        assert row["outcome"] == "insufficient", row
        assert f"(the same file content: Patient016 {other})" in row["notes"], row["notes"]


def test_a_visit_of_photographs_taken_on_different_days_is_pointed_out(
        data_dir: Path, tmp_path: Path, camera_dated) -> None:  # noqa: ANN001
    """Last year's photograph of one eye exported into today's visit folder (today's file
    date): the visit reads "images insufficient" with the note, and the batch names it, as it
    names the other visits whose photographs need a look; a visit of one sitting is left
    alone. The journal and results.csv keep each photograph's camera date."""
    camera = tmp_path / "camera" / "2026-11-29"
    camera.mkdir(parents=True)
    images = data_dir / "srahim_dev" / "images"
    for patient, left_taken in (("Patient006", "2025:11:27 09:40:05"),
                                ("Patient016", "2026:11:29 10:05:00")):
        camera_dated(images / f"{patient}_R.jpg", camera / f"{patient}_R.jpg",
                     "2026:11:29 10:02:11")
        camera_dated(images / f"{patient}_L.jpg", camera / f"{patient}_L.jpg", left_taken)
    out = tmp_path / "o"
    done = _cli("batch", str(camera.parent), "--out", str(out), "--workers", "1",
                "--no-reports", env_home=tmp_path)
    assert done.returncode == 0, done.stderr
    warning = next(line for line in done.stdout.splitlines() if "different days" in line)
    assert warning.startswith("Warning: 1 patient visits have photographs their cameras dated "
                              "on different days, or on another day than their dated "
                              "folder's: Patient006.")
    with open(out / "patients.csv", newline="", encoding="utf-8") as handle:
        rows = {row["patient_id"]: row for row in csv.DictReader(handle)}
    assert rows["Patient006"]["outcome"] == "insufficient"
    assert "2025-11-27, 2026-11-29" in rows["Patient006"]["notes"]
    assert rows["Patient016"]["outcome"] == "no_referable"
    with open(out / "results.csv", newline="", encoding="utf-8") as handle:
        taken = {row["path"]: row["taken"] for row in csv.DictReader(handle)}
    assert taken["2026-11-29/Patient006_L.jpg"] == "2025-11-27"


def test_visits_whose_photographs_may_not_be_the_eyes_filed_are_pointed_out(
        data_dir: Path, tmp_path: Path) -> None:
    """A day's folder where one patient's "left eye" is another right eye (the disc on the same
    side) and another's comes from another camera (IDRiD): both visits read "images
    insufficient" with their notes, and the batch names them for a look; a real pair is left
    alone."""
    from retina_screen.decision import DISC_ON_ONE_SIDE

    camera = tmp_path / "camera"
    camera.mkdir()
    images = data_dir / "srahim_dev" / "images"
    for target, source in (("Patient006_R", images / "Patient006_R.jpg"),
                           ("Patient006_L", images / "Patient008_R.jpg"),
                           ("Patient016_R", images / "Patient016_R.jpg"),
                           ("Patient016_L", data_dir / "idrid/images/IDRiD_test_030.jpg"),
                           ("Patient017_R", images / "Patient017_R.jpg"),
                           ("Patient017_L", images / "Patient017_L.jpg")):
        shutil.copy(source, camera / f"{target}.jpg")
    out = tmp_path / "o"
    done = _cli("batch", str(camera), "--out", str(out), "--workers", "2", "--no-reports",
                env_home=tmp_path)
    assert done.returncode == 0, done.stderr
    warning = next(line for line in done.stdout.splitlines() if "filed as" in line)
    assert warning.startswith("Warning: 2 patient visits have photographs that may not be the "
                              "eyes they are filed as: Patient006, Patient016."), warning
    with open(out / "patients.csv", newline="", encoding="utf-8") as handle:
        rows = {row["patient_id"]: row for row in csv.DictReader(handle)}
    assert rows["Patient006"]["outcome"] == rows["Patient016"]["outcome"] == "insufficient"
    assert DISC_ON_ONE_SIDE in rows["Patient006"]["notes"]
    assert "different proportions (1024 × 680, 1600 × 1071)" in rows["Patient016"]["notes"]
    assert rows["Patient017"]["outcome"] == "no_referable", rows["Patient017"]["notes"]


def test_the_most_frequent_reasons_for_ungradable_photographs_are_given(
        data_dir: Path, settings_for, tmp_path: Path) -> None:  # noqa: ANN001
    """A camera's export set to lay both eyes out in one picture makes every visit "images
    insufficient", and the summary only counted ungradable photographs: the operator had to
    open results.csv to learn that one export setting was the cause. The summary now gives
    the most frequent reasons, with how many photographs gave each."""
    import cv2

    from retina_screen.quality import load_thresholds

    camera = tmp_path / "camera"
    camera.mkdir()
    images = data_dir / "srahim_dev" / "images"
    for patient in ("Patient006", "Patient008", "Patient013"):
        right, left = (cv2.imread(str(images / f"{patient}_{eye}.jpg")) for eye in "RL")
        cv2.imwrite(str(camera / f"{patient}_R.jpg"), np.concatenate([right, left], axis=1))
    shutil.copy(images / "Patient016_R.jpg", camera)
    shutil.copy(images / "Patient016_L.jpg", camera)
    out = tmp_path / "o"
    trail = ("--audit-db", str(settings_for.audit_db), "--audit-key", str(settings_for.audit_key))
    done = _cli(*trail, "batch", str(camera), "--out", str(out), "--workers", "2",
                "--no-reports", env_home=tmp_path)  # the run below checks against its trail
    assert done.returncode == 0, done.stderr
    layout = next(r.reason for r in load_thresholds().frame_rules
                  if r.check == "one_photograph")
    lines = done.stdout.splitlines()
    heading = lines.index("Ungradable photographs, by reason (the most frequent first):")
    assert lines[heading + 1] == f"       3  {layout}", lines[heading:heading + 3]
    resumed = run_batch(camera, out, settings_for, workers=1, reports=False)
    assert resumed.resumed == 5 and resumed.ungradable_reasons == ((layout, 3),)


def test_a_visit_of_many_patients_under_one_id_is_pointed_out(data_dir: Path,
                                                               tmp_path: Path) -> None:
    """A camera export named "Fundus_R_001.jpg" ... put a day's patients under one ID: one
    visit, one result, and nothing said so."""
    from retina_screen.decision import MAX_PHOTOGRAPHS_PER_EYE

    camera = tmp_path / "camera"
    camera.mkdir()
    photos = sorted((data_dir / "srahim_dev" / "images").glob("*_R.jpg"))
    for index, photo in enumerate(photos[:MAX_PHOTOGRAPHS_PER_EYE + 1]):
        shutil.copy(photo, camera / f"Fundus_R_{index:03d}.jpg")
        shutil.copy(photo.with_name(photo.name.replace("_R", "_L")),
                    camera / f"Fundus_L_{index:03d}.jpg")
    done = _cli("batch", str(camera), "--out", str(tmp_path / "o"), "--workers", "2",
                "--no-reports", env_home=tmp_path)
    assert done.returncode == 0, done.stderr
    assert (f"Warning: 1 patient visits have more than {MAX_PHOTOGRAPHS_PER_EYE} photographs of "
            "one eye: Fundus.") in done.stdout
    row = read_csv(tmp_path / "o" / "patients.csv")[0]
    assert row["outcome"] != "no_referable"
    assert f"{MAX_PHOTOGRAPHS_PER_EYE + 1} photographs in one visit" in row["notes"]


def test_a_mirrored_copy_for_the_other_eye_is_found_in_a_batch(data_dir: Path, settings_for,
                                                                tmp_path: Path) -> None:
    """Found in the worker (where the photographs' signatures are), kept in the journal, so
    the main process and a later run rebuild the same decision from the records."""
    import cv2

    camera = tmp_path / "camera"
    camera.mkdir()
    images = data_dir / "srahim_dev" / "images"
    shutil.copy(images / "Patient006_R.jpg", camera / "P1_R.jpg")
    cv2.imwrite(str(camera / "P1_L.jpg"), cv2.imread(str(images / "Patient006_R.jpg"))[:, ::-1],
                [cv2.IMWRITE_JPEG_QUALITY, 85])
    for eye in "RL":
        shutil.copy(images / f"Patient036_{eye}.jpg", camera / f"P2_{eye}.jpg")
    out = tmp_path / "out"
    for run in range(2):
        summary = run_batch(camera, out, settings_for, workers=2, reports=run == 0)
        outcomes = {p.patient_id: p for p in summary.patients}
        assert outcomes["P1"].outcome is Outcome.INSUFFICIENT, run
        assert outcomes["P2"].outcome is not Outcome.INSUFFICIENT, run
        rows = {r["patient_id"]: r for r in read_csv(out / "patients.csv")}
        assert "one photograph (a copy or a mirror image" in rows["P1"]["notes"]
        assert "copy" not in rows["P2"]["notes"]
        records = [json.loads(line) for line in (out / "results.jsonl").read_text().splitlines()]
        copies = {r["path"]: r["copy_of"] for r in records if r.get("kind") == "image"}
        assert copies["P1_L.jpg"] and copies["P1_R.jpg"] and not copies["P2_L.jpg"]
        shutil.copy(images / "Patient108_R.jpg", camera / "P3_R.jpg")  # the second run resumes
    # The clinic systems get the reason too: the FHIR report's conclusion carries the note.
    from retina_screen.clinic.fhir_export import write_bundles

    assert write_bundles(out, settings_for) == 3
    bundle = json.loads((out / "fhir" / "P1.json").read_text(encoding="utf-8"))
    report = next(e["resource"] for e in bundle["entry"]
                  if e["resource"]["resourceType"] == "DiagnosticReport")
    assert "one photograph (a copy or a mirror image of the other)" in report["conclusion"]
    # The outcome coded, and an eye not screened said (an insufficient visit was coded only by
    # negative findings, which a machine reader took for a negative screening).
    assert report["conclusionCode"][0]["coding"][0]["code"] == "outcome-insufficient"
    from fhir.resources.R4B.bundle import Bundle

    (path,) = (out / "fhir").glob("P3*.json")  # its visit, one eye only
    one_eyed = json.loads(path.read_text(encoding="utf-8"))
    Bundle.model_validate(one_eyed)
    absent = [e["resource"] for e in one_eyed["entry"]
              if "dataAbsentReason" in e["resource"]]
    assert [(a["bodySite"]["text"], a["dataAbsentReason"]["coding"][0]["code"])
            for a in absent] == [("Left eye", "not-performed")]
    coded = next(e["resource"] for e in one_eyed["entry"]
                 if e["resource"]["resourceType"] == "DiagnosticReport")["conclusionCode"]
    assert coded[0]["coding"][0]["code"] == "outcome-insufficient"


def _too_long_to_open(folder: Path) -> Path:
    """Folders nested so deep that their path exceeds the system's limit (4,096 bytes): a
    folder the scan cannot read even as root (as an unreadable network share would be)."""
    fd = os.open(folder, os.O_RDONLY)
    try:
        for _ in range(24):
            os.mkdir("d" * 200, dir_fd=fd)
            inner = os.open("d" * 200, os.O_RDONLY, dir_fd=fd)
            os.close(fd)
            fd = inner
    finally:
        os.close(fd)
    return folder


def test_what_the_scan_passes_over_is_named(data_dir: Path, tmp_path: Path) -> None:
    """Photographs in a format the application does not read (HEIC from a phone adapter,
    JPEG 2000), a linked folder and a folder that cannot be read were passed over in silence:
    the operator took the day's screening for complete."""
    camera = tmp_path / "camera"
    (camera / "deep").mkdir(parents=True)
    images = data_dir / "srahim_dev" / "images"
    for eye in "RL":
        shutil.copy(images / f"Patient006_{eye}.jpg", camera / f"Patient006_{eye}.jpg")
    (camera / "Patient013_R.heic").write_bytes(b"\0\0\0\x18ftypheic")
    (camera / "Patient013_L.jp2").write_bytes(b"\0\0\0\x0cjP  \r\n\x87\n")
    (camera / "notes.txt").write_text("not a picture")
    shutil.copy(images / "Patient016_R.jpg", camera / "Patient016_R.jfif")  # a JPEG: read
    other = tmp_path / "elsewhere"
    other.mkdir()
    shutil.copy(images / "Patient016_R.jpg", other / "Patient016_R.jpg")
    (camera / "linked").symlink_to(other, target_is_directory=True)
    _too_long_to_open(camera / "deep")
    done = _cli("batch", str(camera), "--out", str(tmp_path / "o"), "--workers", "1",
                "--no-reports", env_home=tmp_path)
    assert done.returncode == 0, done.stderr
    warning = next(line for line in done.stdout.splitlines() if "were not screened" in line)
    assert warning.startswith("Warning: 4 files or folders in the input folder")
    assert "Patient013_R.heic: a picture format this application does not read (.heic)" in warning
    assert "Patient013_L.jp2: a picture format" in warning
    assert "linked: a linked folder (symbolic link), not followed" in warning
    assert "deep/dddd" in warning and "could not be read (File name too long)" in warning
    assert "notes.txt" not in warning and "jfif" not in warning
    assert "Screened 3 images" in done.stdout
    # Nothing else in the folder: the run refuses, and says what it passed over.
    for eye in "RL":
        (camera / f"Patient006_{eye}.jpg").unlink()
    (camera / "Patient016_R.jfif").unlink()
    empty = _cli("batch", str(camera), "--out", str(tmp_path / "o2"), "--workers", "1",
                 "--no-reports", env_home=tmp_path)
    assert empty.returncode == 1
    assert "no photographs found" in empty.stderr and "Patient013_R.heic" in empty.stderr


def test_hidden_photographs_and_names_with_a_trailing_space_are_named(data_dir: Path,
                                                                       tmp_path: Path) -> None:
    """A hidden photograph (``.P70_R.jpg``), a whole patient's hidden folder (``.P72/``) and a
    name with a space after its extension (``P71_R.jpg ``) were passed over without a word
    (found 2026-12-02); a Mac's resource forks (``._P71_L.jpg``) and folder settings are not
    photographs and stay unnamed. An output folder that is the input folder is refused (its
    own queued results were screened as photographs on the next run)."""
    camera = tmp_path / "camera"
    (camera / ".P72").mkdir(parents=True)
    images = data_dir / "srahim_dev" / "images"
    shutil.copy(images / "Patient006_R.jpg", camera / ".P70_R.jpg")
    shutil.copy(images / "Patient006_L.jpg", camera / "P70_L.jpg")
    shutil.copy(images / "Patient008_R.jpg", camera / "P71_R.jpg ")
    shutil.copy(images / "Patient008_L.jpg", camera / "P71_L.jpg")
    (camera / "._P71_L.jpg").write_bytes(b"\0\5\26\7 AppleDouble")
    (camera / ".DS_Store").write_bytes(b"\0\0\0\1Bud1")
    for eye in "RL":
        shutil.copy(images / f"Patient013_{eye}.jpg", camera / ".P72" / f"P72_{eye}.jpg")
    done = _cli("batch", str(camera), "--out", str(tmp_path / "o"), "--workers", "1",
                "--no-reports", env_home=tmp_path)
    assert done.returncode == 0, done.stderr
    warning = next(line for line in done.stdout.splitlines() if "were not screened" in line)
    assert warning.startswith("Warning: 3 files or folders in the input folder"), warning
    assert ".P70_R.jpg: a hidden photograph" in warning
    assert ".P72: a hidden folder" in warning
    assert "P71_R.jpg : a photograph whose name ends in a space" in warning
    assert "._P71_L.jpg" not in warning and "DS_Store" not in warning
    assert "Screened 2 images" in done.stdout
    same = _cli("batch", str(camera), "--out", str(camera), "--workers", "1",
                env_home=tmp_path)
    assert same.returncode == 1 and "the output folder is the input folder" in same.stderr
    assert not (camera / "run.json").exists()


def test_audit_trail_detects_edits_and_deletions(full_run, settings_for) -> None:
    db = settings_for.audit_db
    assert verify(db).ok and verify(db).records >= 6
    copy = db.with_name("copy.sqlite")
    shutil.copy(db, copy)
    shutil.copy(db.with_name(db.name + ".head"), copy.with_name(copy.name + ".head"))
    with sqlite3.connect(copy) as connection:
        connection.execute("UPDATE records SET payload = replace(payload, 'refer', 'no') "
                           "WHERE id = 2")
    assert not verify(copy).ok
    trail = AuditTrail(tmp := copy.with_name("fresh.sqlite"))
    for index in range(3):
        trail.append("test", "op", f"ref{index}", {"n": index})
    trail.close()
    assert verify(tmp).ok
    with sqlite3.connect(tmp) as connection:
        connection.execute("DELETE FROM records WHERE id = 3")
    report = verify(tmp)
    assert not report.ok and any("deleted from the end" in p for p in report.problems)


def _pdf_text(path: Path) -> str:
    from pypdf import PdfReader

    return " ".join(page.extract_text() for page in PdfReader(path).pages)


def test_dicom_sex_and_accession_reach_the_reports_and_the_journal(data_dir: Path,
                                                                   tmp_path: Path) -> None:
    """PatientSex and AccessionNumber of real DICOM photographs: on the batch's PDF, in its
    journal record, on the report that ``report`` rebuilds from the journal, and on the
    ``screen`` command's PDF; a journal record written before they were recorded still
    rebuilds (``not recorded``)."""
    camera = tmp_path / "camera"
    camera.mkdir()
    for eye in "RL":
        rgb = load_image(data_dir / f"srahim_dev/images/Patient006_{eye}.jpg",
                         max_side=800).pixels
        make_dicom(rgb, camera / f"IMG_{eye}.dcm", "MRN-4242", eye, name="Ødegård^Åse",
                   sex="F", accession="ACC-2026-0042")
    out = tmp_path / "out"
    done = _cli("batch", str(camera), "--out", str(out), "--workers", "1", "--quiet",
                env_home=tmp_path)
    assert done.returncode == 0, done.stderr
    (patient,) = read_csv(out / "patients.csv")
    assert patient["patient_id"] == "MRN-4242" and patient["eyes"] == "R+L"
    assert patient["outcome"] in {o.value for o in Outcome}
    batch_pdf = _pdf_text(out / patient["report"])
    assert "Ødegård Åse" in batch_pdf and "MRN-4242" in batch_pdf
    assert "Female" in batch_pdf and "ACC-2026-0042" in batch_pdf

    journal = out / "results.jsonl"
    records = [json.loads(line) for line in journal.read_text(encoding="utf-8").splitlines()]
    (record,) = [r for r in records if r["kind"] == "patient"]
    assert record["patient_sex"] == "F" and record["accession"] == "ACC-2026-0042"
    assert record["patient_name"] == "Ødegård Åse" and record["outcome"] == patient["outcome"]

    rebuilt = tmp_path / "rebuilt.pdf"
    done = _cli("report", str(out), "MRN-4242", "--pdf", str(rebuilt), env_home=tmp_path)
    assert done.returncode == 0, done.stderr
    text = _pdf_text(rebuilt)
    assert "Female" in text and "ACC-2026-0042" in text and "Ødegård Åse" in text
    assert "Rebuilt from the results recorded" in text

    # A journal written before sex and accession were recorded: the report still rebuilds.
    for old in records:
        old.pop("patient_sex", None)
        old.pop("accession", None)
    journal.write_text("".join(json.dumps(r, ensure_ascii=False) + "\n" for r in records),
                       encoding="utf-8")
    older = tmp_path / "older.pdf"
    done = _cli("report", str(out), "MRN-4242", "--pdf", str(older), env_home=tmp_path)
    assert done.returncode == 0, done.stderr
    text = _pdf_text(older)
    assert "Ødegård Åse" in text and "Female" not in text and "ACC-2026-0042" not in text
    assert "not recorded" in text

    single = tmp_path / "single.pdf"
    done = _cli("screen", "--json", "--report", str(single), *sorted(map(str, camera.iterdir())),
                env_home=tmp_path)
    assert done.returncode == 0, done.stderr
    assert json.loads(done.stdout)["outcome"] == patient["outcome"]
    text = _pdf_text(single)
    assert "Female" in text and "ACC-2026-0042" in text and "MRN-4242" in text
    override = _cli("screen", "--sex", "X", str(camera / "IMG_R.dcm"), env_home=tmp_path)
    assert override.returncode == 2 and "F (female), M (male) or O (other)" in override.stderr


def test_a_report_never_replaces_a_photograph_or_the_results(srahim: Path,
                                                              tmp_path: Path) -> None:
    """A slip of the keyboard gave ``screen --report`` one of its own photographs, or ``report
    --pdf`` the batch's results file: both were overwritten with the PDF (found 2026-12-02;
    the camera's export may be the only copy). Now a report is written only to a name ending
    in .pdf that is not another kind of file, and ``screen`` says so before screening."""
    camera = tmp_path / "camera"
    camera.mkdir()
    for eye in "RL":
        shutil.copy(srahim / f"images/Patient013_{eye}.jpg", camera)
    left, right = camera / "Patient013_L.jpg", camera / "Patient013_R.jpg"
    before = left.read_bytes()
    done = _cli("screen", str(left), str(right), "--report", str(left), env_home=tmp_path)
    assert done.returncode == 1 and "must end in .pdf" in done.stderr, done.stderr
    disguised = camera / "photo.pdf"  # a photograph under a PDF's name
    shutil.copy(right, disguised)
    done = _cli("screen", str(left), str(right), "--report", str(disguised), env_home=tmp_path)
    assert done.returncode == 1 and "exists and is not a PDF report" in done.stderr
    assert left.read_bytes() == before and disguised.read_bytes() == right.read_bytes()

    out = tmp_path / "out"
    disguised.unlink()
    assert _cli("batch", str(camera), "--out", str(out), "--workers", "1", "--quiet",
                env_home=tmp_path).returncode == 0
    journal = (out / "results.jsonl").read_bytes()
    done = _cli("report", str(out), "Patient013", "--pdf", str(out / "results.jsonl"),
                env_home=tmp_path)
    assert done.returncode == 1 and "must end in .pdf" in done.stderr
    assert (out / "results.jsonl").read_bytes() == journal
    # Replacing a PDF report (issuing it again) stays allowed.
    again = _cli("report", str(out), "Patient013", "--pdf", str(out / "reports/Patient013.pdf"),
                 env_home=tmp_path)
    assert again.returncode == 0, again.stderr


def test_generic_file_names_never_merge_patients(srahim: Path, isolated_settings,
                                                 tmp_path: Path) -> None:
    """Two common export layouts gave every patient the same ID, and one person's ungradable
    (blurred) right eye was covered by other people's photographs: "no referable DR" for a
    visit of six photographs of three people (found 2026-12-02). Per-patient folders with the
    same file names are now kept apart by folder; a camera's ``IMG_<date>_<time>_OD`` keeps
    its time stamp as the identity. Smith's visit reads "images insufficient" either way."""
    from PIL import Image, ImageFilter

    def blurred(source: Path, target: Path) -> None:
        with Image.open(source) as image:
            image.filter(ImageFilter.GaussianBlur(6)).save(target, quality=92)

    people = {"Smith John": "Patient016", "Doe Jane": "Patient008", "Roe Rick": "Patient017"}
    folders = tmp_path / "per_patient"
    for person, patient in people.items():
        (folders / person).mkdir(parents=True)
        shutil.copy(srahim / f"images/{patient}_L.jpg", folders / person / "fundus_OS.jpg")
        shutil.copy(srahim / f"images/{patient}_R.jpg", folders / person / "fundus_OD.jpg")
    blurred(srahim / "images/Patient016_R.jpg", folders / "Smith John/fundus_OD.jpg")
    summary = run_batch(folders, tmp_path / "out1", isolated_settings, workers=1,
                        reports=False)
    outcomes = {p.patient_id: p.outcome for p in summary.patients}
    assert set(outcomes) == {f"{person}/fundus" for person in people}, outcomes
    assert outcomes["Smith John/fundus"] is Outcome.INSUFFICIENT
    assert summary.kept_apart_by_folder == tuple(sorted(outcomes))

    flat = tmp_path / "flat"
    flat.mkdir()
    for index, patient in enumerate(people.values()):
        for eye, word, second in (("R", "OD", "00"), ("L", "OS", "30")):
            target = flat / f"IMG_20261202_09{index}5{second}_{word}.jpg"
            shutil.copy(srahim / f"images/{patient}_{eye}.jpg", target)
    blurred(srahim / "images/Patient016_R.jpg", flat / "IMG_20261202_090500_OD.jpg")
    summary = run_batch(flat, tmp_path / "out2", isolated_settings, workers=1, reports=False)
    assert len(summary.patients) == 6  # each photograph its own: no eye covered by another's
    assert all(p.outcome is not Outcome.NO_REFERABLE or p.eyes != "R+L"
               for p in summary.patients)
    smith = [p for p in summary.patients if p.patient_id == "IMG_20261202_090500"]
    assert smith and smith[0].outcome is Outcome.INSUFFICIENT


def test_file_mode_is_read_as_chmod_reads_it(srahim: Path, tmp_path: Path) -> None:
    """``--file-mode 600`` (as chmod and the README write it) was read as the decimal number
    600: results and reports got mode 1130 (the owner could not read them, others could write;
    found 2026-12-02). Now it is octal, as chmod's; a mode that takes the owner's reading or
    writing away, or is not octal, is refused before anything is written."""
    camera = tmp_path / "camera"
    camera.mkdir()
    for eye in "RL":
        shutil.copy(srahim / f"images/Patient006_{eye}.jpg", camera)
    for given, expected in (("600", 0o600), ("0640", 0o640), ("0o644", 0o644)):
        out = tmp_path / f"out{given}"
        done = _cli("--file-mode", given, "batch", str(camera), "--out", str(out), "--quiet",
                    "--workers", "1", env_home=tmp_path)
        assert done.returncode == 0, done.stderr
        for written in (out / "patients.csv", out / "reports" / "Patient006.pdf"):
            assert written.stat().st_mode & 0o7777 == expected, (given, written)
    for wrong in ("999", "400", "rw"):
        out = tmp_path / f"wrong{wrong}"
        done = _cli("--file-mode", wrong, "batch", str(camera), "--out", str(out), "--quiet",
                    env_home=tmp_path)
        assert done.returncode != 0 and "file_mode" in done.stderr, (wrong, done.stderr)
        assert not out.exists()


def test_one_name_in_two_unicode_spellings_is_one_patient(srahim: Path, isolated_settings,
                                                          tmp_path: Path) -> None:
    """"Müller" decomposed (as a Mac share writes names) and composed (as Windows does) were two
    patients of one eye each, listed as "Müller, Müller" (found 2026-12-02)."""
    import unicodedata

    camera = tmp_path / "camera"
    camera.mkdir()
    shutil.copy(srahim / "images/Patient006_R.jpg",
                camera / (unicodedata.normalize("NFD", "Müller") + "_R.jpg"))
    shutil.copy(srahim / "images/Patient006_L.jpg",
                camera / (unicodedata.normalize("NFC", "Müller") + "_L.jpg"))
    summary = run_batch(camera, tmp_path / "out", isolated_settings, workers=1, reports=False)
    assert [(p.patient_id, p.eyes, p.outcome) for p in summary.patients] == [
        ("Müller", "R+L", Outcome.NO_REFERABLE)]


def test_an_earlier_output_folder_inside_the_camera_folder_is_passed_over(
        srahim: Path, isolated_settings, tmp_path: Path) -> None:
    """Results written into the camera folder by an earlier run (with the PACS down, its
    queued SR and PDF objects beside them) were screened as photographs by the next run into
    another output folder: "unreadable" files of unknown eye turned healthy patients into
    "images insufficient" (found 2026-12-02). A retina-screen output folder is now passed
    over, and named so."""
    from retina_screen.batch import PASSED_OVER_OUTPUT

    camera = tmp_path / "camera"
    camera.mkdir()
    for eye in "RL":
        shutil.copy(srahim / f"images/Patient006_{eye}.jpg", camera)
    run_batch(camera, camera / "results", isolated_settings, workers=1)
    pending = camera / "results" / "outbox" / "pending"
    pending.mkdir(parents=True)
    (pending / "1.2.3.dcm").write_bytes((camera / "results" / "reports" / "Patient006.pdf")
                                        .read_bytes())  # stands for a queued result object
    summary = run_batch(camera, tmp_path / "new", isolated_settings, workers=1, reports=False)
    assert [(p.patient_id, p.outcome) for p in summary.patients] == [
        ("Patient006", Outcome.NO_REFERABLE)]
    assert summary.images == 2 and summary.passed_over == (("results", PASSED_OVER_OUTPUT),)


def test_a_refusal_is_in_the_log_without_its_words(tmp_path: Path) -> None:
    """A run the application refused (an unattended watch's folder gone, another run writing,
    a modified model) left no trace in the log file (found 2026-12-02). Its kind is logged now;
    its words, which may hold a path with a patient's name, stay on the console."""
    missing = tmp_path / "Smith John"
    done = _cli("batch", str(missing), "--out", str(tmp_path / "o"), env_home=tmp_path)
    assert done.returncode == 1 and "input folder not found" in done.stderr
    assert "command stopped" not in done.stderr
    logged = (tmp_path / "data" / "retina-screen" / "logs" / "retina-screen.log").read_text()
    assert "the command stopped: ConfigError" in logged and "Smith" not in logged


def test_impossible_numbers_and_a_wrong_data_folder_are_refused_plainly(tmp_path: Path) -> None:
    """``--workers -1`` was taken, ``--watch --interval 0`` polled the folder without pause, and
    ``evaluate --data`` of a wrong folder ended in a Python traceback (found 2026-12-02)."""
    for args, said in ((("batch", str(tmp_path), "--out", str(tmp_path / "o"), "--workers",
                         "-1"), "must be at least 0"),
                       (("batch", str(tmp_path), "--out", str(tmp_path / "o"), "--watch",
                         "--interval", "0"), "must be at least 0.5"),
                       (("evaluate", "--data", str(tmp_path / "nowhere")),
                        "is not the shared data folder")):
        done = _cli(*args, env_home=tmp_path)
        assert done.returncode == 2 and said in done.stderr, (args, done.stderr)
        assert "Traceback" not in done.stderr
    assert not (tmp_path / "o").exists()


def test_screen_takes_a_date_of_birth_only_as_a_date(data_dir: Path, tmp_path: Path) -> None:
    """``screen --birth-date`` printed any text on the report as the date of birth ("31/12/1960",
    a future date, "1960-01-01; Name: Someone Else"); the window checks the date, the command
    line did not (found 2026-12-02)."""
    photo = data_dir / "srahim_dev" / "images" / "Patient006_R.jpg"
    for given in ("31/12/1960", "2999-01-01", "1960-01-01; Name: Someone Else"):
        refused = _cli("screen", str(photo), "--birth-date", given, env_home=tmp_path)
        assert refused.returncode == 2 and "--birth-date" in refused.stderr, given
    report = tmp_path / "P.pdf"
    done = _cli("screen", str(photo), "--birth-date", "1960-12-31", "--report", str(report),
                env_home=tmp_path)
    assert done.returncode == 0, done.stderr
    assert report.read_bytes().startswith(b"%PDF")


def test_a_run_names_the_patients_whose_reports_cannot_print_their_id(data_dir: Path,
                                                                       tmp_path: Path) -> None:
    """Patient IDs in Arabic script print as "????" on the batch's reports (their fonts have
    no Arabic): each report says so, but the run said nothing, while the window's patient
    screen warns before printing (found 2026-12-02)."""
    camera = tmp_path / "camera"
    camera.mkdir()
    images = data_dir / "srahim_dev" / "images"
    arabic = "\u0645\u0631\u064a\u0636"
    for eye in "RL":
        shutil.copy(images / f"Patient006_{eye}.jpg", camera / f"{arabic}_{eye}.jpg")
        shutil.copy(images / f"Patient016_{eye}.jpg", camera / f"Patient016_{eye}.jpg")
    done = _cli("batch", str(camera), "--out", str(tmp_path / "o"), "--workers", "1",
                env_home=tmp_path)
    assert done.returncode == 0, done.stderr
    warning = next(line for line in done.stdout.splitlines() if "cannot print" in line)
    assert warning.startswith("Warning: 1 patients have an ID or a name that their reports "
                              "cannot print in full"), warning
    assert arabic in warning and "Patient016" not in warning


def test_a_file_name_cannot_make_one_patient_id_display_as_another(data_dir: Path,
                                                                  tmp_path: Path) -> None:
    """A right-to-left override in a file name ("Pat\\u202eient43_R.jpg") passed into the
    patient ID, patients.csv and the warnings, where it displays reversed: one ID could be
    made to look like another (found 2026-12-02). Bidirectional controls are shown escaped."""
    from retina_screen.batch import scan_folder

    camera = tmp_path / "camera"
    camera.mkdir()
    photo = data_dir / "srahim_dev" / "images" / "Patient006_R.jpg"
    shutil.copy(photo, camera / "Patient43_R.jpg")
    shutil.copy(photo, camera / "Pat\u202eient43_L.jpg")
    ids = sorted({image.patient_id for image in scan_folder(camera)})
    assert ids == ["Pat\\u202eient43", "Patient43"], ids
    assert not any("\u202e" in image.rel for image in scan_folder(camera))
