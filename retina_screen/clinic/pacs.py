"""Send a batch's results to the configured PACS: queue, C-STORE, retry with backoff, audit.

:func:`queue_results` builds the DICOM results (:mod:`.dicom_out`) of every screened patient
visit in an output folder that is not queued yet, into the on-disk queue (:mod:`.outbox`);
:func:`send_queued` sends what waits there. :func:`send_results` does both and rewrites
``patients.csv`` (its ``pacs`` column) under the output folder's lock. Nothing connects anywhere
unless ``pacs_host`` is set; each confirmed instance gets an audit record (``dicom_send``).
"""

from __future__ import annotations

import json
import logging
import time
from collections.abc import Callable
from dataclasses import dataclass, replace
from pathlib import Path

from ..errors import ConfigError, OutputError, RetinaScreenError
from ..results import PatientResult
from ..settings import Settings
from .outbox import Entry, Outbox

log = logging.getLogger(__name__)

#: Seconds between tries while the PACS cannot be reached: 1, 2, 4, ... at most 60.
BACKOFF_START_S = 1.0
BACKOFF_MAX_S = 60.0
CONNECT_TIMEOUT_S = 5.0
#: C-STORE statuses that mean "stored" (success and the warnings of PS3.4 B.2.3).
STORED = {0x0000, 0xB000, 0xB006, 0xB007}
SOP_NAMES = {"sr": "Comprehensive SR", "pdf": "Encapsulated PDF"}


class PacsError(RetinaScreenError):
    """The PACS could not be reached or refused the results (they stay queued)."""


@dataclass(frozen=True)
class SendSummary:
    queued: int  # instances added to the queue by this call
    sent: int  # instances the PACS confirmed in this call
    pending: int  # instances still waiting
    patients_pending: int
    destination: str
    error: str = ""  # why instances are still pending ("" when none are)
    #: send_patient only: "sent" or "pending" for that patient's results
    status: str = ""
    #: Visits of the results file not queued: the audit trail does not confirm them
    held: int = 0


def destination(settings: Settings) -> str:
    return f"{settings.pacs_ae_title}@{settings.pacs_host}:{settings.pacs_port}"


def require_pacs(settings: Settings) -> None:
    """Refuse before anything is done when no PACS is configured."""
    if not settings.pacs_host.strip():
        raise ConfigError("no PACS is configured: set pacs_host (and pacs_port, pacs_ae_title) "
                          "in the settings file, as RETINA_SCREEN_PACS_HOST, or with "
                          "--pacs-host; nothing was sent")


def _input_dirs(out_dir: Path) -> list[Path]:
    try:
        run = json.loads((out_dir / "run.json").read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return []
    dirs = [*run.get("input_dirs", []), run.get("input_dir")] if isinstance(run, dict) else []
    return [Path(d) for d in dict.fromkeys(d for d in dirs if d)]


def visits(out_dir: Path, settings: Settings) -> tuple[list[tuple[dict, list[dict]]], int]:
    """Every completed visit in the output folder's journal that this installation's audit
    trail confirms (``batch.unconfirmed_visits``; the results file can be edited by anyone
    who can write the folder, and an edited "no referable DR" must not leave the machine),
    as (visit record, image records) with its report file the one it was issued with; and how
    many visits were held back."""
    from ..atomic import file_sha256
    from ..audit import recorded_decisions
    from ..batch import JOURNAL, Journal, latest_records, unconfirmed_visits
    from ..decision import load_referral_table

    journal = Journal(Path(out_dir) / JOURNAL, 0o600)
    images, patients = latest_records(journal.read(repair=False))
    by_visit: dict[tuple[str, str], list[dict]] = {}
    for (patient_id, visit, _path), record in images.items():
        by_visit.setdefault((patient_id, visit), []).append(record)
    trail = recorded_decisions(settings.audit_db, settings.audit_key)
    held = set(unconfirmed_visits(sorted(patients), patients, images, trail,
                                  load_referral_table(settings.referral_table)))
    for key in sorted(patients):
        report = patients[key].get("report")
        issued = (patients[key].get("report_file") or {}).get("sha256")
        path = Path(out_dir) / report if report else None
        if key not in held and path is not None and path.is_file() and issued \
                and file_sha256(path) != issued:
            held.add(key)  # the report file is not the one issued with the decision
    if held:
        log.warning("%d visits of the results file are not confirmed by the audit trail; "
                    "they are not exported", len(held))
    return ([(patients[key], by_visit.get(key, [])) for key in sorted(patients)
             if key not in held], len(held))


def source_paths(out_dir: Path, images: list[dict]) -> list[Path]:
    """The source photographs of ``images`` that are still on disk."""
    found = []
    for record in images:
        for folder in _input_dirs(out_dir):
            path = folder / record["path"]
            if path.is_file():
                found.append(path)
                break
    return found


def _queued_digests(outbox: Outbox) -> set[str]:
    """Digests of the visits already queued: sent, or waiting on disk (a missing file: build
    them again; the same UIDs come out)."""
    state = outbox.read()
    return state.digests() - {e.digest for e in state.pending
                              if not (outbox.folder / e.file).is_file()}


def _queue_visit(outbox: Outbox, patient: dict, images: list[dict], pdf: bytes | None,
                 sources: list[Path], settings: Settings) -> int:
    """Build one visit's DICOM results and put them in the queue; returns instances queued."""
    from .dicom_out import build_instances, dataset_bytes, result_digest, source_study

    digest = result_digest(patient, images)
    instances = build_instances(patient, images, pdf, source_study(sources), settings)
    queued = 0
    # The SR last: its queued event marks the visit as queued (_queued_digests above).
    for kind, ds in (("pdf", instances.pdf), ("sr", instances.sr)):
        if ds is None:
            continue
        outbox.put(ds.SOPInstanceUID, patient["patient_id"], patient.get("visit") or "",
                   kind, digest, dataset_bytes(ds))
        queued += 1
    return queued


def queue_results(out_dir: Path, settings: Settings) -> tuple[int, int]:
    """Queue the DICOM results of every visit not queued yet that the audit trail confirms;
    returns the instances queued and the visits held back."""
    from .dicom_out import result_digest

    out_dir = Path(out_dir)
    outbox = Outbox(out_dir, settings.file_mode)
    known = _queued_digests(outbox)
    queued = 0
    confirmed, held = visits(out_dir, settings)
    for patient, images in confirmed:
        if result_digest(patient, images) in known:
            continue
        report = out_dir / patient["report"] if patient.get("report") else None
        pdf = report.read_bytes() if report is not None and report.is_file() else None
        queued += _queue_visit(outbox, patient, images, pdf, source_paths(out_dir, images),
                               settings)
    return queued, held


class _Association:
    """One DICOM association with the PACS (pynetdicom), opened on first use."""

    def __init__(self, settings: Settings) -> None:
        from pynetdicom import AE
        from pynetdicom.sop_class import ComprehensiveSRStorage, EncapsulatedPDFStorage

        logging.getLogger("pynetdicom").setLevel(logging.WARNING)
        self.settings = settings
        ae = AE(ae_title=settings.ae_title)
        ae.connection_timeout = CONNECT_TIMEOUT_S
        ae.acse_timeout = 30
        ae.dimse_timeout = 60
        ae.network_timeout = 60
        for sop_class in (ComprehensiveSRStorage, EncapsulatedPDFStorage):
            ae.add_requested_context(sop_class)
        self.ae = ae
        self.assoc = None

    def open(self) -> None:
        from .tls import tls_args

        s = self.settings
        assoc = self.ae.associate(s.pacs_host, s.pacs_port, ae_title=s.pacs_ae_title,
                                  tls_args=tls_args(s, s.pacs_host))
        if not assoc.is_established:
            if assoc.is_rejected:
                raise PacsError(f"the PACS {destination(s)} rejected the association (check "
                                "its AE title and that it accepts our AE title "
                                f"{s.ae_title})")
            raise PacsError(f"the PACS {destination(s)} cannot be reached (is it running, and "
                            "are the host, port and TLS setting right?)")
        self.assoc = assoc

    def store(self, data: bytes) -> int:
        from io import BytesIO

        import pydicom

        if self.assoc is None or not self.assoc.is_established:
            self.open()
        ds = pydicom.dcmread(BytesIO(data))
        status = self.assoc.send_c_store(ds)
        if "Status" not in status:
            self.assoc = None
            raise PacsError(f"the PACS {destination(self.settings)} did not answer (connection "
                            "lost or timed out)")
        return int(status.Status)

    def close(self) -> None:
        if self.assoc is not None and self.assoc.is_established:
            self.assoc.release()
        self.assoc = None


def send_queued(out_dir: Path, settings: Settings, *, wait_s: float = 0.0,
                auditor=None, sleep: Callable[[float], None] = time.sleep,  # noqa: ANN001
                ) -> tuple[int, str]:
    """Send every queued instance; while the PACS cannot be reached, try again with backoff
    (1, 2, 4, ... s) for up to ``wait_s`` seconds. Returns (instances sent, last error)."""
    require_pacs(settings)
    outbox = Outbox(out_dir, settings.file_mode)
    state = outbox.read()
    outbox.remove_sent_files(state)
    to_send = sorted(state.pending, key=lambda e: (e.patient_id, e.visit, e.kind != "pdf"))
    if not to_send:
        return 0, ""
    where = destination(settings)
    deadline = time.monotonic() + wait_s
    delay = BACKOFF_START_S
    sent, error = 0, ""
    while to_send:
        connection = _Association(settings)
        try:
            while to_send:
                entry = to_send[0]
                status = connection.store(outbox.data(entry))
                if status not in STORED:
                    error = (f"the PACS {where} refused a {SOP_NAMES[entry.kind]} (status "
                             f"0x{status:04X})")
                    outbox.mark_failed([entry], error)
                    to_send.pop(0)
                    continue
                outbox.mark_sent(entry, where)
                _audit(auditor, settings, entry, where, status)
                to_send.pop(0)
                sent += 1
                delay = BACKOFF_START_S
        except PacsError as exc:
            error = str(exc)
            outbox.mark_failed(to_send, error)
            log.warning("PACS: %d results still queued: %s", len(to_send), error)
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                break
            sleep(min(delay, remaining))
            delay = min(delay * 2, BACKOFF_MAX_S)
        finally:
            connection.close()
    if to_send and not error:
        error = "results are still queued"
    return sent, error if outbox.read().pending else ""


def _audit(auditor, settings: Settings, entry: Entry, where: str,  # noqa: ANN001
           status: int) -> None:
    if auditor is None:
        return
    auditor.append("dicom_send", settings.operator, auditor.patient_ref(entry.patient_id), {
        "object": SOP_NAMES[entry.kind], "sop_instance_uid": entry.uid,
        "destination": where, "status": f"0x{status:04X}", "result_digest": entry.digest,
    })


def _send_audited(out_dir: Path, settings: Settings, wait_s: float,
                  audit: bool) -> tuple[int, str]:
    """:func:`send_queued` with each confirmed instance recorded in the audit trail."""
    auditor = None
    try:
        if audit:
            from ..audit import AuditTrail

            auditor = AuditTrail(settings.audit_db, settings.file_mode,
                                 key_path=settings.audit_key)
        return send_queued(out_dir, settings, wait_s=wait_s, auditor=auditor)
    finally:
        if auditor is not None:
            auditor.close()


def _summary(out_dir: Path, settings: Settings, queued: int, sent: int, error: str,
             visit: tuple[str, str] | None = None) -> SendSummary:
    state = Outbox(out_dir).read()
    pending = state.pending
    status = state.status_by_visit().get(visit, "") if visit is not None else ""
    return SendSummary(queued, sent, len(pending),
                       len({(e.patient_id, e.visit) for e in pending}), destination(settings),
                       error if pending else "", status)


def send_results(out_dir: Path, settings: Settings, *, wait_s: float = 0.0,
                 audit: bool = True) -> SendSummary:
    """Queue every screened visit of ``out_dir`` not queued yet and send the queue to the PACS
    (under the output folder's lock; ``patients.csv`` is rewritten with the ``pacs`` column).
    Results that cannot be sent stay queued; nothing is sent twice. A folder without batch
    results but with a queue (the desktop app's report folder) has its queue sent."""
    from ..batch import output_lock

    require_pacs(settings)
    out_dir = Path(out_dir)
    batch = (out_dir / "results.jsonl").is_file()
    if not batch and not Outbox(out_dir).exists():
        raise ConfigError(f"{out_dir} holds no batch results (no results.jsonl) and no PACS "
                          "queue")
    with output_lock(out_dir):
        try:
            queued, held = queue_results(out_dir, settings) if batch else (0, 0)
            sent, error = _send_audited(out_dir, settings, wait_s, audit)
        finally:
            if batch:
                refresh_tables(out_dir, settings)
    return replace(_summary(out_dir, settings, queued, sent, error), held=held)


def patient_visit(result: PatientResult) -> str:
    """The visit of a patient screened in the desktop app: the screening date."""
    return result.patient.screening_date or result.screened_at[:10]


def send_patient(result: PatientResult, out_dir: Path, settings: Settings, *,
                 pdf: bytes | None = None, wait_s: float = 0.0,
                 audit: bool = True) -> SendSummary:
    """Queue one patient screened in the desktop app (its SR and report, the same instances a
    batch makes) in ``out_dir``'s queue and send the queue to the PACS, as :func:`send_results`
    does for a batch: the same queue, retries, audit records and UIDs, so sending the same
    result again sends nothing twice. ``pdf``: the report (built here when None).
    ``status`` of the summary says whether this patient's results are "sent" or "pending"."""
    from ..batch import output_lock
    from ..journal import image_record, patient_record
    from .dicom_out import result_digest

    require_pacs(settings)
    out_dir = Path(out_dir)
    if pdf is None:
        from ..report import report_bytes

        pdf = report_bytes(result, settings)
    visit = patient_visit(result)
    images = [image_record(i, result.patient.patient_id) for i in result.images]
    patient = {**patient_record(result, [i.source for i in result.images], None, visit),
               "patient_sex": result.patient.sex, "accession": result.patient.accession}
    try:
        out_dir.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise OutputError(f"cannot create {out_dir}: {exc.strerror or exc}") from exc
    with output_lock(out_dir):
        outbox = Outbox(out_dir, settings.file_mode)
        queued = 0
        if result_digest(patient, images) not in _queued_digests(outbox):
            sources = [Path(i.source) for i in result.images if Path(i.source).is_file()]
            queued = _queue_visit(outbox, patient, images, pdf, sources, settings)
            if audit:  # the decision, issued to the PACS: its record names the report sent
                from ..audit import record_decision

                record_decision(result, settings, pdf, "queued for the PACS")
        sent, error = _send_audited(out_dir, settings, wait_s, audit)
    return _summary(out_dir, settings, queued, sent, error,
                    (result.patient.patient_id, visit))


def refresh_tables(out_dir: Path, settings: Settings) -> None:
    """Rewrite results.csv and patients.csv (with the ``pacs`` column) from the journal."""
    from ..batch import JOURNAL, Journal, latest_records, write_tables

    images, patients = latest_records(Journal(out_dir / JOURNAL, 0o600).read(repair=False))
    confirmed, _held = visits(out_dir, settings)  # tables of what the audit trail confirms
    kept = {(p["patient_id"], p.get("visit") or "") for p, _ in confirmed}
    write_tables(out_dir, {k: r for k, r in images.items() if k[:2] in kept},
                 {k: r for k, r in patients.items() if k in kept}, settings.file_mode)


def pending_count(out_dir: Path) -> int:
    """Instances waiting in the output folder's queue (0 without a queue)."""
    return len(Outbox(out_dir).read().pending)
