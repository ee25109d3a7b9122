"""The DICOM Modality Worklist through a real server: Orthanc's ModalityWorklists plugin serving
worklist files the test writes; queried with ``retina-screen worklist``."""

from __future__ import annotations

import datetime as dt
from pathlib import Path
from typing import TYPE_CHECKING

import pytest
from clinic_helpers import cli_env, closed_port, run_cli

if TYPE_CHECKING:
    from tests.clinic.conftest import Orthanc

TODAY = dt.date.today().strftime("%Y%m%d")
SCHEDULE = [  # ID, name, birth date, sex, accession, date, time, modality
    ("MRN0001", "Mensah^Ama", "19610402", "F", "ACC1001", TODAY, "091500", "OP"),
    ("MRN0002", "Novak^Jiří", "19550921", "M", "ACC1002", TODAY, "083000", "OP"),
    ("MRN0003", "Other^Day", "19700101", "F", "ACC1003", "20200101", "090000", "OP"),
    ("MRN0004", "Other^Modality", "19700101", "M", "ACC1004", TODAY, "100000", "CT"),
]


def worklist_file(entry: tuple[str, ...]) -> bytes:
    import io

    from pydicom.dataset import Dataset, FileDataset, FileMetaDataset
    from pydicom.uid import ExplicitVRLittleEndian, generate_uid

    patient_id, name, birth, sex, accession, date, time, modality = entry
    meta = FileMetaDataset()
    meta.MediaStorageSOPClassUID = "1.2.840.10008.5.1.4.31"
    meta.MediaStorageSOPInstanceUID = generate_uid()
    meta.TransferSyntaxUID = ExplicitVRLittleEndian
    ds = FileDataset("wl", {}, file_meta=meta, preamble=b"\0" * 128)
    ds.SpecificCharacterSet = "ISO_IR 192"
    ds.PatientID, ds.PatientName, ds.PatientBirthDate, ds.PatientSex = patient_id, name, birth, sex
    ds.AccessionNumber = accession
    ds.StudyInstanceUID = generate_uid()
    ds.RequestedProcedureDescription = "Diabetic eye screening"
    step = Dataset()
    step.Modality = modality
    step.ScheduledStationAETitle = "RETINA_SCREEN"
    step.ScheduledProcedureStepStartDate = date
    step.ScheduledProcedureStepStartTime = time
    step.ScheduledProcedureStepDescription = "Retinal photography, both eyes"
    ds.ScheduledProcedureStepSequence = [step]
    buffer = io.BytesIO()
    ds.save_as(buffer, enforce_file_format=True)
    return buffer.getvalue()


def fill_worklist(orthanc: Orthanc) -> Orthanc:
    """Orthanc's worklist folder holds SCHEDULE, and nothing else."""
    for old in orthanc.worklists.glob("*.wl"):
        old.unlink()
    for number, entry in enumerate(SCHEDULE):
        (orthanc.worklists / f"slot{number}.wl").write_bytes(worklist_file(entry))
    return orthanc


@pytest.fixture()
def scheduled(orthanc: Orthanc) -> Orthanc:
    return fill_worklist(orthanc)


def test_worklist_lists_the_days_patients_of_the_modality(scheduled: Orthanc,
                                                          tmp_path: Path) -> None:
    env = cli_env(tmp_path, **scheduled.settings())
    result = run_cli(["worklist", "--date", TODAY], env)
    assert result.returncode == 0, result.stderr
    lines = result.stdout.splitlines()
    assert [line.split("\t")[0] for line in lines] == ["MRN0002", "MRN0001"]  # by time
    fields = lines[0].split("\t")
    assert fields[1:5] == ["Novak Jiří", "1955-09-21", "M", "ACC1002"]

    other_day = run_cli(["worklist", "--date", "20200101"], env)
    assert [line.split("\t")[0] for line in other_day.stdout.splitlines()] == ["MRN0003"]
    assert run_cli(["worklist", "--date", "2020-01-01"], env).returncode == 1


def test_worklist_server_down_or_not_configured_is_a_clear_error(orthanc: Orthanc,
                                                                 tmp_path: Path) -> None:
    down = {**orthanc.settings(), "RETINA_SCREEN_WORKLIST_PORT": str(closed_port())}
    result = run_cli(["worklist"], cli_env(tmp_path, **down))
    assert result.returncode == 1 and "cannot be reached" in result.stderr
    result = run_cli(["worklist"], cli_env(tmp_path))
    assert result.returncode == 1 and "no worklist server is configured" in result.stderr


def test_entries_for_the_gui_search(scheduled: Orthanc) -> None:
    from retina_screen.clinic.worklist import query_worklist
    from retina_screen.settings import load_settings

    settings = load_settings(overrides={
        "worklist_host": "127.0.0.1", "worklist_port": scheduled.dicom_port,
        "worklist_ae_title": scheduled.aet}, use_environment=False, use_file=False)
    entries = query_worklist(settings, date=TODAY)
    assert [e.patient_id for e in entries if e.matches("mensah")] == ["MRN0001"]
    assert [e.patient_id for e in entries if e.matches("ACC1002")] == ["MRN0002"]
    assert entries[0].birth_date == "1955-09-21" and entries[0].study_uid
