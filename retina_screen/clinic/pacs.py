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
from dataclasses import dataclass
from pathlib import Path

from ..errors import ConfigError, RetinaScreenError
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


def visits(out_dir: Path) -> list[tuple[dict, list[dict]]]:
    """Every completed visit in the output folder's journal: (visit record, image records)."""
    from ..batch import JOURNAL, Journal, latest_records

    journal = Journal(Path(out_dir) / JOURNAL, 0o600)
    images, patients = latest_records(journal.read(repair=False))
    by_visit: dict[tuple[str, str], list[dict]] = {}
    for (patient_id, visit, _path), record in images.items():
        by_visit.setdefault((patient_id, visit), []).append(record)
    return [(patients[key], by_visit.get(key, [])) for key in sorted(patients)]


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


def queue_results(out_dir: Path, settings: Settings) -> int:
    """Queue the DICOM results of every visit not queued yet; returns instances queued."""
    from .dicom_out import build_instances, dataset_bytes, result_digest, source_study

    out_dir = Path(out_dir)
    outbox = Outbox(out_dir, settings.file_mode)
    state = outbox.read()
    # A visit is queued when its instances are sent or wait on disk (a missing file: build
    # them again; the same UIDs come out).
    known = state.digests() - {e.digest for e in state.pending
                               if not (outbox.folder / e.file).is_file()}
    queued = 0
    for patient, images in visits(out_dir):
        digest = result_digest(patient, images)
        if digest in known:
            continue
        report = out_dir / patient["report"] if patient.get("report") else None
        pdf = report.read_bytes() if report is not None and report.is_file() else None
        source = source_study(source_paths(out_dir, images))
        instances = build_instances(patient, images, pdf, source, settings)
        # The SR last: its queued event marks the visit as queued (digests() above).
        for kind, ds in (("pdf", instances.pdf), ("sr", instances.sr)):
            if ds is None:
                continue
            outbox.put(ds.SOPInstanceUID, patient["patient_id"], patient.get("visit") or "",
                       kind, digest, dataset_bytes(ds))
            queued += 1
    return queued


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


def send_results(out_dir: Path, settings: Settings, *, wait_s: float = 0.0,
                 audit: bool = True) -> SendSummary:
    """Queue every screened visit of ``out_dir`` not queued yet and send the queue to the PACS
    (under the output folder's lock; ``patients.csv`` is rewritten with the ``pacs`` column).
    Results that cannot be sent stay queued; nothing is sent twice."""
    from ..batch import output_lock

    require_pacs(settings)
    out_dir = Path(out_dir)
    if not (out_dir / "results.jsonl").is_file():
        raise ConfigError(f"{out_dir} holds no batch results (no results.jsonl)")
    auditor = None
    with output_lock(out_dir):
        try:
            queued = queue_results(out_dir, settings)
            if audit:
                from ..audit import AuditTrail

                auditor = AuditTrail(settings.audit_db, settings.file_mode,
                                     key_path=settings.audit_key)
            sent, error = send_queued(out_dir, settings, wait_s=wait_s, auditor=auditor)
        finally:
            if auditor is not None:
                auditor.close()
            refresh_tables(out_dir, settings)
    state = Outbox(out_dir).read()
    pending = state.pending
    return SendSummary(queued, sent, len(pending),
                       len({(e.patient_id, e.visit) for e in pending}), destination(settings),
                       error if pending else "")


def refresh_tables(out_dir: Path, settings: Settings) -> None:
    """Rewrite results.csv and patients.csv (with the ``pacs`` column) from the journal."""
    from ..batch import JOURNAL, Journal, latest_records, write_tables

    images, patients = latest_records(Journal(out_dir / JOURNAL, 0o600).read(repair=False))
    write_tables(out_dir, images, patients, settings.file_mode)


def pending_count(out_dir: Path) -> int:
    """Instances waiting in the output folder's queue (0 without a queue)."""
    return len(Outbox(out_dir).read().pending)
