"""Batch screening of a camera export folder: resumable, parallel, crash-safe.

Layout of the output folder::

    results.jsonl   the journal: every image and patient record, appended and fsync'ed
    results.csv     one row per input image (rewritten atomically from the journal)
    patients.csv    one row per patient with the decision and the interval
    reports/        one PDF per patient (atomic writes)
    run.json        what was screened with what (input folder, model)
    .lock           held while a run is in progress (a second run refuses)

The unit of completion is the patient: a patient's image records, its report and its patient
record are written together once all its photographs are screened. After an interruption
(Ctrl-C, kill, power loss) the same command resumes: a partly written last line is dropped,
records of a patient without a patient record are discarded and that patient is screened again;
nothing is lost, nothing appears twice. When new photographs of an already screened patient
appear (watch mode), the patient is screened again and its new records supersede the old ones.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import logging
import multiprocessing as mp
import os
import re
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field, replace
from pathlib import Path

import cv2
import numpy as np

from . import __version__
from .atomic import write_atomic
from .csv_export import csv_bytes
from .decision import combine_patient, load_referral_table
from .errors import ConfigError, OutputError, OutputLockedError, RetinaScreenError
from .loading import is_dicom_file, read_dicom_info
from .naming import compile_pattern, parse_stem, safe_file_stem
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
                  "referable", "model_version", "quality_version", "sha256",
                  "referable_threshold", "manifest_sha256", "model_verified"]
PATIENT_COLUMNS = ["patient_id", "eyes", "outcome", "decision", "action", "interval", "urgency",
                   "right_grade", "left_grade", "images", "ungradable", "errors", "report",
                   "notes", "model_verified"]
REPORT_THUMBNAIL_SIDE = 320
WORKER_TASKS_BEFORE_RECYCLE = 100
CSV_REFRESH_SECONDS = 2.0


@dataclass(frozen=True)
class InputImage:
    path: Path  # absolute
    rel: str  # relative to the input folder, '/'-separated
    patient_id: str
    eye: Eye


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


# ---------------------------------------------------------------------------------------------
# Scanning and grouping


def scan_folder(input_dir: Path, pattern: str | None = None, exclude: Path | None = None,
                settle_s: float = 0.0) -> list[InputImage]:
    """Every candidate image under ``input_dir`` (recursive, symlinked folders not followed),
    with patient and eye from DICOM tags or the file name. Sorted by path."""
    regex = compile_pattern(pattern) if pattern else None
    input_dir = input_dir.resolve()
    exclude_resolved = exclude.resolve() if exclude else None
    now = time.time()
    found: list[InputImage] = []
    for root, dirs, files in os.walk(input_dir, followlinks=False, onerror=lambda e: None):
        root_path = Path(root)
        dirs[:] = sorted(d for d in dirs if not d.startswith(".")
                         and (exclude_resolved is None or (root_path / d).resolve()
                              != exclude_resolved))
        for name in sorted(files):
            if name.startswith("."):
                continue
            path = root_path / name
            suffix = path.suffix.lower()
            # Only regular files are opened here: opening a named pipe would block the scan.
            regular = path.is_file()
            if suffix not in IMAGE_EXTENSIONS and not (
                    suffix == "" and regular and is_dicom_file(path)):
                continue
            if settle_s > 0:
                try:
                    if now - path.lstat().st_mtime < settle_s:
                        continue  # the camera may still be writing it
                except OSError:
                    pass
            patient, eye = (None, Eye.UNKNOWN)
            if suffix in (".dcm", ".dicom", "") and regular:
                info = read_dicom_info(path)
                if info is not None:
                    patient, eye = info.patient_id, Eye(info.laterality or "unknown")
            stem_patient, stem_eye = parse_stem(path.stem, regex)
            rel = path.relative_to(input_dir).as_posix()
            found.append(InputImage(path, rel, patient or stem_patient,
                                    eye if eye is not Eye.UNKNOWN else stem_eye))
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
            digest = hashlib.sha256(patient_id.encode("utf-8", "surrogatepass")).hexdigest()
            stem = f"{stem}-{digest[:10]}"
        stems[patient_id] = stem
    return stems


def group_by_patient(images: list[InputImage]) -> dict[str, list[InputImage]]:
    groups: dict[str, list[InputImage]] = {}
    for image in images:
        groups.setdefault(image.patient_id, []).append(image)
    return groups


# ---------------------------------------------------------------------------------------------
# Records


def image_record(result: ImageResult, patient_id: str) -> dict:
    """The journal record of one image: everything, JSON-serialisable."""
    grading = result.grading
    quality = result.quality
    return {
        "kind": "image",
        "path": result.source,
        "patient_id": patient_id,
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


def patient_record(result: PatientResult, paths: list[str], report: str | None) -> dict:
    grades = {e.eye.value: e.grade for e in result.eyes}
    return {
        "kind": "patient",
        "patient_id": result.patient.patient_id,
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
    """Append-only JSON Lines journal with fsync after each patient."""

    def __init__(self, path: Path, mode: int) -> None:
        self.path = path
        self.mode = mode

    def read(self) -> list[dict]:
        """All complete records; a torn last line is cut off the file."""
        if not self.path.exists():
            return []
        try:
            data = self.path.read_bytes()
        except OSError as exc:
            raise OutputError(f"cannot read {self.path}: {exc.strerror or exc}") from exc
        records, good_end, offset = [], 0, 0
        for line in data.splitlines(keepends=True):
            offset += len(line)
            if not line.endswith(b"\n"):
                break
            try:
                records.append(json.loads(line))
            except ValueError:
                break
            good_end = offset
        if good_end != len(data):
            log.warning("journal ended with an incomplete record; it was dropped")
            with open(self.path, "r+b") as handle:
                handle.truncate(good_end)
                handle.flush()
                os.fsync(handle.fileno())
        return records

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


def latest_records(records: list[dict]) -> tuple[dict[str, dict], dict[str, dict]]:
    """Image records (by path) and patient records (by patient id) of completed patients,
    the latest of each winning."""
    patients: dict[str, dict] = {}
    for record in records:
        if record.get("kind") == "patient":
            patients[record["patient_id"]] = record
    images: dict[str, dict] = {}
    for record in records:
        if record.get("kind") != "image":
            continue
        owner = patients.get(record["patient_id"])
        if owner is not None and record["path"] in owner["images"]:
            images[record["path"]] = record
    return images, patients


def _csv_bytes(columns: list[str], rows: list[dict]) -> bytes:
    return csv_bytes(columns, rows)  # formula-leading cells neutralised (csv_export.py)


def _yes_no(value: object) -> str:
    return "" if value is None else ("yes" if value else "no")


def write_tables(out_dir: Path, images: dict[str, dict], patients: dict[str, dict],
                 mode: int) -> None:
    """Rewrite results.csv and patients.csv atomically from the journal's records."""
    result_rows = []
    for path in sorted(images):
        r = images[path]
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
        })
    patient_rows = []
    for patient_id in sorted(patients):
        p = patients[patient_id]
        patient_rows.append({
            **{k: p.get(k) for k in ("patient_id", "eyes", "outcome", "decision", "action",
                                     "interval", "urgency", "ungradable", "errors", "report")},
            "right_grade": "" if p.get("right_grade") is None else p["right_grade"],
            "left_grade": "" if p.get("left_grade") is None else p["left_grade"],
            "images": p["image_count"], "notes": " | ".join(p.get("notes", [])),
            "model_verified": _yes_no(p.get("model_verified")),
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


def _worker_init(settings: Settings) -> None:
    global _worker_screener
    from .engine import Screener
    from .inference import GradingModel

    cv2.setNumThreads(1)
    model = GradingModel(settings.model, threads=1,
                         allow_unverified=settings.allow_unverified_model)
    _worker_screener = Screener(settings, model=model, threads=1)


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


def _worker_patient(task: _PatientTask) -> tuple[str, tuple[ImageResult, ...], str]:
    """Screen one patient's photographs, decide, and write its report, in a worker process.

    Returns the image results without pictures (so little crosses between processes and the
    main process holds no images) and the screening time used, from which the main process
    rebuilds the identical decision for the journal and the audit trail.
    """
    from .engine import now_iso
    from .report import build_report

    assert _worker_screener is not None
    keep = task.report_path is not None
    results = [_screen_one(path, rel, eye, keep) for path, rel, eye in task.images]
    screened_at = now_iso()
    if task.report_path is not None:
        decision = _worker_screener.decide(
            PatientInfo(patient_id=task.patient_id, screening_date=screened_at[:10]), results,
            screened_at)
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
    return task.patient_id, stripped, screened_at


class _InlinePool:
    """The same interface as multiprocessing's pool, in this process (workers=1)."""

    def __init__(self, settings: Settings) -> None:
        _worker_init(settings)

    def imap(self, function, tasks, chunksize=1):  # noqa: ANN001, ANN201
        return (function(task) for task in tasks)

    def terminate(self) -> None:
        pass

    def close(self) -> None:
        pass

    def join(self) -> None:
        pass


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


def _check_run_file(out_dir: Path, input_dir: Path, model_sha: str, mode: int,
                    manifest_sha: str = "") -> None:
    run_file = out_dir / "run.json"
    if run_file.exists():
        try:
            previous = json.loads(run_file.read_text(encoding="utf-8"))
        except (OSError, ValueError):
            previous = {}
        if previous.get("model_sha256") and previous["model_sha256"] != model_sha:
            raise OutputError(
                f"{out_dir} holds results from another model version; choose a new output "
                "folder so that results from different models are not mixed")
        if previous.get("manifest_sha256") and previous["manifest_sha256"] != manifest_sha:
            raise OutputError(
                f"{out_dir} holds results made with another model manifest (e.g. another "
                "threshold); choose a new output folder so that results are not mixed")
    write_atomic(run_file, json.dumps({
        "input_dir": str(input_dir), "model_sha256": model_sha, "app_version": __version__,
        "manifest_sha256": manifest_sha,
    }, indent=2).encode(), mode)


def run_batch(input_dir: Path, out_dir: Path, settings: Settings, *, pattern: str | None = None,
              workers: int | None = None, reports: bool = True,
              progress: Callable[[BatchProgress], None] | None = None,
              on_patient: Callable[[PatientRow], None] | None = None,
              cancel: threading.Event | None = None, settle_s: float = 0.0,
              audit: bool = True) -> BatchSummary:
    """Screen every photograph under ``input_dir`` into ``out_dir`` (see the module docstring).

    Raises :class:`RetinaScreenError` subclasses only when the run itself cannot proceed
    (input folder missing, output not writable or locked, model missing or modified).
    """
    input_dir = Path(input_dir)
    out_dir = Path(out_dir)
    if not input_dir.is_dir():
        raise ConfigError(f"input folder not found: {input_dir}")
    manifest_path = Path(settings.model)
    # Verify the model before anything is written (GradingModel checks hashes and names, and
    # that it is a trusted model or unverified models are allowed).
    from .inference import GradingModel

    manifest = GradingModel(manifest_path, threads=1,
                            allow_unverified=settings.allow_unverified_model).manifest
    _release_memory()
    try:
        out_dir.mkdir(mode=0o700, parents=True, exist_ok=True)
        (out_dir / "reports").mkdir(mode=0o700, exist_ok=True)
    except OSError as exc:
        raise OutputError(f"cannot create output folder {out_dir}: {exc.strerror or exc}") \
            from exc
    with output_lock(out_dir):
        return _run_locked(input_dir, out_dir, settings, manifest, pattern, workers, reports,
                           progress, on_patient, cancel, settle_s, audit)


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


def _run_locked(input_dir, out_dir, settings, manifest, pattern, workers, reports,  # noqa: ANN001, PLR0913
                progress, on_patient, cancel, settle_s, audit) -> BatchSummary:
    mode = settings.file_mode
    _remove_stale_temporaries(out_dir)
    _check_run_file(out_dir, input_dir.resolve(), manifest.sha256, mode,
                    manifest.manifest_sha256)
    journal = Journal(out_dir / JOURNAL, mode)
    records = journal.read()
    done_images, done_patients = latest_records(records)
    if len(done_images) + len(done_patients) != sum(
            1 for r in records if r.get("kind") in ("image", "patient")):
        # Drop records of unfinished or superseded patients so the journal stays tidy.
        kept = [r for r in records if (r.get("kind") == "patient"
                                       and done_patients.get(r["patient_id"]) is r)
                or (r.get("kind") == "image" and done_images.get(r["path"]) is r)]
        journal.rewrite(kept)

    scanned = scan_folder(input_dir, pattern, exclude=out_dir, settle_s=settle_s)
    groups = group_by_patient(scanned)
    pending = {pid: imgs for pid, imgs in groups.items()
               if pid not in done_patients
               or sorted(i.rel for i in imgs) != done_patients[pid]["images"]}
    resumed = sum(len(imgs) for pid, imgs in groups.items() if pid not in pending)
    total = len(scanned)
    table = load_referral_table(settings.referral_table)
    thresholds_version = load_thresholds().version
    auditor = None
    if audit:
        from .audit import AuditTrail

        auditor = AuditTrail(settings.audit_db, mode, key_path=settings.audit_key)
    rows: list[PatientRow] = []

    def row_from(record: dict) -> PatientRow:
        report = out_dir / record["report"] if record.get("report") else None
        return PatientRow(record["patient_id"], record["eyes"], Outcome(record["outcome"]),
                          record["decision"], record["interval"], report, record["image_count"])

    for pid in sorted(groups):
        if pid not in pending:
            rows.append(row_from(done_patients[pid]))
            if on_patient:
                on_patient(rows[-1])
    write_tables(out_dir, done_images, done_patients, mode)

    stems = report_stems(set(groups) | set(done_patients))
    tasks = [_PatientTask(pid, tuple((str(i.path), i.rel, i.eye.value) for i in pending[pid]),
                          str(out_dir / f"reports/{stems[pid]}.pdf") if reports else None)
             for pid in sorted(pending)]
    worker_count = workers or settings.workers or os.cpu_count() or 1
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
        if worker_count == 1:
            pool = _InlinePool(settings)
        else:
            context = mp.get_context("spawn" if os.name == "nt" else "forkserver")
            # Recycled now and then, so that caches (fonts, images) cannot grow without bound.
            pool = context.Pool(worker_count, initializer=_worker_init, initargs=(settings,),
                                maxtasksperchild=WORKER_TASKS_BEFORE_RECYCLE)
    try:
        finished_patients = pool.imap(_worker_patient, tasks, chunksize=1) if pool else iter(())
        for patient_id, patient_results, screened_at in finished_patients:
            for result in patient_results:
                counts["errors" if result.status is ImageStatus.ERROR
                       else result.status.value] += 1
            finished += len(patient_results)
            report_rel = f"reports/{stems[patient_id]}.pdf" if reports else None
            record = _finish_patient(patient_id, patient_results, screened_at, settings, table,
                                     manifest, thresholds_version, report_rel, journal, auditor)
            done_patients[patient_id] = record
            for r in patient_results:
                done_images[r.source] = image_record(r, patient_id)
            rows.append(row_from(record))
            if on_patient:
                on_patient(rows[-1])
            if time.monotonic() - last_tables > CSV_REFRESH_SECONDS:
                write_tables(out_dir, done_images, done_patients, mode)
                last_tables = time.monotonic()
            if progress:
                elapsed = max(time.monotonic() - started, 1e-6)
                rate = (finished - resumed) / elapsed
                remaining = total - finished
                progress(BatchProgress(finished, total, counts["errors"], counts["ungradable"],
                                       rate, remaining / rate if rate > 0 else None))
            if cancel is not None and cancel.is_set():
                cancelled = True
                break
    except KeyboardInterrupt:
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
                   if r["status"] == "error")
    return BatchSummary(
        images=len(done_images), ok=counts["ok"], ungradable=counts["ungradable"],
        errors=counts["errors"], patients=tuple(rows), out_dir=out_dir,
        results_csv=out_dir / RESULTS_CSV, patients_csv=out_dir / PATIENTS_CSV,
        journal=out_dir / JOURNAL, cancelled=cancelled, resumed=resumed, error_files=errors,
    )


def _finish_patient(patient_id, results, screened_at, settings, table, manifest,  # noqa: ANN001, PLR0913
                    thresholds_version, report_rel, journal, auditor) -> dict:
    """Journal and audit one patient whose photographs are screened (and report written)."""
    decision = combine_patient(PatientInfo(patient_id=patient_id,
                                           screening_date=screened_at[:10]),
                               results, table, screened_at, manifest.info, thresholds_version)
    paths = [r.source for r in results]
    record = patient_record(decision, paths, report_rel)
    # The audit record first: a decision that reaches the results always has its audit record.
    # A crash between the two leaves the patient unfinished, so it is screened (and audited)
    # again on resume, rather than a result without an audit record.
    if auditor is not None:
        auditor.record_patient(decision, settings.operator)
    journal.append([image_record(r, patient_id) for r in results] + [record])
    return record


def watch_folder(input_dir: Path, out_dir: Path, settings: Settings, *, interval_s: float = 5.0,
                 settle_s: float = 10.0, cancel: threading.Event, **kwargs) -> BatchSummary:
    """Screen the folder, then keep screening new photographs as they appear, until cancelled.

    Files younger than ``settle_s`` seconds are left for the next pass (the camera may still be
    writing them); a patient whose set of photographs grows is screened again.
    """
    summary = run_batch(input_dir, out_dir, settings, cancel=cancel, settle_s=settle_s, **kwargs)
    while not cancel.wait(interval_s):
        summary = run_batch(input_dir, out_dir, settings, cancel=cancel, settle_s=settle_s,
                            **kwargs)
    return summary
