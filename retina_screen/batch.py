"""Batch screening of a camera export folder: resumable, parallel, crash-safe.

Layout of the output folder::

    results.jsonl   the journal: every image and patient record, appended and fsync'ed
    results.csv     one row per input image (rewritten atomically from the journal)
    patients.csv    one row per patient with the decision and the interval
    reports/        one PDF per patient (atomic writes)
    run.json        what was screened with what (input folder, model)
    .lock           held while a run is in progress (a second run refuses)

The unit of completion is a patient's visit: photographs are grouped by patient ID and visit
(the DICOM study date, else the Study Instance UID; for other files the nearest date-named folder
in the path, such as ``2026-11-29/``, else the file's modification date), and each visit is
decided on its own photographs only. A visit's image records, its report and its visit record
are written together once all its photographs are screened. After an interruption (Ctrl-C,
kill, power loss) the same command resumes: an incomplete last line is cut off, records of a
visit without its visit record are discarded and that visit is screened again; nothing is lost,
nothing appears twice. A damaged record in the middle of the journal is skipped and reported,
and a copy of the damaged journal is kept.

Photographs are known by content: a visit is screened again when a photograph was added,
removed or changed (size and modification time as a fast path, the sha256 to confirm), and
photographs that could not be read are tried again on every new run. An output folder belongs
to one input folder; another input folder is refused unless the operator asks to continue.
In watch mode a photograph is screened once its size and content have stayed the same for the
settling time, whatever its time stamps say.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import hashlib
import json
import logging
import multiprocessing as mp
import os
import re
import threading
import time
from collections import Counter
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field, replace
from pathlib import Path

import cv2
import numpy as np

from . import __version__
from .atomic import make_private_folder, write_atomic
from .csv_export import csv_bytes
from .decision import combine_patient, load_referral_table
from .errors import (
    ConfigError,
    OtherInputFolderError,
    OutputError,
    OutputLockedError,
    RetinaScreenError,
)
from .loading import DicomInfo, is_dicom_file, read_dicom_info
from .naming import compile_pattern, date_in_text, display_text, parse_name, safe_file_stem
from .quality import load_thresholds
from .results import (
    Eye,
    Grading,
    ImageResult,
    ImageStatus,
    Outcome,
    PatientInfo,
    PatientResult,
    QualityCheck,
    QualityReport,
)
from .settings import Settings

log = logging.getLogger(__name__)

IMAGE_EXTENSIONS = {".jpg", ".jpeg", ".png", ".tif", ".tiff", ".bmp", ".dcm", ".dicom", ".gif"}
JOURNAL = "results.jsonl"
RESULTS_CSV = "results.csv"
PATIENTS_CSV = "patients.csv"
RESULT_COLUMNS = ["path", "patient_id", "eye", "status", "reasons", "icdr_grade", "p_referable",
                  "referable", "model_version", "quality_version", "sha256", "visit",
                  "referable_threshold", "manifest_sha256", "model_verified"]
PATIENT_COLUMNS = ["patient_id", "eyes", "outcome", "decision", "action", "interval", "urgency",
                   "right_grade", "left_grade", "images", "ungradable", "errors", "report",
                   "notes", "visit", "model_verified", "pacs"]
REPORT_THUMBNAIL_SIDE = 320
WORKER_TASKS_BEFORE_RECYCLE = 100
CSV_REFRESH_SECONDS = 2.0
FUTURE_TOLERANCE_S = 120.0  # a file time further ahead than this: the camera's clock is fast
WORKER_CRASH_LOG = "worker-crashes.log"
WORKER_CHECK_S = 2.0  # how often the main process checks that busy workers are alive
WORKER_LOST_S = 10.0  # a busy worker gone this long without its result: the run stops

#: A patient's visit: (patient ID, visit), the unit that is decided, journaled and reported.
GroupKey = tuple[str, str]


@dataclass(frozen=True)
class InputImage:
    path: Path  # absolute, the file system's own name (used to open the file)
    rel: str  # relative to the input folder, '/'-separated, printable (the result's key)
    patient_id: str
    eye: Eye
    visit: str = ""  # see visit_of()
    size: int = -1  # at scan time (-1: could not be read)
    mtime_ns: int = 0
    patient_name: str = ""  # from DICOM tags
    birth_date: str = ""
    matched_pattern: bool = False  # a custom --pattern matched the file name

    @property
    def key(self) -> GroupKey:
        return (self.patient_id, self.visit)


@dataclass(frozen=True)
class BatchProgress:
    done: int  # images finished in this folder (including earlier runs)
    total: int
    errors: int
    ungradable: int
    rate: float  # images per second in this run
    eta_s: float | None


@dataclass(frozen=True)
class PatientRow:
    patient_id: str
    eyes: str  # e.g. "R+L"
    outcome: Outcome
    headline: str
    interval: str
    report: Path | None
    images: int = 0
    visit: str = ""


@dataclass(frozen=True)
class BatchSummary:
    images: int
    ok: int
    ungradable: int
    errors: int
    patients: tuple[PatientRow, ...]
    out_dir: Path
    results_csv: Path
    patients_csv: Path
    journal: Path
    cancelled: bool = False
    resumed: int = 0  # images already screened by an earlier run
    error_files: tuple[tuple[str, str], ...] = field(default=())  # (path, reason)
    #: Photographs found, and how many of their names matched --pattern (None: no pattern).
    found: int = 0
    pattern_matched: int | None = None
    #: Patient visits with photographs of one eye only, and those of them that look like one
    #: patient split in two by the file naming (IDs, for the operator; never logged).
    one_eyed: tuple[str, ...] = ()
    split_by_naming: tuple[str, ...] = ()
    #: Photographs whose file time lies in the future (camera clock fast); screened anyway.
    future_timestamps: int = 0
    #: Photographs held back in watch mode because they were still changing.
    waiting: int = 0
    #: Damaged journal records skipped, and the copy of the damaged journal that was kept.
    damaged_records: int = 0
    damaged_copy: Path | None = None


# ---------------------------------------------------------------------------------------------
# Scanning and grouping


def visit_of(path: Path, info: DicomInfo | None, mtime_ns: int) -> str:
    """The visit a photograph belongs to: the DICOM study date (else acquisition date, else the
    Study Instance UID); otherwise the nearest folder of its path named with a date
    (``2026-11-29``, ``20261129``); otherwise the date of the file's modification time."""
    if info is not None:
        date = info.study_date or info.acquisition_date
        if date:
            return date
        if info.study_uid:
            return f"study {info.study_uid}"
    for folder in reversed(path.parent.parts):
        date = date_in_text(folder)
        if date:
            return date
    return dt.datetime.fromtimestamp(mtime_ns / 1e9).date().isoformat()


def _is_candidate(path: Path) -> bool:
    suffix = path.suffix.lower()
    if suffix in IMAGE_EXTENSIONS:
        return True
    # Only regular files are opened here: opening a named pipe would block the scan.
    return suffix == "" and path.is_file() and is_dicom_file(path)


def _input_image(path: Path, input_dir: Path, regex: re.Pattern[str] | None) -> InputImage:
    suffix = path.suffix.lower()
    try:
        stat = path.stat()
        size, mtime_ns = stat.st_size, stat.st_mtime_ns
    except OSError:
        size, mtime_ns = -1, time.time_ns()
    info = read_dicom_info(path) if suffix in (".dcm", ".dicom", "") and path.is_file() else None
    parsed = parse_name(display_text(path.stem), regex)
    patient = display_text(info.patient_id) if info and info.patient_id else parsed.patient
    eye = Eye(info.laterality) if info and info.laterality else parsed.eye
    rel = display_text(path.relative_to(input_dir).as_posix())
    return InputImage(path, rel, patient, eye, visit_of(path, info, mtime_ns), size, mtime_ns,
                      (info.patient_name or "") if info else "",
                      (info.birth_date or "") if info else "", parsed.matched_pattern)


def scan_folder(input_dir: Path, pattern: str | None = None,
                exclude: Path | None = None) -> list[InputImage]:
    """Every candidate image under ``input_dir`` (recursive, symlinked folders not followed),
    with patient, eye and visit from DICOM tags, the path and the file name. Sorted by path.
    Any file name works: bytes that are not UTF-8 are shown escaped (``M\\xfcller``)."""
    regex = compile_pattern(pattern) if pattern else None
    input_dir = input_dir.resolve()
    exclude_resolved = exclude.resolve() if exclude else None
    found: list[InputImage] = []
    for root, dirs, files in os.walk(input_dir, followlinks=False, onerror=lambda e: None):
        root_path = Path(root)
        dirs[:] = sorted(d for d in dirs if not d.startswith(".")
                         and (exclude_resolved is None or (root_path / d).resolve()
                              != exclude_resolved))
        for name in sorted(files):
            path = root_path / name
            if not name.startswith(".") and _is_candidate(path):
                found.append(_input_image(path, input_dir, regex))
    return found


def report_stems(patient_ids: set[str]) -> dict[str, str]:
    """A report file name (without extension) for each patient ID, distinct for distinct IDs.

    The name is the sanitised ID; where two IDs sanitise to the same name (``a/b`` and ``a_b``,
    ``Zoë`` and ``Zoe``, or ``P1`` and ``p1`` on a case-insensitive disk), each of them gets a
    short hash of its ID appended, so one patient's report never overwrites another's.
    """
    by_name: dict[str, set[str]] = {}
    for patient_id in patient_ids:
        by_name.setdefault(safe_file_stem(patient_id).lower(), set()).add(patient_id)
    stems = {}
    for patient_id in patient_ids:
        stem = safe_file_stem(patient_id)
        if len(by_name[stem.lower()]) > 1:
            stem = f"{stem}-{_short_hash(patient_id)}"
        stems[patient_id] = stem
    return stems


def _short_hash(text: str) -> str:
    return hashlib.sha256(text.encode("utf-8", "surrogatepass")).hexdigest()[:10]


def report_names(keys: set[GroupKey], taken: dict[GroupKey, str]) -> dict[GroupKey, str]:
    """``reports/<name>.pdf`` for each patient visit, distinct for distinct visits; names
    already given (``taken``) are kept. A patient with several visits gets the visit in the
    name (``P1_2026-11-29.pdf``)."""
    keys = set(keys) | set(taken)
    stems = report_stems({pid for pid, _ in keys})
    visits = Counter(pid for pid, _ in keys)
    names = dict(taken)
    used = {name.lower() for name in taken.values()}
    for pid, visit in sorted(keys - set(taken)):
        stem = stems[pid]
        if visits[pid] > 1 and visit:
            stem += "_" + safe_file_stem(visit, "visit", 40)
        name = f"reports/{stem}.pdf"
        if name.lower() in used:
            name = f"reports/{stem}-{_short_hash(pid + chr(0) + visit)}.pdf"
        used.add(name.lower())
        names[(pid, visit)] = name
    return names


def group_by_patient(images: list[InputImage]) -> dict[GroupKey, list[InputImage]]:
    """Photographs by patient visit (see :func:`visit_of`): never one visit's photographs in
    another visit's decision."""
    groups: dict[GroupKey, list[InputImage]] = {}
    for image in images:
        groups.setdefault(image.key, []).append(image)
    return groups


def one_eyed_visits(groups: dict[GroupKey, list[InputImage]]) -> tuple[list[str], list[str]]:
    """Patient IDs of visits without both a right and a left photograph, and those of them
    that look like one patient split in two by the file names (another one-eyed visit on the
    same day whose ID shares a long beginning)."""
    one_eyed = {key: {i.eye for i in images} for key, images in groups.items()
                if not {Eye.RIGHT, Eye.LEFT} <= {i.eye for i in images}}
    split = set()
    keys = sorted(one_eyed, key=lambda k: (k[1], k[0].lower()))  # alike IDs end up adjacent
    for (pid, visit), (other, other_visit) in zip(keys, keys[1:], strict=False):
        common = len(os.path.commonprefix([pid.lower(), other.lower()]))
        if visit == other_visit and common >= 4 and common * 2 >= min(len(pid), len(other)):
            split.update((pid, other))
    return sorted({pid for pid, _ in one_eyed}), sorted(split)


def sha256_of_file(path: Path) -> str | None:
    """The sha256 of a file's bytes (what the loader records), None if it cannot be read."""
    digest = hashlib.sha256()
    try:
        with open(path, "rb") as handle:
            for block in iter(lambda: handle.read(1 << 20), b""):
                digest.update(block)
    except OSError:
        return None
    return digest.hexdigest()


class ContentCache:
    """sha256 of files, remembered by (path, size, modification time) for one watch session."""

    def __init__(self) -> None:
        self._known: dict[tuple[Path, int, int], str | None] = {}

    def sha256(self, image: InputImage) -> str | None:
        key = (image.path, image.size, image.mtime_ns)
        if key not in self._known:
            self._known[key] = sha256_of_file(image.path)
        return self._known[key]


class StabilityTracker:
    """Watch mode: a photograph is ready once its size and content hash have stayed the same for
    ``settle_s`` seconds of this process's monotonic clock. File times are never compared with
    the clock, so a camera whose clock is wrong, or a copy that keeps an old time, cannot make a
    half-written file look finished."""

    def __init__(self, settle_s: float) -> None:
        self.settle_s = settle_s
        self._seen: dict[Path, tuple[tuple[int, str | None], float]] = {}

    def ready(self, image: InputImage) -> bool:
        if self.settle_s <= 0:
            return True
        signature = (image.size, sha256_of_file(image.path))
        now = time.monotonic()
        previous = self._seen.get(image.path)
        if previous is None or previous[0] != signature:
            self._seen[image.path] = (signature, now)
            return False
        return now - previous[1] >= self.settle_s


# ---------------------------------------------------------------------------------------------
# Records


def image_record(result: ImageResult, patient_id: str, source: InputImage | None = None) -> dict:
    """The journal record of one image: everything, JSON-serialisable. ``source``: the scanned
    file (its visit, and the size and modification time that the screened content had)."""
    grading = result.grading
    quality = result.quality
    return {
        "kind": "image",
        "path": result.source,
        "patient_id": patient_id,
        "visit": source.visit if source else "",
        "size": source.size if source else None,
        "mtime_ns": source.mtime_ns if source else None,
        "eye": result.eye.value,
        "status": result.status.value,
        "reasons": list(result.reasons),
        "icdr_grade": grading.grade if grading else None,
        "p_referable": round(grading.p_referable, 6) if grading else None,
        "referable": grading.referable if grading else None,
        "probabilities": [round(p, 6) for p in grading.probabilities] if grading else None,
        "quality": None if quality is None else {
            "version": quality.thresholds_version, "is_fundus": quality.is_fundus,
            "checks": [{"name": c.name, "value": c.value, "threshold": c.threshold,
                        "passed": c.passed, "reason": c.reason} for c in quality.checks],
        },
        "sha256": result.sha256,
        "width": result.width,
        "height": result.height,
        "error": result.error,
        "model_version": result.model.version if result.model else "",
        "model_sha256": result.model.sha256 if result.model else "",
        "referable_threshold": result.model.threshold if result.model else None,
        "manifest_sha256": result.model.manifest_sha256 if result.model else "",
        "model_verified": result.model.verified if result.model else None,
    }


def image_from_record(record: dict) -> ImageResult:
    """Rebuild an ImageResult (without pictures) from its journal record."""
    quality = None
    if record.get("quality"):
        q = record["quality"]
        quality = QualityReport(
            tuple(QualityCheck(c["name"], c["value"], c["threshold"], c["passed"], c["reason"])
                  for c in q["checks"]), q["is_fundus"], q["version"])
    grading = None
    if record.get("probabilities") is not None:
        grading = Grading(tuple(record["probabilities"]), record["p_referable"],
                          bool(record["referable"]))
    return ImageResult(record["path"], Eye(record["eye"]), ImageStatus(record["status"]),
                       record.get("sha256", ""), quality, grading, record.get("error", ""),
                       record.get("width", 0), record.get("height", 0))


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
    import fcntl

    lock_path = out_dir / ".lock"
    try:
        fd = os.open(lock_path, os.O_RDWR | os.O_CREAT, 0o600)
    except OSError as exc:
        raise OutputError(f"cannot use output folder {out_dir}: {exc.strerror or exc}") from exc
    try:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError as exc:
            raise OutputLockedError(
                f"another screening run is already writing to {out_dir}; wait for it to finish "
                "or choose another output folder") from exc
        os.ftruncate(fd, 0)
        os.write(fd, f"{os.getpid()}\n".encode())
        yield
    finally:
        os.close(fd)


# ---------------------------------------------------------------------------------------------
# Workers

_worker_screener = None
_worker_started = None  # where a worker says which visit it starts (a mp.Queue)


def _worker_init(settings: Settings, log_queue=None, started=None) -> None:  # noqa: ANN001
    global _worker_screener, _worker_started
    from .engine import Screener
    from .inference import GradingModel

    if log_queue is not None:
        _worker_logging(settings, log_queue)
    _worker_started = started
    cv2.setNumThreads(1)
    model = GradingModel(settings.model, threads=1,
                         allow_unverified=settings.allow_unverified_model)
    _worker_screener = Screener(settings, model=model, threads=1)


def _worker_logging(settings: Settings, log_queue) -> None:  # noqa: ANN001 - a mp.Queue
    """In a worker process: log records go to the main process's handlers (the log file) through
    ``log_queue``; a hard crash (segfault, abort) writes its traceback to the crash log in the
    log folder."""
    import faulthandler
    import logging.handlers

    root = logging.getLogger()
    for handler in list(root.handlers):
        root.removeHandler(handler)
    root.addHandler(logging.handlers.QueueHandler(log_queue))
    root.setLevel(logging.INFO)
    with contextlib.suppress(OSError):
        make_private_folder(Path(settings.log_dir))
        fd = os.open(Path(settings.log_dir) / WORKER_CRASH_LOG,
                     os.O_WRONLY | os.O_CREAT | os.O_APPEND, settings.file_mode)
        faulthandler.enable(file=os.fdopen(fd, "a"), all_threads=True)


def _shrink(image: np.ndarray | None) -> np.ndarray | None:
    if image is None:
        return None
    return cv2.resize(image, (REPORT_THUMBNAIL_SIDE, REPORT_THUMBNAIL_SIDE),
                      interpolation=cv2.INTER_AREA)


def _screen_one(path: str, rel: str, eye: str, keep_display: bool) -> ImageResult:
    assert _worker_screener is not None
    try:
        result = _worker_screener.screen_image(Path(path), Eye(eye), source=rel,
                                               keep_display=keep_display)
    except Exception as exc:  # never let one file stop the run
        log.exception("unexpected failure screening an image")
        return ImageResult(rel, Eye(eye), ImageStatus.ERROR,
                           error=f"internal error while screening ({type(exc).__name__})")
    if result.display_image is not None:
        result = replace(result, display_image=_shrink(result.display_image))
    return result


@dataclass(frozen=True)
class _PatientTask:
    patient_id: str
    images: tuple[tuple[str, str, str], ...]  # (absolute path, relative path, eye)
    report_path: str | None  # where the worker writes the PDF; None: no report
    visit: str = ""
    patient_name: str = ""  # from DICOM tags, printed on the report
    birth_date: str = ""

    @property
    def key(self) -> GroupKey:
        return (self.patient_id, self.visit)


def _patient_info(patient_id: str, name: str, birth_date: str, screened_at: str) -> PatientInfo:
    return PatientInfo(patient_id=patient_id, name=name, birth_date=birth_date,
                       screening_date=screened_at[:10])


def _worker_patient(task: _PatientTask) -> tuple[GroupKey, tuple[ImageResult, ...], str]:
    """Screen one patient visit's photographs, decide, and write its report, in a worker.

    Returns the image results without pictures (so little crosses between processes and the
    main process holds no images) and the screening time used, from which the main process
    rebuilds the identical decision for the journal and the audit trail.
    """
    from .engine import now_iso
    from .report import build_report

    assert _worker_screener is not None
    if _worker_started is not None:
        _worker_started.put((task.key, os.getpid()))
    started = time.monotonic()
    keep = task.report_path is not None
    results = [_screen_one(path, rel, eye, keep) for path, rel, eye in task.images]
    screened_at = now_iso()
    if task.report_path is not None:
        decision = _worker_screener.decide(
            _patient_info(task.patient_id, task.patient_name, task.birth_date, screened_at),
            results, screened_at)
        try:
            build_report(decision, Path(task.report_path), _worker_screener.settings)
        except RetinaScreenError:
            raise
        except Exception as exc:  # report bugs must stop the run, not lose results silently
            log.exception("report could not be built")
            raise OutputError(f"report could not be built ({type(exc).__name__})") from exc
    stripped = tuple(replace(r, display_image=None) for r in results)
    del results
    _release_memory()  # cycles and heap fragmentation otherwise grow each worker by ~100 MB
    log.info("worker %d screened a visit: %d photographs in %.2f s", os.getpid(),
             len(stripped), time.monotonic() - started)
    return task.key, stripped, screened_at


class _InlinePool:
    """The same interface as multiprocessing's pool, in this process (workers=1)."""

    def __init__(self, settings: Settings) -> None:
        _worker_init(settings)

    def results(self, tasks: list[_PatientTask]) -> Iterator[tuple]:
        return (_worker_patient(task) for task in tasks)

    def terminate(self) -> None:
        pass

    def close(self) -> None:
        pass

    def join(self) -> None:
        pass


class _ProcessPool:
    """Worker processes whose log records reach this process's log handlers."""

    def __init__(self, settings: Settings, count: int) -> None:
        import logging.handlers

        context = mp.get_context("spawn" if os.name == "nt" else "forkserver")
        self.queue = context.Queue()
        self.started = context.Queue()
        self.listener = logging.handlers.QueueListener(
            self.queue, *logging.getLogger().handlers, respect_handler_level=True)
        self.listener.start()
        # Recycled now and then, so that caches (fonts, images) cannot grow without bound.
        self.pool = context.Pool(count, initializer=_worker_init,
                                 initargs=(settings, self.queue, self.started),
                                 maxtasksperchild=WORKER_TASKS_BEFORE_RECYCLE)
        self.running: dict[GroupKey, int] = {}  # visit -> the worker screening it
        self.suspect: dict[GroupKey, float] = {}  # visits whose worker is gone, since when

    def results(self, tasks: list[_PatientTask]) -> Iterator[tuple]:
        """The workers' results in task order. A worker that dies in the middle of a visit
        (killed, a crash in native code) would leave the pool waiting for ever: that stops
        the run with an error instead (what was screened is kept; run again to resume)."""
        iterator = self.pool.imap(_worker_patient, tasks, chunksize=1)
        while True:
            try:
                item = iterator.next(timeout=WORKER_CHECK_S)
            except StopIteration:
                return
            except mp.TimeoutError:
                self._check_workers()
                continue
            self._drain()
            self.running.pop(item[0], None)
            self.suspect.pop(item[0], None)
            yield item

    def _drain(self) -> None:
        import queue

        with contextlib.suppress(queue.Empty):
            while True:
                key, pid = self.started.get_nowait()
                self.running[key] = pid

    def _check_workers(self) -> None:
        self._drain()
        now = time.monotonic()
        for key, pid in self.running.items():
            try:
                os.kill(pid, 0)
                continue
            except ProcessLookupError:
                pass
            except OSError:
                continue  # exists, not ours to signal
            # Its result may still be on its way: give it a moment before calling it lost.
            if now - self.suspect.setdefault(key, now) > WORKER_LOST_S:
                log.error("worker %d ended while screening a visit", pid)
                raise RetinaScreenError(
                    "a worker process stopped unexpectedly while screening (its traceback, if "
                    f"any, is in {WORKER_CRASH_LOG} in the log folder); what was screened is "
                    "saved: run the same command again to resume")

    def terminate(self) -> None:
        self.pool.terminate()

    def close(self) -> None:
        self.pool.close()

    def join(self) -> None:
        self.pool.join()
        self.listener.stop()
        self.queue.close()
        self.started.close()


# ---------------------------------------------------------------------------------------------
# The run


def _release_memory(collect: bool = True) -> None:
    """Give freed memory back to the operating system."""
    if collect:
        import gc

        gc.collect()
    with contextlib.suppress(OSError, AttributeError):
        import ctypes

        ctypes.CDLL("libc.so.6").malloc_trim(0)


def _read_run_file(out_dir: Path) -> dict:
    try:
        previous = json.loads((out_dir / "run.json").read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return {}
    return previous if isinstance(previous, dict) else {}


def check_input_folder(out_dir: Path, input_dir: Path, allow_other_input: bool = False) -> None:
    """Refuse an output folder that holds results of another input folder, unless the operator
    asked to continue it with this one. Reads only."""
    previous = _read_run_file(out_dir)
    known = [*previous.get("input_dirs", []), previous.get("input_dir")]
    known = [k for k in known if k]
    if not known or str(input_dir.resolve()) in known or allow_other_input:
        return
    raise OtherInputFolderError(
        f"{out_dir} holds the results of another input folder ({known[-1]}); choose a new "
        "output folder for this one, or continue this output folder with it on purpose "
        "(command line: --continue)")


def _check_run_file(out_dir: Path, input_dir: Path, model_sha: str, mode: int,
                    manifest_sha: str = "", allow_other_input: bool = False) -> None:
    previous = _read_run_file(out_dir)
    if previous.get("model_sha256") and previous["model_sha256"] != model_sha:
        raise OutputError(
            f"{out_dir} holds results from another model version; choose a new output "
            "folder so that results from different models are not mixed")
    if previous.get("manifest_sha256") and previous["manifest_sha256"] != manifest_sha:
        raise OutputError(
            f"{out_dir} holds results made with another model manifest (e.g. another "
            "threshold); choose a new output folder so that results are not mixed")
    check_input_folder(out_dir, input_dir, allow_other_input)
    inputs = [k for k in [*previous.get("input_dirs", []), previous.get("input_dir")] if k]
    write_atomic(out_dir / "run.json", json.dumps({
        "input_dir": str(input_dir),
        "input_dirs": sorted({*inputs, str(input_dir)}),
        "model_sha256": model_sha, "app_version": __version__,
        "manifest_sha256": manifest_sha,
    }, indent=2).encode(), mode)


@dataclass(frozen=True)
class _Options:
    """How a run goes (everything except what is screened and where)."""

    pattern: str | None = None
    workers: int | None = None
    reports: bool = True
    progress: Callable[[BatchProgress], None] | None = None
    on_patient: Callable[[PatientRow], None] | None = None
    cancel: threading.Event | None = None
    audit: bool = True
    retry_errors: bool = True
    stability: StabilityTracker | None = None
    hashes: ContentCache | None = None


def _check_input(input_dir: Path) -> None:
    if input_dir.is_file():
        raise ConfigError(f"{input_dir} is a file, not a folder: give the folder the camera "
                          "exports its photographs to")
    if not input_dir.is_dir():
        raise ConfigError(f"input folder not found: {input_dir}")


def run_batch(input_dir: Path, out_dir: Path, settings: Settings, *, pattern: str | None = None,
              workers: int | None = None, reports: bool = True,
              progress: Callable[[BatchProgress], None] | None = None,
              on_patient: Callable[[PatientRow], None] | None = None,
              cancel: threading.Event | None = None, audit: bool = True,
              allow_other_input: bool = False, allow_empty: bool = False,
              retry_errors: bool = True, stability: StabilityTracker | None = None,
              hashes: ContentCache | None = None) -> BatchSummary:
    """Screen every photograph under ``input_dir`` into ``out_dir`` (see the module docstring).

    Raises :class:`RetinaScreenError` subclasses only when the run itself cannot proceed (input
    folder missing, a file or without photographs, output folder of another input folder,
    output not writable or locked, model missing or modified); then nothing is created.
    ``allow_other_input``: continue an output folder of another input folder on purpose.
    ``retry_errors``: screen again photographs that could not be read (watch passes after the
    first only retry those that changed). ``stability``: watch mode's settling check.
    """
    input_dir = Path(input_dir)
    out_dir = Path(out_dir)
    _check_input(input_dir)
    if (out_dir / "run.json").exists():
        check_input_folder(out_dir, input_dir, allow_other_input)
    manifest_path = Path(settings.model)
    # Verify the model before anything is written (GradingModel checks hashes and names, and
    # that it is a trusted model or unverified models are allowed).
    from .inference import GradingModel

    manifest = GradingModel(manifest_path, threads=1,
                            allow_unverified=settings.allow_unverified_model).manifest
    _release_memory()
    scanned = scan_folder(input_dir, pattern, exclude=out_dir)
    if not scanned and not allow_empty:
        raise ConfigError(
            f"no photographs found in {input_dir} (looked for "
            f"{', '.join(sorted(IMAGE_EXTENSIONS))} and DICOM files); nothing was screened")
    try:
        out_dir.mkdir(mode=0o700, parents=True, exist_ok=True)
        (out_dir / "reports").mkdir(mode=0o700, exist_ok=True)
    except OSError as exc:
        raise OutputError(f"cannot create output folder {out_dir}: {exc.strerror or exc}") \
            from exc
    options = _Options(pattern, workers, reports, progress, on_patient, cancel, audit,
                       retry_errors, stability, hashes)
    with output_lock(out_dir):
        _check_run_file(out_dir, input_dir.resolve(), manifest.sha256, settings.file_mode,
                        manifest.manifest_sha256, allow_other_input)
        return _run_locked(input_dir, out_dir, settings, manifest, scanned, options)


_STALE_TEMP = re.compile(r"^\..+\.tmp$")  # what write_atomic's temporary files look like


def _remove_stale_temporaries(out_dir: Path) -> None:
    """Temporary files that a killed run left behind (atomic writes never finished). Only
    called while holding the output lock, so no other run is writing them."""
    for folder in (out_dir, out_dir / "reports"):
        with contextlib.suppress(OSError):
            for entry in os.scandir(folder):
                if entry.is_file(follow_symlinks=False) and _STALE_TEMP.match(entry.name):
                    with contextlib.suppress(OSError):
                        os.unlink(entry.path)


def _load_journal(journal: Journal) -> tuple[dict, dict]:
    """The completed visits in the journal; unfinished, superseded and damaged records are
    dropped from the file (a copy of a damaged journal is kept first)."""
    records = journal.read(repair=True)
    done_images, done_patients = latest_records(records)
    if journal.damaged or len(done_images) + len(done_patients) != len(records):
        kept_patients = {id(r) for r in done_patients.values()}
        kept_images = {id(r) for r in done_images.values()}
        journal.rewrite([r for r in records if id(r) in kept_patients | kept_images])
    return done_images, done_patients


def _unchanged(image: InputImage, old: dict, hashes: ContentCache, retry_errors: bool) -> bool:
    """Whether ``image`` still holds the content its journal record ``old`` was screened from:
    same size and modification time, or else the same sha256. An unreadable photograph counts
    as changed on every new run (``retry_errors``), else when its size or time changed."""
    same_stat = (old.get("size"), old.get("mtime_ns")) == (image.size, image.mtime_ns)
    if old.get("status") == "error":
        return same_stat and not retry_errors
    if same_stat:
        return True
    return bool(old.get("sha256")) and hashes.sha256(image) == old["sha256"]


def _needs_screening(key: GroupKey, images: list[InputImage], done_images: dict,
                     done_patients: dict, options: _Options, hashes: ContentCache) -> bool:
    record = done_patients.get(key)
    if record is None or sorted(i.rel for i in images) != sorted(record["images"]):
        return True
    for image in images:
        old = done_images.get((*key, image.rel))
        if old is None or not _unchanged(image, old, hashes, options.retry_errors):
            return True
    return False


def _pending_groups(groups: dict[GroupKey, list[InputImage]], done_images: dict,
                    done_patients: dict, options: _Options) -> tuple[dict, int]:
    """Visits to screen now, and how many photographs wait because they are still changing."""
    hashes = options.hashes or ContentCache()
    pending, waiting = {}, 0
    for key, images in groups.items():
        if not _needs_screening(key, images, done_images, done_patients, options, hashes):
            continue
        if options.stability is not None:
            # Every photograph is looked at on every pass, so that all settle together.
            ready = [options.stability.ready(i) for i in images]
            if not all(ready):
                waiting += len(images)
                continue
        pending[key] = images
    return pending, waiting


def _naming_notes(scanned: list[InputImage], groups: dict, pattern: str | None) -> dict:
    """What the operator should know about file names and file times."""
    one_eyed, split = one_eyed_visits(groups)
    future = time.time_ns() + int(FUTURE_TOLERANCE_S * 1e9)
    future_count = sum(1 for i in scanned if i.mtime_ns > future)
    if future_count:
        log.warning("%d photographs have a modification time in the future (camera clock "
                    "ahead?); they are screened by content, not by time", future_count)
    if split:
        log.warning("%d patient visits look split in two by the file naming (one eye each); "
                    "check the names or give a --pattern", len(split))
    return dict(found=len(scanned),
                pattern_matched=sum(i.matched_pattern for i in scanned) if pattern else None,
                one_eyed=tuple(one_eyed), split_by_naming=tuple(split),
                future_timestamps=future_count)


def _run_locked(input_dir: Path, out_dir: Path, settings: Settings, manifest,  # noqa: ANN001
                scanned: list[InputImage], options: _Options) -> BatchSummary:
    mode = settings.file_mode
    _remove_stale_temporaries(out_dir)
    journal = Journal(out_dir / JOURNAL, mode)
    done_images, done_patients = _load_journal(journal)

    groups = group_by_patient(scanned)
    pending, waiting = _pending_groups(groups, done_images, done_patients, options)
    resumed = sum(len(imgs) for key, imgs in groups.items()
                  if key not in pending and key in done_patients)
    total = len(scanned)
    table = load_referral_table(settings.referral_table)
    thresholds_version = load_thresholds().version
    auditor = None
    if options.audit:
        from .audit import AuditTrail

        auditor = AuditTrail(settings.audit_db, mode, key_path=settings.audit_key)
    rows: list[PatientRow] = []

    def row_from(record: dict) -> PatientRow:
        report = out_dir / record["report"] if record.get("report") else None
        return PatientRow(record["patient_id"], record["eyes"], Outcome(record["outcome"]),
                          record["decision"], record["interval"], report, record["image_count"],
                          record.get("visit") or "")

    for key in sorted(groups):
        if key not in pending and key in done_patients:
            rows.append(row_from(done_patients[key]))
            if options.on_patient:
                options.on_patient(rows[-1])
    write_tables(out_dir, done_images, done_patients, mode)

    names = report_names(set(groups), {k: r["report"] for k, r in done_patients.items()
                                       if r.get("report")})
    sources = {(*key, i.rel): i for key, imgs in pending.items() for i in imgs}
    tasks = [_task(key, pending[key], str(out_dir / names[key]) if options.reports else None)
             for key in sorted(pending)]
    worker_count = options.workers or settings.workers or os.cpu_count() or 1
    worker_count = max(1, min(worker_count, len(tasks) or 1))
    started = time.monotonic()
    finished = resumed
    counts = {"errors": 0, "ungradable": 0, "ok": 0}
    for record in done_images.values():
        counts["errors" if record["status"] == "error" else record["status"]] += 1
    cancelled = False
    last_tables = time.monotonic()
    pool = None
    if tasks:
        pool = _InlinePool(settings) if worker_count == 1 else _ProcessPool(settings,
                                                                             worker_count)
    task_of = {task.key: task for task in tasks}
    try:
        finished_patients = pool.results(tasks) if pool else iter(())
        for key, patient_results, screened_at in finished_patients:
            old_images = [k for k in done_images if k[:2] == key]
            for k in old_images:
                record = done_images.pop(k)
                counts["errors" if record["status"] == "error" else record["status"]] -= 1
            for result in patient_results:
                counts["errors" if result.status is ImageStatus.ERROR
                       else result.status.value] += 1
            finished += len(patient_results)
            report_rel = names[key] if options.reports else None
            task = task_of[key]
            record = _finish_patient(task, patient_results, screened_at, settings, table,
                                     manifest, thresholds_version, report_rel, journal, auditor,
                                     sources)
            done_patients[key] = record
            for r in patient_results:
                done_images[(*key, r.source)] = image_record(r, key[0], sources[(*key, r.source)])
            rows.append(row_from(record))
            if options.on_patient:
                options.on_patient(rows[-1])
            if time.monotonic() - last_tables > CSV_REFRESH_SECONDS:
                write_tables(out_dir, done_images, done_patients, mode)
                last_tables = time.monotonic()
            if options.progress:
                elapsed = max(time.monotonic() - started, 1e-6)
                rate = (finished - resumed) / elapsed
                remaining = total - finished
                options.progress(BatchProgress(finished, total, counts["errors"],
                                               counts["ungradable"], rate,
                                               remaining / rate if rate > 0 else None))
            if options.cancel is not None and options.cancel.is_set():
                cancelled = True
                break
    except BaseException:  # Ctrl-C, a lost worker, a report that cannot be written: stop now
        cancelled = True
        raise
    finally:
        if pool is not None:
            if cancelled:
                pool.terminate()
            else:
                pool.close()
            pool.join()
        write_tables(out_dir, done_images, done_patients, mode)
        if auditor is not None:
            auditor.close()
    errors = tuple((r["path"], "; ".join(r["reasons"])) for r in done_images.values()
                   if r["status"] == "error" and (r["patient_id"], r.get("visit") or "")
                   in groups)
    return BatchSummary(
        images=len(done_images), ok=counts["ok"], ungradable=counts["ungradable"],
        errors=counts["errors"], patients=tuple(rows), out_dir=out_dir,
        results_csv=out_dir / RESULTS_CSV, patients_csv=out_dir / PATIENTS_CSV,
        journal=out_dir / JOURNAL, cancelled=cancelled, resumed=resumed, error_files=errors,
        waiting=waiting, damaged_records=journal.damaged, damaged_copy=journal.damaged_copy,
        **_naming_notes(scanned, groups, options.pattern),
    )


def _task(key: GroupKey, images: list[InputImage], report_path: str | None) -> _PatientTask:
    name = next((i.patient_name for i in images if i.patient_name), "")
    birth = next((i.birth_date for i in images if i.birth_date), "")
    return _PatientTask(key[0], tuple((str(i.path), i.rel, i.eye.value) for i in images),
                        report_path, key[1], name, birth)


def _finish_patient(task, results, screened_at, settings, table, manifest,  # noqa: ANN001, PLR0913
                    thresholds_version, report_rel, journal, auditor, sources) -> dict:
    """Journal and audit one visit whose photographs are screened (and report written)."""
    decision = combine_patient(
        _patient_info(task.patient_id, task.patient_name, task.birth_date, screened_at),
        results, table, screened_at, manifest.info, thresholds_version)
    paths = [r.source for r in results]
    record = patient_record(decision, paths, report_rel, task.visit)
    # The audit record first: a decision that reaches the results always has its audit record.
    # A crash between the two leaves the visit unfinished, so it is screened (and audited)
    # again on resume, rather than a result without an audit record.
    if auditor is not None:
        auditor.record_patient(decision, settings.operator)
    journal.append([image_record(r, task.patient_id, sources[(*task.key, r.source)])
                    for r in results] + [record])
    return record


def watch_folder(input_dir: Path, out_dir: Path, settings: Settings, *, interval_s: float = 5.0,
                 settle_s: float = 10.0, cancel: threading.Event, **kwargs) -> BatchSummary:
    """Screen the folder, then keep screening new and changed photographs, until cancelled.

    A photograph is screened once its size and content hash have stayed the same for
    ``settle_s`` seconds (the camera may still be writing it), whatever its file time says;
    a visit whose photographs grow or change is screened again. Unreadable photographs are
    tried again on the first pass and whenever they change.
    """
    stability = StabilityTracker(settle_s)
    hashes = ContentCache()
    summary = run_batch(input_dir, out_dir, settings, cancel=cancel, allow_empty=True,
                        stability=stability, hashes=hashes, **kwargs)
    kwargs.pop("allow_other_input", None)  # the first pass recorded this input folder
    while not cancel.wait(interval_s):
        summary = run_batch(input_dir, out_dir, settings, cancel=cancel, allow_empty=True,
                            retry_errors=False, stability=stability, hashes=hashes, **kwargs)
    return summary
