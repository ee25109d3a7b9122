"""The batch journal and the tables made from it.

``results.jsonl`` is the record of a batch: every image and visit record, appended and
fsync'ed once per patient visit (a visit's image records just before its visit record, in one
write). ``results.csv`` and ``patients.csv`` are rewritten atomically from it. Only the main
process of a batch writes here, whatever executor screens the photographs, so each result is
committed once.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import json
import logging
import os
import re
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING

from .atomic import lock_exclusive, write_atomic
from .csv_export import csv_bytes
from .errors import OutputError, OutputLockedError
from .results import Eye, ImageResult, ImageStatus, PatientResult

if TYPE_CHECKING:
    from .batch import InputImage

log = logging.getLogger(__name__)

JOURNAL = "results.jsonl"
RESULTS_CSV = "results.csv"
PATIENTS_CSV = "patients.csv"
RESULT_COLUMNS = ["path", "patient_id", "eye", "status", "reasons", "icdr_grade", "p_referable",
                  "referable", "model_version", "quality_version", "sha256", "visit",
                  "referable_threshold", "manifest_sha256", "model_verified",
                  "colour_converted_from", "taken"]
PATIENT_COLUMNS = ["patient_id", "eyes", "outcome", "decision", "action", "interval", "urgency",
                   "right_grade", "left_grade", "images", "ungradable", "errors", "report",
                   "notes", "visit", "model_verified", "pacs"]

#: A patient's visit: (patient ID, visit), the unit that is decided, journaled and reported.
GroupKey = tuple[str, str]


# ---------------------------------------------------------------------------------------------
# Records


def image_record(result: ImageResult, patient_id: str, source: InputImage | None = None) -> dict:
    """The journal record of one image: :meth:`ImageResult.to_record` plus the patient, the
    visit and the file's size, modification and change times that the screened content had."""
    record = result.to_record()
    return {"kind": "image", "path": record.pop("path"), "patient_id": patient_id,
            "visit": source.visit if source else "",
            "size": source.size if source else None,
            "mtime_ns": source.mtime_ns if source else None,
            "ctime_ns": source.ctime_ns if source else None, **record}


def image_from_record(record: dict) -> ImageResult:
    """Rebuild an ImageResult (without pictures) from its journal record."""
    return ImageResult.from_record(record)


def patient_record(result: PatientResult, paths: list[str], report: str | None,
                   visit: str = "") -> dict:
    grades = {e.eye.value: e.grade for e in result.eyes}
    return {
        "kind": "patient",
        "patient_id": result.patient.patient_id,
        "visit": visit,
        "patient_name": result.patient.name,
        "birth_date": result.patient.birth_date,
        "images": sorted(paths),
        "eyes": "+".join(e.eye.value[0].upper() for e in result.eyes if e.eye is not Eye.UNKNOWN)
                or "?",
        "outcome": result.outcome.value,
        "decision": result.referral.headline,
        "action": result.referral.action,
        "interval": result.referral.interval,
        "urgency": result.referral.urgency,
        "right_grade": grades.get("right"),
        "left_grade": grades.get("left"),
        "image_count": len(paths),
        "ungradable": sum(1 for i in result.images if i.status is ImageStatus.UNGRADABLE),
        "errors": sum(1 for i in result.images if i.status is ImageStatus.ERROR),
        "report": report,
        "notes": list(result.notes),
        "screened_at": result.screened_at,
        "model_sha256": result.model.sha256 if result.model else "",
        "manifest_sha256": result.model.manifest_sha256 if result.model else "",
        "referable_threshold": result.model.threshold if result.model else None,
        "model_verified": result.model.verified if result.model else None,
        # Added later: older records lack them (read with .get). The same keys as the clinic
        # code's visit records (clinic/pacs.py, dicom_out.py, fhir_export.py).
        "patient_sex": result.patient.sex,
        "accession": result.patient.accession,
    }


# ---------------------------------------------------------------------------------------------
# Files


class Journal:
    """Append-only JSON Lines journal with fsync after each patient visit."""

    def __init__(self, path: Path, mode: int) -> None:
        self.path = path
        self.mode = mode
        self.damaged = 0  # damaged records skipped by the last read
        self.damaged_copy: Path | None = None

    def read(self, repair: bool = True) -> list[dict]:
        """All intact records. A damaged record is skipped and counted (``damaged``), never the
        records after it. With ``repair`` (only the run holding the output lock), a copy of a
        damaged journal is kept beside it and an incomplete last line (a write cut short) is
        cut off the file; readers such as ``retina-screen report`` pass ``repair=False`` and
        never change the file."""
        try:
            data = self.path.read_bytes()
        except FileNotFoundError:
            return []
        except OSError as exc:
            raise OutputError(f"cannot read {self.path}: {exc.strerror or exc}") from exc
        *lines, tail = data.split(b"\n")
        records: list[dict] = []
        self.damaged = 0
        for line in lines:
            record = _parse_record(line)
            if record is not None:
                records.append(record)
            elif line.strip():
                self.damaged += 1
        if repair and self.damaged:
            self.damaged_copy = self._keep_copy(data)
            log.warning("journal: %d damaged records skipped; a copy of the damaged journal was "
                        "kept", self.damaged)
        if repair and tail:
            log.warning("journal ended with an incomplete record; it was dropped")
            self._truncate(len(data) - len(tail))
        return records

    def _keep_copy(self, data: bytes) -> Path:
        stamp = dt.datetime.now().strftime("%Y%m%dT%H%M%S")
        copy = self.path.with_name(f"{self.path.name}.damaged-{stamp}")
        write_atomic(copy, data, self.mode, "copy of the damaged journal")
        return copy

    def _truncate(self, length: int) -> None:
        try:
            with open(self.path, "r+b") as handle:
                handle.truncate(length)
                handle.flush()
                os.fsync(handle.fileno())
        except OSError as exc:
            raise OutputError(f"cannot repair {self.path}: {exc.strerror or exc}") from exc

    def rewrite(self, records: list[dict]) -> None:
        payload = "".join(json.dumps(r, ensure_ascii=False) + "\n" for r in records)
        write_atomic(self.path, payload.encode("utf-8"), self.mode)

    def append(self, records: list[dict]) -> None:
        payload = "".join(json.dumps(r, ensure_ascii=False) + "\n" for r in records).encode()
        try:
            fd = os.open(self.path, os.O_WRONLY | os.O_CREAT | os.O_APPEND, self.mode)
            try:
                written = os.write(fd, payload)
                while written < len(payload):
                    written += os.write(fd, payload[written:])
                os.fsync(fd)
            finally:
                os.close(fd)
        except OSError as exc:
            raise OutputError(f"cannot write results in {self.path.parent}: "
                              f"{exc.strerror or exc}") from exc


def _parse_record(line: bytes) -> dict | None:
    """One journal line as a record, None when it is damaged (or blank)."""
    try:
        record = json.loads(line)
    except ValueError:  # includes bytes that are not UTF-8
        return None
    if not isinstance(record, dict) or record.get("kind") not in ("image", "patient") \
            or not isinstance(record.get("patient_id"), str):
        return None
    if record["kind"] == "patient" and not isinstance(record.get("images"), list):
        return None
    if record["kind"] == "image" and not isinstance(record.get("path"), str):
        return None
    return record


def group_key(record: dict) -> GroupKey:
    return (record["patient_id"], record.get("visit") or "")


def latest_records(records: list[dict]) -> tuple[dict[tuple[str, str, str], dict],
                                                 dict[GroupKey, dict]]:
    """Image records (by patient ID, visit and path) and visit records (by patient ID and
    visit) of completed visits, the latest of each winning. A visit's image records are the
    ones written just before its visit record (one append holds both); image records without
    a following visit record (an unfinished visit, or one whose record was damaged) are
    ignored."""
    patients: dict[GroupKey, dict] = {}
    images_of: dict[GroupKey, dict[str, dict]] = {}
    waiting: dict[GroupKey, dict[str, dict]] = {}
    for record in records:
        key = group_key(record)
        if record["kind"] == "image":
            waiting.setdefault(key, {})[record["path"]] = record
            continue
        written = waiting.pop(key, {})
        patients[key] = record
        images_of[key] = {path: written[path] for path in record["images"] if path in written}
    images = {(*key, path): image for key, paths in images_of.items()
              for path, image in paths.items()}
    return images, patients


def _csv_bytes(columns: list[str], rows: list[dict]) -> bytes:
    return csv_bytes(columns, rows)  # formula-leading cells neutralised (csv_export.py)


def _yes_no(value: object) -> str:
    return "" if value is None else ("yes" if value else "no")


def write_tables(out_dir: Path, images: dict[tuple[str, str, str], dict],
                 patients: dict[GroupKey, dict], mode: int) -> None:
    """Rewrite results.csv and patients.csv atomically from the journal's records."""
    result_rows = []
    for key in sorted(images, key=lambda k: (k[2], k[1], k[0])):
        r = images[key]
        ok = r["status"] == "ok"
        result_rows.append({
            "path": r["path"], "patient_id": r["patient_id"], "eye": r["eye"],
            "status": r["status"], "reasons": "; ".join(r["reasons"]),
            "icdr_grade": r["icdr_grade"] if ok else "",
            "p_referable": f"{r['p_referable']:.4f}" if ok else "",
            "referable": ("yes" if r["referable"] else "no") if ok else "",
            "model_version": r["model_version"],
            "quality_version": (r["quality"] or {}).get("version", ""),
            "sha256": r["sha256"],
            "referable_threshold": "" if r.get("referable_threshold") is None
            else r["referable_threshold"],
            "manifest_sha256": r.get("manifest_sha256", ""),
            "model_verified": _yes_no(r.get("model_verified")),
            "visit": r.get("visit") or "",
            "colour_converted_from": r.get("colour_profile") or "",
            "taken": r.get("taken") or "",
        })
    patient_rows = []
    from .clinic.outbox import pacs_status  # "pending"/"sent" per visit (clinic/outbox.py)

    pacs = pacs_status(out_dir)
    for key in sorted(patients):
        p = patients[key]
        patient_rows.append({
            **{k: p.get(k) for k in ("patient_id", "eyes", "outcome", "decision", "action",
                                     "interval", "urgency", "ungradable", "errors", "report")},
            "right_grade": "" if p.get("right_grade") is None else p["right_grade"],
            "left_grade": "" if p.get("left_grade") is None else p["left_grade"],
            "images": p["image_count"], "notes": " | ".join(p.get("notes", [])),
            "model_verified": _yes_no(p.get("model_verified")),
            "visit": p.get("visit") or "", "pacs": pacs.get(key, ""),
        })
    write_atomic(out_dir / RESULTS_CSV, _csv_bytes(RESULT_COLUMNS, result_rows), mode, "results")
    write_atomic(out_dir / PATIENTS_CSV, _csv_bytes(PATIENT_COLUMNS, patient_rows), mode,
                 "results")


@contextlib.contextmanager
def output_lock(out_dir: Path) -> Iterator[None]:
    """Exclusive lock on the output folder; a second run refuses with OutputLockedError."""
    lock_path = out_dir / ".lock"
    try:
        fd = os.open(lock_path, os.O_RDWR | os.O_CREAT, 0o600)
    except OSError as exc:
        raise OutputError(f"cannot use output folder {out_dir}: {exc.strerror or exc}") from exc
    try:
        try:
            lock_exclusive(fd, wait=False)
        except OSError as exc:
            raise OutputLockedError(
                f"another screening run is already writing to {out_dir}; wait for it to finish "
                "or choose another output folder") from exc
        os.ftruncate(fd, 0)
        os.write(fd, f"{os.getpid()}\n".encode())
        yield
    finally:
        os.close(fd)



_STALE_TEMP = re.compile(r"^\..+\.tmp$")  # what write_atomic's temporary files look like


def remove_stale_temporaries(out_dir: Path) -> None:
    """Temporary files that a killed run left behind (atomic writes never finished). Only
    called while holding the output lock, so no other run is writing them."""
    for folder in (out_dir, out_dir / "reports"):
        with contextlib.suppress(OSError):
            for entry in os.scandir(folder):
                if entry.is_file(follow_symlinks=False) and _STALE_TEMP.match(entry.name):
                    with contextlib.suppress(OSError):
                        os.unlink(entry.path)


def load_journal(journal: Journal) -> tuple[dict, dict]:
    """The completed visits in the journal; unfinished, superseded and damaged records are
    dropped from the file (a copy of a damaged journal is kept first)."""
    records = journal.read(repair=True)
    done_images, done_patients = latest_records(records)
    if journal.damaged or len(done_images) + len(done_patients) != len(records):
        kept_patients = {id(r) for r in done_patients.values()}
        kept_images = {id(r) for r in done_images.values()}
        journal.rewrite([r for r in records if id(r) in kept_patients | kept_images])
    return done_images, done_patients
