"""Results to a real PACS (Orthanc): ``batch --send``, ``send``, the queue when the PACS is
down, no duplicates after a resume, and what the eye service reads back (the SR's grades and
outcome, the PDF bytes, the patient and study attributes)."""

from __future__ import annotations

import csv
import io
import json
import os
import shutil
import subprocess
from pathlib import Path
from typing import TYPE_CHECKING

import pydicom
import pytest
from clinic_helpers import cli_env, closed_port, run_cli
from PIL import Image

if TYPE_CHECKING:
    from tests.clinic.conftest import Orthanc


ROOT = Path(__file__).resolve().parents[2]
JPEG_PATIENTS = ("Patient006", "Patient013")  # no referable DR / referable (both eyes)
#: The referable JPEG patient's left photograph is a mirrored copy of the right one: the patient
#: is still referred, with a note the PACS and the EHR must carry (decision.COPY_FOR_BOTH_EYES).
MIRRORED_LEFT = "Patient013"
DICOM_PATIENT = ("DCM-0042", "Okafor^Chidi", "19580214", "F")
DICOM_STUDY_UID = "1.2.826.0.1.3680043.8.498.4242424242"
DICOM_ACCESSION = "ACC20250301"


def dicom_photo(jpeg: Path, laterality: str, number: int) -> bytes:
    """A DICOM Ophthalmic Photography file holding a real photo (JPEG Baseline, 1000 px)."""
    from pydicom.dataset import FileDataset, FileMetaDataset
    from pydicom.encaps import encapsulate
    from pydicom.uid import JPEGBaseline8Bit, generate_uid

    with Image.open(jpeg) as image:
        image = image.convert("RGB")
        image.thumbnail((1000, 1000))
        buffer = io.BytesIO()
        image.save(buffer, "JPEG", quality=92)
        width, height = image.size
    meta = FileMetaDataset()
    meta.MediaStorageSOPClassUID = "1.2.840.10008.5.1.4.1.1.77.1.5.1"
    meta.MediaStorageSOPInstanceUID = generate_uid()
    meta.TransferSyntaxUID = JPEGBaseline8Bit
    ds = FileDataset("photo.dcm", {}, file_meta=meta, preamble=b"\0" * 128)
    ds.SOPClassUID = meta.MediaStorageSOPClassUID
    ds.SOPInstanceUID = meta.MediaStorageSOPInstanceUID
    ds.StudyInstanceUID = DICOM_STUDY_UID
    ds.SeriesInstanceUID = DICOM_STUDY_UID + ".1"
    ds.AccessionNumber = DICOM_ACCESSION
    ds.Modality = "OP"
    ds.PatientID, ds.PatientName, ds.PatientBirthDate, ds.PatientSex = DICOM_PATIENT
    ds.StudyDate, ds.StudyTime, ds.StudyID = "20250301", "093000", "S1"
    ds.ReferringPhysicianName = "Adeyemi^Bola"
    ds.InstanceNumber = number
    ds.ImageLaterality = laterality
    ds.Rows, ds.Columns = height, width
    ds.SamplesPerPixel, ds.PlanarConfiguration = 3, 0
    ds.BitsAllocated, ds.BitsStored, ds.HighBit, ds.PixelRepresentation = 8, 8, 7, 0
    ds.PhotometricInterpretation = "YBR_FULL_422"
    ds.PixelData = encapsulate([buffer.getvalue()])
    ds["PixelData"].VR = "OB"
    out = io.BytesIO()
    ds.save_as(out, enforce_file_format=True)
    return out.getvalue()


def read_patients(out: Path) -> dict[str, dict[str, str]]:
    with open(out / "patients.csv", newline="", encoding="utf-8") as handle:
        return {row["patient_id"]: row for row in csv.DictReader(handle)}


def queue_events(out: Path) -> list[dict]:
    path = out / "outbox" / "queue.jsonl"
    return [json.loads(line) for line in path.read_text().splitlines() if line.strip()]


@pytest.fixture(scope="module")
def clinic_input(srahim: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    folder = tmp_path_factory.mktemp("camera") / "export"
    folder.mkdir()
    for patient in JPEG_PATIENTS:
        for eye in "RL":
            shutil.copy(srahim / "images" / f"{patient}_{eye}.jpg", folder)
    with Image.open(srahim / "images" / f"{MIRRORED_LEFT}_R.jpg") as right:
        right.transpose(Image.Transpose.FLIP_LEFT_RIGHT).save(
            folder / f"{MIRRORED_LEFT}_L.jpg", "JPEG", quality=90)
    for number, eye in enumerate("RL", start=1):
        (folder / f"IMG{number:04d}.dcm").write_bytes(
            dicom_photo(srahim / "images" / f"Patient044_{eye}.jpg", eye, number))
    return folder


def _instances_by_sop(orthanc: Orthanc) -> dict[str, list[pydicom.Dataset]]:
    found: dict[str, list[pydicom.Dataset]] = {}
    for instance in orthanc.instances():
        ds = pydicom.dcmread(io.BytesIO(orthanc.get(f"/instances/{instance}/file")))
        found.setdefault(ds.SOPClassUID, []).append(ds)
    return found


def _sr_text(ds: pydicom.Dataset) -> list[tuple[str, str]]:
    """(concept meaning, value) of every content item, depth first."""
    items = []
    for item in ds.get("ContentSequence", []):
        name = item.ConceptNameCodeSequence[0].CodeMeaning
        if item.ValueType == "TEXT":
            items.append((name, str(item.TextValue)))
        elif item.ValueType == "CODE":
            code = item.ConceptCodeSequence[0]
            items.append((name, f"{code.CodingSchemeDesignator}:{code.CodeValue}"))
        elif item.ValueType == "NUM":
            items.append((name, str(item.MeasuredValueSequence[0].NumericValue)))
        items += _sr_text(item)
    return items


def test_batch_send_puts_sr_and_pdf_of_every_patient_into_the_pacs(
        orthanc: Orthanc, clinic_input: Path, tmp_path: Path) -> None:
    orthanc.delete_all()
    env = cli_env(tmp_path, **orthanc.settings())
    out = tmp_path / "results"
    result = run_cli(["batch", str(clinic_input), "--out", str(out), "--workers", "1",
                      "--quiet", "--send", "--fhir"], env)
    assert result.returncode == 0, result.stderr[-3000:]
    assert "6 instances sent, 0 queued" in result.stdout, result.stdout
    assert "FHIR: 3 bundles" in result.stdout

    patients = read_patients(out)
    assert set(patients) == {*JPEG_PATIENTS, DICOM_PATIENT[0]}
    assert all(row["pacs"] == "sent" for row in patients.values()), patients
    stored = _instances_by_sop(orthanc)
    srs, pdfs = stored["1.2.840.10008.5.1.4.1.1.88.33"], stored["1.2.840.10008.5.1.4.1.1.104.1"]
    assert len(srs) == 3 and len(pdfs) == 3

    for sr in srs:
        row = patients[sr.PatientID]
        items = _sr_text(sr)
        assert ("Conclusion", row["decision"]) in items
        assert ("Recommendation", row["action"]) in items
        for note in filter(None, row["notes"].split(" | ")):
            assert ("Conclusion", note) in items, (note, items)
        assert ("Referral or rescreening interval", row["interval"]) in items
        grades = [int(v) for name, v in items if name == "ICDR diabetic retinopathy grade"]
        assert grades == [int(row["right_grade"]), int(row["left_grade"])]
        referable = [v for name, v in items if name == "Referable diabetic retinopathy"]
        expected = "SCT:373066001" if row["outcome"].startswith("refer") else "SCT:373067005"
        assert expected in referable
        assert any(name == "Probability of referable diabetic retinopathy" for name, _ in items)
        assert any(name == "Image quality verdict" and "gradable" in v for name, v in items)
        assert ("Model verified", "yes") in items
        assert any(name == "Model sha256" and len(v) == 64 for name, v in items)
        if row["outcome"].startswith("refer"):  # moderate NPDR or worse: SNOMED CT coded
            assert any(v.startswith("SCT:") for name, v in items if name == "Finding")

    for pdf in pdfs:
        report = out / patients[pdf.PatientID]["report"]
        assert pdf.MIMETypeOfEncapsulatedDocument == "application/pdf"
        assert bytes(pdf.EncapsulatedDocument)[:pdf.EncapsulatedDocumentLength] \
            == report.read_bytes()

    # The DICOM patient: results in the photographs' study, patient module copied.
    dicom_results = [ds for ds in srs + pdfs if ds.PatientID == DICOM_PATIENT[0]]
    for ds in dicom_results:
        assert ds.StudyInstanceUID == DICOM_STUDY_UID
        assert ds.AccessionNumber == DICOM_ACCESSION
        assert str(ds.PatientName) == DICOM_PATIENT[1] and ds.PatientSex == "F"
        assert ds.PatientBirthDate == DICOM_PATIENT[2]
    sr = next(ds for ds in dicom_results if ds.Modality == "SR")
    evidence = sr.CurrentRequestedProcedureEvidenceSequence[0]
    assert evidence.StudyInstanceUID == DICOM_STUDY_UID
    assert len(evidence.ReferencedSeriesSequence[0].ReferencedSOPSequence) == 2
    # JPEG patients: a new study each, both instances in it.
    for patient in JPEG_PATIENTS:
        studies = {ds.StudyInstanceUID for ds in srs + pdfs if ds.PatientID == patient}
        assert len(studies) == 1 and DICOM_STUDY_UID not in studies

    # Every instance is valid DICOM (dicom3tools' dciodvfy: no errors).
    for number, instance in enumerate(orthanc.instances()):
        path = tmp_path / f"instance{number}.dcm"
        path.write_bytes(orthanc.get(f"/instances/{instance}/file"))
        assert_valid_dicom(path)

    assert "one photograph" in patients[MIRRORED_LEFT]["notes"], patients[MIRRORED_LEFT]
    assert patients[MIRRORED_LEFT]["outcome"].startswith("refer")
    check_fhir_bundles(out, patients)

    # The same command again sends nothing twice.
    before = len(queue_events(out))
    result = run_cli(["batch", str(clinic_input), "--out", str(out), "--workers", "1",
                      "--quiet", "--send"], env)
    assert result.returncode == 0, result.stderr[-3000:]
    assert "0 instances sent, 0 queued" in result.stdout
    assert len(queue_events(out)) == before
    assert len(orthanc.instances()) == 6

    # Each send is in the audit trail, which still verifies.
    import sqlite3

    db = tmp_path / "xdg-data" / "retina-screen" / "audit.sqlite"
    with sqlite3.connect(db) as connection:
        sends = connection.execute(
            "SELECT payload FROM records WHERE kind = 'dicom_send'").fetchall()
    assert len(sends) == 6
    assert all(DICOM_PATIENT[0] not in row[0] and "Patient0" not in row[0] for row in sends)
    verify = run_cli(["audit", "verify"], env)
    assert verify.returncode == 0, verify.stdout + verify.stderr


def test_pacs_down_queues_everything_and_a_resume_never_duplicates(
        orthanc: Orthanc, clinic_input: Path, tmp_path: Path) -> None:
    orthanc.delete_all()
    down = {**orthanc.settings(), "RETINA_SCREEN_PACS_PORT": str(closed_port())}
    out = tmp_path / "results"
    photos = tmp_path / "export"
    shutil.copytree(clinic_input, photos)
    env_down = cli_env(tmp_path, **down)

    # The PACS is down during the batch: everything is screened and stays queued on disk.
    result = run_cli(["batch", str(photos), "--out", str(out), "--workers", "1", "--quiet",
                      "--send"], env_down)
    assert result.returncode == 0, result.stderr[-3000:]
    assert "0 instances sent, 6 queued (3 patient visits)" in result.stdout, result.stdout
    assert "cannot be reached" in result.stderr
    assert {row["pacs"] for row in read_patients(out).values()} == {"pending"}
    assert len(list((out / "outbox" / "pending").glob("*.dcm"))) == 6
    failed = run_cli(["send", str(out)], env_down)
    assert failed.returncode == 1 and "queued" in failed.stdout

    # The PACS is back: 'send' delivers the queue.
    env = cli_env(tmp_path, **orthanc.settings())
    result = run_cli(["send", str(out)], env)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "6 instances sent, 0 queued" in result.stdout
    assert {row["pacs"] for row in read_patients(out).values()} == {"sent"}
    assert list((out / "outbox" / "pending").glob("*.dcm")) == []
    assert len(orthanc.instances()) == 6

    # A batch killed before its last visit was recorded, and a crash after the PACS confirmed
    # an instance but before the queue recorded it: the resumed run screens that visit again
    # and sends the unrecorded instance again, with the same UIDs, so the PACS still holds six.
    journal = out / "results.jsonl"
    lines = journal.read_bytes().splitlines(keepends=True)
    last_visit = max(i for i, line in enumerate(lines) if b'"kind": "patient"' in line)
    first_of_visit = max(i for i, line in enumerate(lines[:last_visit])
                         if b'"kind": "patient"' in line) + 1
    journal.write_bytes(b"".join(lines[:first_of_visit]))
    queue = out / "outbox" / "queue.jsonl"
    events = queue.read_text().splitlines(keepends=True)
    last_sent = max(i for i, line in enumerate(events) if '"event": "sent"' in line)
    queue.write_text("".join(events[:last_sent] + events[last_sent + 1:]))
    result = run_cli(["batch", str(photos), "--out", str(out), "--workers", "1", "--quiet",
                      "--send"], env)
    assert result.returncode == 0, result.stderr[-3000:]
    assert "from an earlier run" in result.stdout
    assert len(orthanc.instances()) == 6
    assert {row["pacs"] for row in read_patients(out).values()} == {"sent"}


def check_fhir_bundles(out: Path, patients: dict[str, dict[str, str]]) -> None:
    """Every visit's FHIR Bundle validates as FHIR (fhir.resources) and says what the CSV says."""
    import base64

    from fhir.resources.R4B.bundle import Bundle
    from pydantic import ValidationError

    files = sorted((out / "fhir").glob("*.json"))
    assert len(files) == len(patients)
    for file in files:
        data = json.loads(file.read_text(encoding="utf-8"))
        bundle = Bundle.model_validate(data)
        resources = [e.resource for e in bundle.entry]
        kinds = [r.get_resource_type() for r in resources]
        assert kinds.count("Patient") == 1 and kinds.count("DiagnosticReport") == 1
        assert kinds.count("ImagingStudy") == 1
        person = resources[kinds.index("Patient")]
        row = patients[person.identifier[0].value]
        report = resources[kinds.index("DiagnosticReport")]
        assert row["decision"] in report.conclusion
        assert report.conclusionCode[0].coding[0].code == f"outcome-{row['outcome']}"
        for note in filter(None, row["notes"].split(" | ")):  # as the report and the SR
            assert note in report.conclusion, (note, report.conclusion)
        assert report.presentedForm[0].contentType == "application/pdf"
        pdf = base64.b64decode(next(e["resource"] for e in data["entry"] if e["resource"][
            "resourceType"] == "DiagnosticReport")["presentedForm"][0]["data"])
        assert pdf == (out / row["report"]).read_bytes()
        grades = {}
        for r in resources:
            if r.get_resource_type() == "Observation" and r.valueCodeableConcept is not None:
                codes = {c.code for c in r.valueCodeableConcept.coding}
                grades[r.bodySite.text] = next(int(c[5:]) for c in codes if c.startswith("icdr-"))
        assert grades == {"Right eye": int(row["right_grade"]),
                          "Left eye": int(row["left_grade"])}
        referable = [r.valueBoolean for r in resources if r.get_resource_type() == "Observation"
                     and r.valueBoolean is not None]
        assert any(referable) == row["outcome"].startswith("refer")
        if row["patient_id"] == DICOM_PATIENT[0]:
            study = resources[kinds.index("ImagingStudy")]
            assert study.identifier[0].value == f"urn:oid:{DICOM_STUDY_UID}"
            assert person.gender == "female"
    broken = json.loads(files[0].read_text(encoding="utf-8"))
    del broken["entry"][-1]["resource"]["status"]  # required: the validator is no no-op
    with pytest.raises(ValidationError):
        Bundle.model_validate(broken)


def assert_valid_dicom(path: Path) -> None:
    """dciodvfy (Debian dicom3tools) reports no error for the file (warnings allowed)."""
    tool = shutil.which("dciodvfy")
    if tool is None:
        if os.environ.get("CI"):
            pytest.fail("dciodvfy (apt-get install dicom3tools) is missing and CI is set")
        pytest.skip("dciodvfy not installed (apt-get install dicom3tools)")
    checked = subprocess.run([tool, str(path)], capture_output=True, text=True, timeout=60,
                             check=False)
    errors = [line for line in (checked.stdout + checked.stderr).splitlines()
              if line.startswith("Error")]
    assert not errors, "\n".join(errors)


def test_results_go_over_tls_when_asked(orthanc_tls: tuple[Orthanc, Path], tmp_path: Path,
                                        clinic_input: Path) -> None:
    """DICOM TLS: with dicom_tls and the server's CA the results arrive; without TLS, or
    without trusting the server's certificate, nothing is sent and the results stay queued."""
    server, ca = orthanc_tls
    server.delete_all()
    photos = tmp_path / "export"
    photos.mkdir()
    for name in ("Patient006_R.jpg", "Patient006_L.jpg"):
        shutil.copy(clinic_input / name, photos)
    out = tmp_path / "results"
    plain = cli_env(tmp_path, **server.settings())
    result = run_cli(["batch", str(photos), "--out", str(out), "--workers", "1", "--quiet",
                      "--no-reports"], plain)
    assert result.returncode == 0, result.stderr[-3000:]
    result = run_cli(["send", str(out)], plain)  # no TLS: the server does not answer
    assert result.returncode == 1 and "0 instances sent, 1 queued" in result.stdout
    untrusted = cli_env(tmp_path, **server.settings(), RETINA_SCREEN_DICOM_TLS="1")
    assert run_cli(["send", str(out)], untrusted).returncode == 1
    assert server.instances() == []
    trusted = cli_env(tmp_path, **server.settings(), RETINA_SCREEN_DICOM_TLS="1",
                      RETINA_SCREEN_DICOM_TLS_CA=str(ca))
    result = run_cli(["send", str(out)], trusted)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "1 instances sent, 0 queued" in result.stdout
    assert len(server.instances()) == 1


KILL_PATIENTS = ("Patient006", "Patient008", "Patient013", "Patient016", "Patient017",
                 "Patient033", "Patient036", "Patient044")


def _count(path: Path, needle: bytes) -> int:
    try:
        return path.read_bytes().count(needle)
    except FileNotFoundError:
        return 0


def _kill_when(args: list[str], env: dict[str, str], ready, log: Path,  # noqa: ANN001
               timeout_s: float = 240.0) -> int | None:
    """Start the CLI in its own process group and SIGKILL the group as soon as ``ready()``;
    returns the exit status (negative: killed), or that of a run that ended first."""
    import signal
    import sys
    import time

    with open(log, "wb") as output:
        process = subprocess.Popen([sys.executable, "-m", "retina_screen", *args], env=env,
                                   cwd=ROOT, stdout=output, stderr=subprocess.STDOUT,
                                   start_new_session=True)
    deadline = time.monotonic() + timeout_s
    try:
        while process.poll() is None:
            if ready():
                os.killpg(process.pid, signal.SIGKILL)
                break
            if time.monotonic() > deadline:
                pytest.fail(f"the batch did not get there in {timeout_s} s: "
                            f"{log.read_text(errors='replace')[-2000:]}")
            time.sleep(0.005)
        return process.wait(timeout=60)
    finally:
        if process.poll() is None:
            os.killpg(process.pid, signal.SIGKILL)
            process.wait()


def test_batch_killed_with_sigkill_and_rerun_sends_everything_once(
        orthanc: Orthanc, srahim: Path, tmp_path: Path) -> None:
    """A real kill: 'batch IN --out OUT --send' on real photographs is SIGKILLed while it
    screens (some visits journaled), run again and SIGKILLed while it sends (some instances
    confirmed), then run to the end: the PACS holds exactly one SR and one PDF per patient."""
    orthanc.delete_all()
    photos = tmp_path / "export"
    photos.mkdir()
    for patient in KILL_PATIENTS:
        for eye in "RL":
            shutil.copy(srahim / "images" / f"{patient}_{eye}.jpg", photos)
    out = tmp_path / "results"
    env = cli_env(tmp_path, **orthanc.settings())
    args = ["batch", str(photos), "--out", str(out), "--workers", "1", "--quiet", "--send"]
    journal, queue = out / "results.jsonl", out / "outbox" / "queue.jsonl"

    # 1. Killed while screening, once two visits are journaled: nothing was sent yet.
    status = _kill_when(args, env, lambda: _count(journal, b'"kind": "patient"') >= 2,
                        tmp_path / "run1.log")
    assert status == -9, (tmp_path / "run1.log").read_text(errors="replace")[-2000:]
    assert 2 <= _count(journal, b'"kind": "patient"') < len(KILL_PATIENTS)
    assert orthanc.instances() == []

    # 2. Run again; killed as soon as the PACS confirmed the first instance (it resumes the
    # screening, then queues and sends).
    status = _kill_when(args, env, lambda: _count(queue, b'"event": "sent"') >= 1,
                        tmp_path / "run2.log")
    sent_before = len(orthanc.instances())
    assert sent_before >= 1
    if status == -9:  # usually: killed mid-send, part of the queue not confirmed yet
        assert _count(queue, b'"event": "sent"') < 2 * len(KILL_PATIENTS)

    # 3. The same command again finishes the job.
    result = run_cli(args, env)
    assert result.returncode == 0, result.stdout + result.stderr[-3000:]
    assert "from an earlier run" in result.stdout
    per_patient: dict[tuple[str, str], int] = {}
    for instance in orthanc.instances():
        tags = orthanc.get(f"/instances/{instance}/simplified-tags")
        key = (tags["PatientID"], tags["Modality"])
        per_patient[key] = per_patient.get(key, 0) + 1
    expected = {(p, modality): 1 for p in KILL_PATIENTS for modality in ("SR", "DOC")}
    assert per_patient == expected
    assert {row["pacs"] for row in read_patients(out).values()} == {"sent"}
    assert list((out / "outbox" / "pending").glob("*.dcm")) == []


def test_a_file_left_after_a_kill_between_confirmation_and_delete_is_removed(
        tmp_path: Path) -> None:
    """Killed after the PACS confirmed an instance (``sent`` recorded) but before its file was
    deleted: the next send run removes the leftover file and sends nothing again."""
    from retina_screen.clinic.outbox import Outbox

    outbox = Outbox(tmp_path)
    outbox.put("1.2.3.4", "P1", "2026-11-29", "sr", "d1", b"DICM-sent")
    outbox.put("1.2.3.5", "P1", "2026-11-29", "pdf", "d2", b"DICM-waiting")
    outbox._append([{"event": "sent", "uid": "1.2.3.4", "destination": "PACS"}])  # the kill
    state = outbox.read()
    assert [e.uid for e in state.pending] == ["1.2.3.5"]
    outbox.remove_sent_files(state)
    left = sorted(p.name for p in (tmp_path / "outbox" / "pending").glob("*.dcm"))
    assert left == ["1.2.3.5.dcm"]


def test_a_result_replaced_before_it_was_sent_is_never_sent(orthanc: Orthanc, srahim: Path,
                                                            tmp_path: Path) -> None:
    """A visit decided again while the PACS was down (a photograph added: "no referable DR"
    became a referral) queued its new SR and PDF behind the old ones, and the PACS received
    both results of one visit (found 2026-12-02). The old, never sent, are now withdrawn from
    the queue when the new are queued: the PACS receives only the visit's current result."""
    orthanc.delete_all()
    down = {**orthanc.settings(), "RETINA_SCREEN_PACS_PORT": str(closed_port())}
    env_down, env = cli_env(tmp_path, **down), cli_env(tmp_path, **orthanc.settings())
    photos, out = tmp_path / "export", tmp_path / "results"
    photos.mkdir()
    for eye in "RL":
        shutil.copy(srahim / "images" / f"Patient006_{eye}.jpg", photos)
    args = ["batch", str(photos), "--out", str(out), "--workers", "1", "--quiet", "--send"]
    assert run_cli(args, env_down).returncode == 0
    assert len(list((out / "outbox" / "pending").glob("*.dcm"))) == 2  # SR and PDF
    shutil.copy(srahim / "images" / "Patient145_R.jpg", photos / "Patient006_R_2.jpg")
    result = run_cli(args, env_down)
    assert result.returncode == 0, result.stderr[-2000:]
    assert "2 queued (1 patient visits)" in result.stdout, result.stdout
    assert len(list((out / "outbox" / "pending").glob("*.dcm"))) == 2
    sent = run_cli(["send", str(out)], env)
    assert sent.returncode == 0 and "2 instances sent, 0 queued" in sent.stdout, sent.stdout
    assert len(orthanc.instances()) == 2
    assert read_patients(out)["Patient006"]["outcome"].startswith("refer")
