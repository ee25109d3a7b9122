"""The day's scheduled patients from a DICOM Modality Worklist (C-FIND, pynetdicom).

Only when ``worklist_host`` is set; the query asks for one date's scheduled procedure steps of
one modality (``OP``, ophthalmic photography, by default) and returns what the desktop app's
patient form needs (ID, name, birth date, sex, accession number) and what identifies the slot.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass

from ..errors import ConfigError, RetinaScreenError
from ..settings import Settings

log = logging.getLogger(__name__)

CONNECT_TIMEOUT_S = 5.0


class WorklistError(RetinaScreenError):
    """The worklist server could not be reached or refused the query."""


@dataclass(frozen=True)
class WorklistEntry:
    patient_id: str
    patient_name: str  # readable: "Family Given" (DICOM ^ separators replaced)
    birth_date: str  # ISO yyyy-mm-dd or ""
    sex: str
    accession: str
    scheduled_date: str  # YYYYMMDD
    scheduled_time: str
    description: str
    study_uid: str = ""

    def matches(self, text: str) -> bool:
        """Whether a search text occurs in the ID, name, accession number or description."""
        needle = text.strip().lower()
        return not needle or any(needle in field.lower() for field in (
            self.patient_id, self.patient_name, self.accession, self.description))


def require_worklist(settings: Settings) -> None:
    if not settings.worklist_host.strip():
        raise ConfigError("no worklist server is configured: set worklist_host (and "
                          "worklist_port, worklist_ae_title) in the settings file, as "
                          "RETINA_SCREEN_WORKLIST_HOST, or with --worklist-host")


def _iso(value: str) -> str:
    value = value.strip()
    return f"{value[:4]}-{value[4:6]}-{value[6:8]}" if len(value) >= 8 and value[:8].isdigit() \
        else ""


def _query(date: str, modality: str):  # noqa: ANN202 - pydicom Dataset
    from pydicom.dataset import Dataset

    ds = Dataset()
    ds.SpecificCharacterSet = "ISO_IR 192"  # answers in UTF-8 (names in any script)
    for keyword in ("PatientID", "PatientName", "PatientBirthDate", "PatientSex",
                    "AccessionNumber", "StudyInstanceUID", "RequestedProcedureDescription"):
        setattr(ds, keyword, "")
    step = Dataset()
    step.Modality = modality
    step.ScheduledProcedureStepStartDate = date
    step.ScheduledProcedureStepStartTime = ""
    step.ScheduledProcedureStepDescription = ""
    step.ScheduledStationAETitle = ""
    ds.ScheduledProcedureStepSequence = [step]
    return ds


def _text(ds, keyword: str) -> str:  # noqa: ANN001
    value = ds.get(keyword)
    return "" if value is None else str(value).strip()


def _entry(ds) -> WorklistEntry:  # noqa: ANN001 - pydicom Dataset
    steps = ds.get("ScheduledProcedureStepSequence") or []
    step = steps[0] if steps else ds
    return WorklistEntry(
        patient_id=_text(ds, "PatientID"),
        patient_name=" ".join(p for p in _text(ds, "PatientName").split("^") if p),
        birth_date=_iso(_text(ds, "PatientBirthDate")), sex=_text(ds, "PatientSex"),
        accession=_text(ds, "AccessionNumber"),
        scheduled_date=_text(step, "ScheduledProcedureStepStartDate"),
        scheduled_time=_text(step, "ScheduledProcedureStepStartTime"),
        description=_text(step, "ScheduledProcedureStepDescription")
        or _text(ds, "RequestedProcedureDescription"),
        study_uid=_text(ds, "StudyInstanceUID"))


def query_worklist(settings: Settings, *, date: str, modality: str = "OP") -> list[WorklistEntry]:
    """The scheduled patients of ``date`` (YYYYMMDD), sorted by time then ID."""
    require_worklist(settings)
    from pynetdicom import AE
    from pynetdicom.sop_class import ModalityWorklistInformationFind

    logging.getLogger("pynetdicom").setLevel(logging.WARNING)
    ae = AE(ae_title=settings.ae_title)
    ae.connection_timeout = CONNECT_TIMEOUT_S
    ae.acse_timeout = ae.dimse_timeout = ae.network_timeout = 30
    ae.add_requested_context(ModalityWorklistInformationFind)
    where = f"{settings.worklist_ae_title}@{settings.worklist_host}:{settings.worklist_port}"
    from .tls import tls_args

    assoc = ae.associate(settings.worklist_host, settings.worklist_port,
                         ae_title=settings.worklist_ae_title,
                         tls_args=tls_args(settings, settings.worklist_host))
    if not assoc.is_established:
        raise WorklistError(f"the worklist server {where} "
                            + ("rejected the association (check the AE titles)"
                               if assoc.is_rejected else "cannot be reached"))
    entries = []
    try:
        for status, identifier in assoc.send_c_find(_query(date, modality),
                                                    ModalityWorklistInformationFind):
            code = int(status.Status) if "Status" in status else -1
            if code in (0xFF00, 0xFF01) and identifier is not None:
                entries.append(_entry(identifier))
            elif code not in (0x0000, 0xFF00, 0xFF01):
                raise WorklistError(f"the worklist server {where} refused the query (status "
                                    f"0x{code & 0xFFFF:04X})")
    finally:
        assoc.release()
    return sorted(entries, key=lambda e: (e.scheduled_time, e.patient_id))
