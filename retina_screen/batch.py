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

The run (:class:`BatchRun`) scans, works out what to screen, hands one task per patient visit to
an executor (:mod:`.executors`: local worker processes by default, or a Dask cluster,
:mod:`.dask_executor`), and commits each visit's results once, in this process: the audit
record, then the journal (:mod:`.journal`), then the tables.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
import logging
import os
import re
import threading
import time
import unicodedata
import uuid
from collections import Counter, defaultdict
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import TYPE_CHECKING

from . import __version__
from .atomic import file_sha256, write_atomic
from .batch_findings import passed_over_text
from .decision import (
    MAX_PHOTOGRAPHS_PER_EYE,
    ReferralTable,
    combine_patient,
    eyes_in_doubt,
    filed_under_another_date,
    load_referral_table,
    person_of,
    taken_days_apart,
)
from .errors import ConfigError, OtherInputFolderError, OutputError, RetinaScreenError
from .executors import (  # noqa: F401 - re-exported
    WORKER_CRASH_LOG,
    Executor,
    PatientTask,
    _patient_info,
    _release_memory,
    is_crashed_visit,
    local_executor,
)
from .journal import (  # noqa: F401 - re-exported: the journal's readers import them from here
    JOURNAL,
    PATIENT_COLUMNS,
    PATIENTS_CSV,
    RESULT_COLUMNS,
    RESULTS_CSV,
    GroupKey,
    Journal,
    group_key,
    image_from_record,
    image_record,
    latest_records,
    load_journal,
    output_lock,
    patient_record,
    remove_stale_temporaries,
    write_tables,
)
from .loading import (
    IMAGE_EXTENSIONS,
    UNREAD_FORMAT,
    UNREAD_PICTURE_EXTENSIONS,
    DicomInfo,
    is_dicom_file,
    read_dicom_info,
)
from .naming import (
    compile_pattern,
    display_text,
    folder_date,
    parse_name,
    safe_file_stem,
    stamp_date,
)
from .quality import load_thresholds
from .results import MORE_PROBLEMS, Eye, ImageResult, Outcome, PatientInfo
from .settings import Settings

if TYPE_CHECKING:
    from .audit import TrailDecisions

log = logging.getLogger(__name__)

CSV_REFRESH_SECONDS = 2.0
FUTURE_TOLERANCE_S = 120.0  # a file time further ahead than this: the camera's clock is fast


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
    sex: str = ""  # from DICOM tags: "F", "M", "O" or ""
    accession: str = ""
    # The file's status change time, which a program cannot set back the way it can a
    # modification time (on Linux and macOS; on Windows Python reports the creation time).
    ctime_ns: int = 0
    #: The patient ID comes from the file name (False: from the DICOM file's Patient ID).
    id_from_name: bool = True

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

    @property
    def key(self) -> GroupKey:
        """The visit this row decides (the same key as the journal's and the tasks')."""
        return (self.patient_id, self.visit)


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
    #: Patient visits (IDs, as above) with more photographs of one eye than a visit plausibly
    #: takes: the file names may have put several patients under one ID.
    crowded: tuple[str, ...] = ()
    #: Patients (IDs, for the operator; never logged) one of whose photographs, by content,
    #: stands under another patient's name too: a wrong-patient export or copy.
    shared_with_another_patient: tuple[str, ...] = ()
    #: Patients (IDs, as above) one of whose photographs, by content, is in two of their
    #: visits: one visit's result may rest on a photograph taken at the other.
    in_two_visits: tuple[str, ...] = ()
    #: Patient visits (IDs, as above) whose photographs their cameras dated on days apart
    #: (``decision.taken_days_apart``): such a visit is never "no referable DR".
    taken_days_apart: tuple[str, ...] = ()
    #: Patient visits (IDs, as above) whose photographs may not be the eyes they are filed as
    #: (``decision.eyes_in_doubt``: one eye's photographs given for both, or a photograph from
    #: another camera): such a visit is never "no referable DR".
    eyes_in_doubt: tuple[str, ...] = ()
    #: Photographs whose file time lies in the future (camera clock fast); screened anyway.
    future_timestamps: int = 0
    #: Photographs held back in watch mode because they were still changing.
    waiting: int = 0
    #: Damaged journal records skipped, and the copy of the damaged journal that was kept.
    damaged_records: int = 0
    damaged_copy: Path | None = None
    #: What under the input folder was not looked at, and why (relative path, reason): picture
    #: files in formats not read, folders that could not be read, linked folders not followed.
    passed_over: tuple[tuple[str, str], ...] = ()
    #: Why the ungradable photographs were refused: (the gate's reason, how many photographs
    #: gave it), most frequent first. A setting of the camera's export (layouts, compression,
    #: thumbnails) shows as one reason given for many photographs.
    ungradable_reasons: tuple[tuple[str, int], ...] = ()
    #: Patient visits (IDs, as above) decided again in this run (a photograph added, changed
    #: or retaken) whose recorded referral the new decision does not keep.
    referrals_withdrawn: tuple[str, ...] = ()
    #: Patient visits (IDs, as above) whose decision in the results file the audit trail does
    #: not hold as recorded (the file edited, or from another installation): screened again.
    differing_from_trail: tuple[str, ...] = ()
    #: Patient IDs given to photographs whose file names named one patient in several folders
    #: (``separate_folders``: the folder before the file name's ID).
    kept_apart_by_folder: tuple[str, ...] = ()
    #: Patient visits (IDs, as above) of the results file whose photographs are no longer in
    #: the input folder and whose record the audit trail does not confirm: left out of
    #: patients.csv and results.csv (their records stay in results.jsonl).
    left_out_unconfirmed: tuple[str, ...] = ()
    #: Patients (IDs, as above) with a photograph the audit trail holds screened before for
    #: another patient (``ImageResult.screened_for_another``): never "no referable DR".
    screened_before_for_another: tuple[str, ...] = ()
    #: Patients (IDs, as above) whose ID or name the reports' fonts cannot print in full (shown
    #: with "?": Arabic or Hebrew script): each report says so; the run names them.
    unprintable_on_reports: tuple[str, ...] = ()
    #: Referrals this output folder made (by this installation's audit trail) that its results
    #: file no longer holds (lines deleted, or an older copy put back without them).
    referrals_missing: int = 0
    #: The results journal's size, modification time and inode as the run last read or
    #: wrote it (watch mode: did something else write it since?).
    journal_state: tuple[int, int, int] | None = None


def ungradable_reasons(done_images: dict) -> tuple[tuple[str, int], ...]:
    """``BatchSummary.ungradable_reasons`` of the screened photographs' records."""
    more = re.compile(re.escape(MORE_PROBLEMS).replace(re.escape("{count}"), r"\d+"))
    counts = Counter(reason for record in done_images.values()
                     if record["status"] == "ungradable" for reason in record["reasons"]
                     if not more.fullmatch(reason))  # "5 more problems ...": not a reason
    return tuple(sorted(counts.items(), key=lambda item: (-item[1], item[0])))


# ---------------------------------------------------------------------------------------------
# Scanning and grouping


def visit_of(path: Path, info: DicomInfo | None, mtime_ns: int) -> str:
    """The visit a photograph belongs to: the DICOM study date (else acquisition date, else the
    Study Instance UID); otherwise the date of a camera time stamp in its file name
    (``Patient221_20251127_101500_OD``: before 2026-12-02 it was only taken out of the patient
    ID, and last year's photograph joined today's visit); otherwise the nearest folder of its
    path named with a date (``2026-11-29``, ``20261129``; a folder named with a birth date
    made every year's photographs one visit); otherwise the date of the file's modification
    time."""
    if info is not None:
        date = info.study_date or info.acquisition_date
        if date:
            return date
        if info.study_uid:
            return f"study {info.study_uid}"
    return (stamp_date(path.stem) or folder_date(str(path))
            or dt.datetime.fromtimestamp(mtime_ns / 1e9).date().isoformat())


def is_photograph_file(path: Path) -> bool:
    """Whether a file is one this application screens: by its extension, or an extension-less
    DICOM file (by its signature)."""
    suffix = path.suffix.lower()
    if suffix in IMAGE_EXTENSIONS:
        return True
    # Only regular files are opened here: opening a named pipe would block the scan.
    return suffix == "" and path.is_file() and is_dicom_file(path)


def _shown_relative(path: Path, input_dir: Path) -> str:
    """A path under the input folder as results and messages show it: relative, '/'-separated,
    printable (the input folder's own path where it is not under it)."""
    try:
        return display_text(path.relative_to(input_dir).as_posix())
    except ValueError:
        return display_text(str(path))


def _folder_of(rel: str) -> str:
    return rel.rsplit("/", 1)[0] if "/" in rel else ""


def separate_folders(scanned: list[InputImage]) -> tuple[list[InputImage], tuple[str, ...]]:
    """Photographs whose file names give one patient and visit but which lie in different
    folders (per-patient export folders with the same file names, ``Smith John/fundus_OD.jpg``
    and ``Doe Jane/fundus_OD.jpg``; one ID in two cameras' folders) are kept apart: each
    folder's become a patient of their own, the folder before the ID. Merged, one person's
    ungradable eye was covered by another person's photograph and the visit read "no
    referable DR" (found 2026-12-02). IDs from DICOM tags are left as they are. Returns the
    photographs and the IDs given (for the operator; never logged)."""
    folders: dict[GroupKey, set[str]] = defaultdict(set)
    for image in scanned:
        if image.id_from_name:
            folders[image.key].add(_folder_of(image.rel))
    apart = {key for key, found in folders.items() if len(found) > 1}
    if not apart:
        return scanned, ()
    given: set[str] = set()
    kept_apart = []
    for image in scanned:
        if image.id_from_name and image.key in apart:
            folder = _folder_of(image.rel)
            image = replace(image, patient_id=f"{folder}/{image.patient_id}" if folder
                            else image.patient_id)
            given.add(image.patient_id)
        kept_apart.append(image)
    return kept_apart, tuple(sorted(given))


def _input_image(path: Path, input_dir: Path, regex: re.Pattern[str] | None) -> InputImage:
    suffix = path.suffix.lower()
    try:
        stat = path.stat()
        size, mtime_ns, ctime_ns = stat.st_size, stat.st_mtime_ns, stat.st_ctime_ns
    except OSError:
        size, mtime_ns, ctime_ns = -1, time.time_ns(), 0
    info = read_dicom_info(path) if suffix in (".dcm", ".dicom", "") and path.is_file() else None
    parsed = parse_name(display_text(path.stem), regex)
    patient = display_text(info.patient_id) if info and info.patient_id else parsed.patient
    # One spelling of one name: a Mac share writes "Müller" decomposed (NFD), Windows composed
    # (NFC); they were two patients, listed as "Müller, Müller" (found 2026-12-02).
    patient = unicodedata.normalize("NFC", patient)
    eye = Eye(info.laterality) if info and info.laterality else parsed.eye
    rel = _shown_relative(path, input_dir)
    return InputImage(path, rel, patient, eye, visit_of(path, info, mtime_ns), size, mtime_ns,
                      (info.patient_name or "") if info else "",
                      (info.birth_date or "") if info else "", parsed.matched_pattern,
                      sex=(info.sex or "") if info else "",
                      accession=(info.accession or "") if info else "", ctime_ns=ctime_ns,
                      id_from_name=not (info and info.patient_id))


PASSED_OVER_UNREADABLE = "a folder that could not be read ({detail})"
PASSED_OVER_LINK = ("a linked folder (symbolic link), not followed: screen the folder it points "
                    "to itself")
PASSED_OVER_OUTPUT = ("an output folder of retina-screen (its results, reports and queued DICOM "
                      "results are not photographs)")


PASSED_OVER_HIDDEN = "a hidden folder (its name starts with a dot), not looked in"
PASSED_OVER_HIDDEN_FILE = ("a hidden photograph (its name starts with a dot): rename it if it "
                           "is to be screened")
PASSED_OVER_SPACE = ("a photograph whose name ends in a space after its extension: rename it "
                     "to be screened")
#: Files of the operating system, not photographs, passed over without a word.
SYSTEM_FILES = frozenset({".DS_Store", "Thumbs.db", "desktop.ini", ".localized"})


def _is_output_folder(folder: Path) -> bool:
    try:
        return (folder / "run.json").is_file() and (folder / JOURNAL).is_file()
    except OSError:
        return False


def scan_folder(input_dir: Path, pattern: str | None = None, exclude: Path | None = None,
                passed_over: list[tuple[str, str]] | None = None) -> list[InputImage]:
    """Every candidate image under ``input_dir`` (recursive, symlinked folders not followed),
    with patient, eye and visit from DICOM tags, the path and the file name. Sorted by path.
    Any file name works: bytes that are not UTF-8 are shown escaped (``M\\xfcller``).

    ``passed_over``, when given, receives what was not looked at and why (relative path,
    reason): picture files in formats not read, unreadable folders, linked folders."""
    regex = compile_pattern(pattern) if pattern else None
    input_dir = input_dir.resolve()
    exclude_resolved = exclude.resolve() if exclude else None
    found: list[InputImage] = []
    skipped: list[tuple[str, str]] = []

    def unreadable(error: OSError) -> None:
        if error.filename is not None:
            skipped.append((_shown_relative(Path(error.filename), input_dir),
                            PASSED_OVER_UNREADABLE.format(detail=error.strerror or "error")))

    for root, dirs, files in os.walk(input_dir, followlinks=False, onerror=unreadable):
        root_path = Path(root)
        kept = []
        for d in sorted(dirs):
            if exclude_resolved is not None and (root_path / d).resolve() == exclude_resolved:
                continue
            if d.startswith("."):
                # A whole patient's folder could vanish unnamed (found 2026-12-02); system
                # folders (.Trash, .thumbnails, ...) are named too, as not looked in.
                skipped.append((_shown_relative(root_path / d, input_dir), PASSED_OVER_HIDDEN))
                continue
            try:
                linked = (root_path / d).is_symlink()
            except OSError as exc:  # its path is too long to look at, or it has gone
                unreadable(exc)
                continue
            if linked:
                skipped.append((_shown_relative(root_path / d, input_dir), PASSED_OVER_LINK))
            elif _is_output_folder(root_path / d):
                # An earlier run's output inside the camera folder: its queued SR and PDF
                # objects joined the visits as unreadable photographs (found 2026-12-02).
                skipped.append((_shown_relative(root_path / d, input_dir), PASSED_OVER_OUTPUT))
                continue
            kept.append(d)
        dirs[:] = kept
        for name in sorted(files):
            path = root_path / name
            suffix = path.suffix.lower()
            if name.startswith("._") or name in SYSTEM_FILES:
                continue  # a Mac's resource forks and folder settings, Windows' thumbnails
            if name.startswith("."):
                if suffix.strip() in IMAGE_EXTENSIONS or suffix in UNREAD_PICTURE_EXTENSIONS:
                    skipped.append((_shown_relative(path, input_dir), PASSED_OVER_HIDDEN_FILE))
                continue
            if suffix != suffix.rstrip() and suffix.strip() in IMAGE_EXTENSIONS:
                skipped.append((_shown_relative(path, input_dir), PASSED_OVER_SPACE))
                continue
            if is_photograph_file(path):
                found.append(_input_image(path, input_dir, regex))
            elif path.suffix.lower() in UNREAD_PICTURE_EXTENSIONS:
                skipped.append((_shown_relative(path, input_dir),
                                UNREAD_FORMAT.format(path.suffix.lower())))
    if passed_over is not None:
        passed_over.extend(sorted(skipped))
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
    same day whose ID shares a long beginning, and differs by more than a running number:
    `Smith7a` and `Smith7b`, not a camera's or an archive's `..._34013_0400` and
    `..._34071_0400`)."""
    one_eyed = {key: {i.eye for i in images} for key, images in groups.items()
                if not {Eye.RIGHT, Eye.LEFT} <= {i.eye for i in images}}
    split = set()
    keys = sorted(one_eyed, key=lambda k: (k[1], k[0].lower()))  # alike IDs end up adjacent
    for (pid, visit), (other, other_visit) in zip(keys, keys[1:], strict=False):
        first, second = pid.lower(), other.lower()
        common = len(os.path.commonprefix([first, second]))
        if not (visit == other_visit and common >= 4
                and common * 2 >= min(len(first), len(second))):
            continue
        ending = len(os.path.commonprefix([first[common:][::-1], second[common:][::-1]]))
        differing = (first[common:len(first) - ending], second[common:len(second) - ending])
        if not all(part.isdigit() for part in differing):
            split.update((pid, other))
    return sorted({pid for pid, _ in one_eyed}), sorted(split)


def sha256_of_file(path: Path) -> str | None:
    """The sha256 of a file's bytes (what the loader records), None if it cannot be read."""
    try:
        return file_sha256(path)
    except OSError:
        return None


class ContentCache:
    """sha256 of files, remembered by (path, size, modification and change times) for one
    watch session."""

    def __init__(self) -> None:
        self._known: dict[tuple[Path, int, int, int], str | None] = {}

    def sha256(self, image: InputImage) -> str | None:
        key = (image.path, image.size, image.mtime_ns, image.ctime_ns)
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
# The run


def _read_run_file(out_dir: Path) -> dict:
    try:
        previous = json.loads((out_dir / "run.json").read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return {}
    return previous if isinstance(previous, dict) else {}


def _binding_from_journal(out_dir: Path) -> dict:
    """What run.json would say, from the results themselves, for an output folder whose
    run.json is gone (deleted, or lost in a copy): the model, manifest and quality gate of its
    last screened photograph, and an input folder that cannot be known (so only ``--continue``
    adds to it). Without it, another model's results were mixed in silently (found
    2026-12-02). Empty for a folder without results."""
    journal = out_dir / JOURNAL
    if not journal.is_file():
        return {}
    records, _patients = latest_records(Journal(journal, 0o600).read(repair=False))
    screened = [r for r in records.values() if r.get("model_sha256")]
    if not screened:
        return {}
    last = screened[-1]
    return {"model_sha256": last["model_sha256"],
            "manifest_sha256": last.get("manifest_sha256", ""),
            "quality_version": (last.get("quality") or {}).get("version", ""),
            "input_dir": "(unknown: the output folder's run.json is missing)"}


def check_input_folder(out_dir: Path, input_dir: Path, allow_other_input: bool = False) -> None:
    """Refuse an output folder that holds results of another input folder, unless the operator
    asked to continue it with this one. Reads only."""
    previous = _read_run_file(out_dir) or _binding_from_journal(out_dir)
    known = [*previous.get("input_dirs", []), previous.get("input_dir")]
    known = [k for k in known if k]
    if not known or str(input_dir.resolve()) in known or allow_other_input:
        return
    raise OtherInputFolderError(
        f"{out_dir} holds the results of another input folder ({known[-1]}); choose a new "
        "output folder for this one, or continue this output folder with it on purpose "
        "(command line: --continue)")


def _check_run_file(out_dir: Path, input_dir: Path, model_sha: str, mode: int,
                    manifest_sha: str = "", allow_other_input: bool = False,
                    quality_version: str = "", referral_table: ReferralTable | None = None
                    ) -> str:
    """Check that this run may add to ``out_dir`` (same model, manifest, gate, referral table
    and input folder), record its binding in ``run.json``, and return the output folder's
    identity (made once, kept in ``run.json``; the audit trail records it with each of the
    folder's decisions)."""
    previous = _read_run_file(out_dir) or _binding_from_journal(out_dir)
    folder_id = str(previous.get("folder_id") or uuid.uuid4().hex)
    table_sha = referral_table.sha256 if referral_table is not None else ""
    if previous.get("referral_table_sha256") and previous["referral_table_sha256"] != table_sha:
        raise OutputError(
            f"{out_dir} holds visits decided by another referral table (version "
            f"{previous.get('referral_table_version', '?')}; this run's: "
            f"{referral_table.version if referral_table else '?'}), so one table would word "
            "and time some referrals and another the rest; choose a new output folder")
    if previous.get("model_sha256") and previous["model_sha256"] != model_sha:
        raise OutputError(
            f"{out_dir} holds results from another model version; choose a new output "
            "folder so that results from different models are not mixed")
    if previous.get("manifest_sha256") and previous["manifest_sha256"] != manifest_sha:
        raise OutputError(
            f"{out_dir} holds results made with another model manifest (e.g. another "
            "threshold); choose a new output folder so that results are not mixed")
    if previous.get("quality_version") and previous["quality_version"] != quality_version:
        raise OutputError(
            f"{out_dir} holds results checked by another version of the quality gate "
            f"({previous['quality_version']}, this application uses {quality_version}); choose "
            "a new output folder so that results are not mixed")
    check_input_folder(out_dir, input_dir, allow_other_input)
    inputs = [k for k in [*previous.get("input_dirs", []), previous.get("input_dir")] if k]
    write_atomic(out_dir / "run.json", json.dumps({
        "folder_id": folder_id,
        "input_dir": str(input_dir),
        "input_dirs": sorted({*inputs, str(input_dir)}),
        "model_sha256": model_sha, "app_version": __version__,
        "manifest_sha256": manifest_sha, "quality_version": quality_version,
        **({"referral_table_sha256": table_sha, "referral_table_version": referral_table.version}
           if referral_table is not None else {}),
    }, indent=2).encode(), mode)
    return folder_id


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
    #: Where visits are screened; None: local worker processes, started and ended by the run.
    #: A given executor belongs to the caller (watch mode keeps one across passes), except
    #: that a cancelled or failed run stops it.
    executor: Executor | None = None
    #: Check the visits taken from the results file against the audit trail (every run, and
    #: the first pass of a watch).
    confirm_records: bool = True
    #: Watch passes: the journal's state as the last pass left it (``_journal_state``); a
    #: journal found otherwise is checked against the audit trail too (something else wrote
    #: it: an edit during the day).
    expected_journal: tuple[int, int, int] | None = None


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
              hashes: ContentCache | None = None,
              executor: Executor | None = None, confirm_records: bool = True,
              expected_journal: tuple[int, int, int] | None = None) -> BatchSummary:
    """Screen every photograph under ``input_dir`` into ``out_dir`` (see the module docstring).

    Raises :class:`RetinaScreenError` subclasses only when the run itself cannot proceed (input
    folder missing, a file or without photographs, output folder of another input folder,
    output not writable or locked, model missing or modified); then nothing is created.
    ``allow_other_input``: continue an output folder of another input folder on purpose.
    ``retry_errors``: screen again photographs that could not be read (watch passes after the
    first only retry those that changed). ``stability``: watch mode's settling check.
    ``executor``: where the visits are screened (default: ``workers`` local processes; see
    :mod:`.executors` and :mod:`.dask_executor`).
    """
    input_dir = Path(input_dir)
    out_dir = Path(out_dir)
    _check_input(input_dir)
    if (out_dir / "run.json").exists():
        check_input_folder(out_dir, input_dir, allow_other_input)
    if out_dir.resolve() == input_dir.resolve():
        # Its own queued results (outbox DICOM files) were screened as the patients'
        # photographs on the next run (found 2026-12-02).
        raise ConfigError(f"the output folder is the input folder ({input_dir}): choose "
                          "another output folder, outside the camera's export folder or in a "
                          "folder of its own inside it")
    manifest_path = Path(settings.model)
    # Verify the model before anything is written (GradingModel checks hashes and names, and
    # that it is a trusted model or unverified models are allowed).
    from .inference import GradingModel

    manifest = GradingModel(manifest_path, threads=1,
                            allow_unverified=settings.allow_unverified_model).manifest
    _release_memory()
    passed_over: list[tuple[str, str]] = []
    scanned, kept_apart = separate_folders(
        scan_folder(input_dir, pattern, exclude=out_dir, passed_over=passed_over))
    if kept_apart:
        log.warning("%d patient IDs from file names were in several folders: each folder's "
                    "photographs were kept apart as a patient of their own", len(kept_apart))
    if not scanned and not allow_empty:
        raise ConfigError(
            f"no photographs found in {input_dir} (looked for "
            f"{', '.join(sorted(IMAGE_EXTENSIONS))} and DICOM files); nothing was screened"
            + (f". Not looked at: {passed_over_text(passed_over)}" if passed_over else ""))
    try:
        out_dir.mkdir(mode=0o700, parents=True, exist_ok=True)
        (out_dir / "reports").mkdir(mode=0o700, exist_ok=True)
    except OSError as exc:
        raise OutputError(f"cannot create output folder {out_dir}: {exc.strerror or exc}") \
            from exc
    options = _Options(pattern, workers, reports, progress, on_patient, cancel, audit,
                       retry_errors, stability, hashes, executor, confirm_records,
                       expected_journal)
    with output_lock(out_dir):
        folder_id = _check_run_file(out_dir, input_dir.resolve(), manifest.sha256,
                                    settings.file_mode, manifest.manifest_sha256,
                                    allow_other_input, load_thresholds().version,
                                    load_referral_table(settings.referral_table))
        summary = BatchRun(input_dir, out_dir, settings, manifest, options,
                           folder_id).run(scanned)
    if passed_over:
        log.warning("%d files or folders under the input folder were not looked at (formats "
                    "not read, unreadable or linked folders)", len(passed_over))
    return replace(summary, passed_over=tuple(passed_over), kept_apart_by_folder=kept_apart)


def _unchanged(image: InputImage, old: dict, hashes: ContentCache, retry_errors: bool) -> bool:
    """Whether ``image`` still holds the content its journal record ``old`` was screened from:
    same size, modification time and change time, or else the same sha256. An unreadable
    photograph counts as changed on every new run (``retry_errors``), else when its size or a
    time changed. The change time is why an edit that keeps the size and sets the modification
    time back is still noticed (records written before it was kept have none: hashed again)."""
    same_stat = ((old.get("size"), old.get("mtime_ns"), old.get("ctime_ns"))
                 == (image.size, image.mtime_ns, image.ctime_ns))
    if old.get("status") == "error":
        return same_stat and not retry_errors
    if same_stat:
        return True
    return bool(old.get("sha256")) and hashes.sha256(image) == old["sha256"]


def report_file_record(path: Path) -> dict:
    """What the journal keeps of a visit's written report, to know it again on a later run:
    its size, modification and change times and sha256."""
    from .audit import report_sha256

    stat = path.stat()
    return {"size": stat.st_size, "mtime_ns": stat.st_mtime_ns, "ctime_ns": stat.st_ctime_ns,
            "sha256": report_sha256(path)}


def _report_intact(record: dict, out_dir: Path) -> bool:
    """Whether a recorded visit's report is still the one its run wrote: present, and (where
    the journal knows it, since 2026-12-02) the same file by its size and times, or else by
    its sha256. A report deleted, or replaced by another (another patient's, by a slip), was
    left as it was by every later run."""
    if not record.get("report"):
        return True
    path = out_dir / record["report"]
    try:
        stat = path.stat()
    except OSError:
        return False
    known = record.get("report_file")
    if not known:
        return True
    if (stat.st_size, stat.st_mtime_ns, stat.st_ctime_ns) == (
            known["size"], known["mtime_ns"], known["ctime_ns"]):
        return True
    try:
        return report_file_record(path)["sha256"] == known["sha256"]
    except (OSError, RetinaScreenError):
        return False


def _needs_screening(key: GroupKey, images: list[InputImage], done_images: dict,
                     done_patients: dict, options: _Options, hashes: ContentCache,
                     out_dir: Path | None = None) -> bool:
    record = done_patients.get(key)
    if record is None:
        return True
    if options.reports and out_dir is not None and not (record.get("report")
                                                        and _report_intact(record, out_dir)):
        # Screened again, so that its report is written again (or at all: a visit of a run
        # without reports got none from a later run with them; found 2026-12-02).
        return True
    recorded = set(record["images"])
    if any(image.rel not in recorded for image in images):
        return True  # a photograph added
    if (recorded - {image.rel for image in images}
            and not Outcome(record["outcome"]).is_referral):
        return True  # decided again without the photographs that have gone (kept_records)
    for image in images:
        old = done_images.get((*key, image.rel))
        if old is None or not _unchanged(image, old, hashes, options.retry_errors):
            return True
    return False


def kept_records(key: GroupKey, images: list[InputImage], done_images: dict,
                 done_patients: dict) -> tuple[dict, ...]:
    """The journal records of a referred visit's photographs that are no longer in the input
    folder (archived, moved to a grader, or in the other input folder of a continued output
    folder): their recorded results join the visit's new decision, so that a recorded
    referral is never withdrawn because its photograph has gone (before 2026-12-02 the rest
    were decided again: "no referable DR" when the referable photograph was the one moved).
    A visit that was not referred is decided on the photographs present: a photograph
    removed (another patient's, filed here by mistake) no longer counts for it."""
    record = done_patients.get(key)
    if record is None or not Outcome(record["outcome"]).is_referral:
        return ()
    present = {image.rel for image in images}
    return tuple(done_images[(*key, rel)] for rel in record["images"]
                 if rel not in present and (*key, rel) in done_images)


def _pending_groups(groups: dict[GroupKey, list[InputImage]], done_images: dict,
                    done_patients: dict, options: _Options,
                    out_dir: Path | None = None) -> tuple[dict, int]:
    """Visits to screen now, and how many photographs wait because they are still changing."""
    hashes = options.hashes or ContentCache()
    pending, waiting = {}, 0
    for key, images in groups.items():
        if not _needs_screening(key, images, done_images, done_patients, options, hashes,
                                out_dir):
            continue
        if options.stability is not None:
            # Every photograph is looked at on every pass, so that all settle together.
            ready = [options.stability.ready(i) for i in images]
            if not all(ready):
                waiting += len(images)
                continue
        pending[key] = images
    return pending, waiting


def filed_elsewhere(done_images: dict, groups: dict) -> dict[tuple[GroupKey, str],
                                                                tuple[GroupKey, ...]]:
    """For each screened photograph of the folder's visits whose content (sha256) the folder
    files under another patient or another visit too, those other visits. Keyed by (visit,
    relative path). A photograph no longer in the folder (a referred visit's, kept) is not
    filed there."""
    present = {(key, image.rel) for key, images in groups.items() for image in images}
    owners: dict[str, set[GroupKey]] = {}
    for record in done_images.values():
        key = group_key(record)
        if record.get("sha256") and (key, record["path"]) in present:
            owners.setdefault(record["sha256"], set()).add(key)
    elsewhere: dict[tuple[GroupKey, str], tuple[str, ...]] = {}
    for record in done_images.values():
        key = group_key(record)
        others = owners.get(record.get("sha256") or "", set()) - {key}
        if (key, record["path"]) in present and others:
            elsewhere[(key, record["path"])] = tuple(sorted(others))
    return elsewhere


def elsewhere_named(key: GroupKey, others: tuple[GroupKey, ...]) -> tuple[str, ...]:
    """``filed_elsewhere``'s other visits as the patient decision names them
    (``ImageResult.filed_also_for``): another patient by ID, another visit of the same patient
    as ``ID visit``."""
    return tuple(sorted({pid if pid != key[0] else f"{pid} {visit}" for pid, visit in others}))


def photographs_to_check(done_images: dict, groups: dict,
                         elsewhere: dict | None = None) -> dict[str, tuple[str, ...]]:
    """Photographs (by content, their sha256) that stand in two places of this folder: the
    patients one of whose photographs is also another patient's (one of them has the other's
    result), and the patients one of whose photographs is in two of their visits (a visit's
    result may rest on a photograph taken at another); the patients of visits whose
    photographs their cameras dated on days apart, and of visits whose photographs may not be
    the eyes they are filed as. ``BatchSummary``'s fields by name. ``elsewhere``:
    ``filed_elsewhere`` of the same photographs, where the caller has it."""
    shared: set[str] = set()
    revisited: set[str] = set()
    if elsewhere is None:
        elsewhere = filed_elsewhere(done_images, groups)
    for ((patient, _visit), _path), others in elsewhere.items():
        for other_patient, _other_visit in others:
            (revisited if other_patient == patient else shared).add(patient)
    if shared:
        log.warning("%d patients share a photograph (by content) with another patient",
                    len(shared))
    if revisited:
        log.warning("%d patients have a photograph (by content) in two of their visits",
                    len(revisited))
    visit_records: dict[GroupKey, list[dict]] = {}
    for record in done_images.values():
        if group_key(record) in groups:
            visit_records.setdefault(group_key(record), []).append(record)
    apart = {patient for (patient, _visit), records in visit_records.items()
             if taken_days_apart(r.get("taken") or "" for r in records)
             or filed_under_another_date([image_from_record(r) for r in records])}
    in_doubt = {patient for (patient, _visit), records in visit_records.items()
                if eyes_in_doubt([image_from_record(r) for r in records])}
    return {"shared_with_another_patient": tuple(sorted(shared)),
            "in_two_visits": tuple(sorted(revisited)),
            "taken_days_apart": tuple(sorted(apart)),
            "eyes_in_doubt": tuple(sorted(in_doubt))}


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
    crowded = sorted({pid for (pid, _), images in groups.items()
                      if max(Counter(i.eye for i in images).values()) > MAX_PHOTOGRAPHS_PER_EYE})
    if crowded:
        log.warning("%d patient visits have more than %d photographs of one eye (several "
                    "patients under one ID?)", len(crowded), MAX_PHOTOGRAPHS_PER_EYE)
    return dict(found=len(scanned),
                pattern_matched=sum(i.matched_pattern for i in scanned) if pattern else None,
                one_eyed=tuple(one_eyed), split_by_naming=tuple(split),
                crowded=tuple(crowded), future_timestamps=future_count)



def _count_key(status: str) -> str:
    return "errors" if status == "error" else status


class BatchRun:
    """One run over an output folder, holding its lock: works out which visits to screen,
    hands them to the executor, and commits each result once (audit, journal, tables) in this
    process. Results are keyed by visit; a visit's result that arrives twice (a task that a
    cluster ran again after losing its worker) is committed once."""

    def __init__(self, input_dir: Path, out_dir: Path, settings: Settings,
                 manifest, options: _Options,  # noqa: ANN001 - inference.Manifest
                 folder_id: str = "") -> None:
        self.input_dir = input_dir
        self.folder_id = folder_id
        self.out_dir = out_dir
        self.settings = settings
        self.manifest = manifest
        self.options = options
        self.mode = settings.file_mode
        self.journal = Journal(out_dir / JOURNAL, self.mode)
        self.table = load_referral_table(settings.referral_table)
        self.thresholds_version = load_thresholds().version
        self.done_images: dict[tuple[str, str, str], dict] = {}
        self.done_patients: dict[GroupKey, dict] = {}
        self.rows: dict[GroupKey, PatientRow] = {}
        self.counts = {"errors": 0, "ungradable": 0, "ok": 0}
        self.auditor = None
        self.withdrawn: list[str] = []
        self.not_in_trail: list[GroupKey] = []
        self.left_out: list[GroupKey] = []
        #: Visits whose latest decision in the audit trail (this folder's) referred, where the
        #: results file holds an earlier one: their re-decision's withdrawal is said.
        self.referred_later: set[GroupKey] = set()
        #: Visits decided in this run.
        self.committed: set[GroupKey] = set()
        #: Referrals of this output folder in the audit trail that its results file lacks.
        self.referrals_missing = 0
        #: ``filed_elsewhere`` as the run's second pass found it (None: not looked).
        self.elsewhere: dict | None = None
        #: The journal's state as this run last read or wrote it (``_journal_state``).
        self.journal_state: tuple[int, int, int] | None = None

    def _row(self, record: dict) -> PatientRow:
        report = self.out_dir / record["report"] if record.get("report") else None
        return PatientRow(record["patient_id"], record["eyes"], Outcome(record["outcome"]),
                          record["decision"], record["interval"], report,
                          record["image_count"], record.get("visit") or "")

    def _add_row(self, record: dict) -> None:
        """The visit's row, in place of an earlier one of this run (a visit decided again)."""
        row = self._row(record)
        self.rows[row.key] = row
        if self.options.on_patient:
            self.options.on_patient(row)

    def run(self, scanned: list[InputImage]) -> BatchSummary:
        options = self.options
        remove_stale_temporaries(self.out_dir)
        self.done_images, self.done_patients = load_journal(self.journal)
        self.journal_state = _journal_state(self.out_dir)  # as this run read it
        groups = group_by_patient(scanned)
        pending, waiting = _pending_groups(groups, self.done_images, self.done_patients, options,
                                           self.out_dir)
        changed = (options.expected_journal is not None
                   and self.journal_state != options.expected_journal)
        if options.audit and (options.confirm_records or changed):
            # Every visit taken from the results file is checked against the audit trail:
            # one that differs is screened again, or, its photographs gone, left out.
            taken = [key for key in self.done_patients if key not in pending]
            unconfirmed = self._unconfirmed(taken, groups)
            self.not_in_trail = [key for key in unconfirmed if key in groups]
            for key in self.not_in_trail:
                pending[key] = groups[key]
            self.left_out = [key for key in unconfirmed if key not in groups]
            for key in self.left_out:  # in memory: results.jsonl keeps their records
                del self.done_patients[key]
                for image in [k for k in self.done_images if k[:2] == key]:
                    del self.done_images[image]
        resumed = sum(len(imgs) for key, imgs in groups.items()
                      if key not in pending and key in self.done_patients)
        if options.audit:
            from .audit import AuditTrail

            self.auditor = AuditTrail(self.settings.audit_db, self.mode,
                                      key_path=self.settings.audit_key)
        for key in sorted(groups):
            if key not in pending and key in self.done_patients:
                self._add_row(self.done_patients[key])
        write_tables(self.out_dir, self.done_images, self.done_patients, self.mode)
        for record in self.done_images.values():
            self.counts[_count_key(record["status"])] += 1

        self.names = report_names(set(groups), {k: r["report"] for k, r in
                                                self.done_patients.items() if r.get("report")})
        self.sources = {(*key, i.rel): i for key, imgs in pending.items() for i in imgs}
        tasks = [replace(_task(key, pending[key],
                               str(self.out_dir / self.names[key]) if options.reports else None),
                         kept=kept_records(key, pending[key], self.done_images,
                                           self.done_patients))
                 for key in sorted(pending)]
        try:
            cancelled = self._screen(tasks, resumed, len(scanned))
            if not cancelled:
                # A photograph filed for another patient or visit too is known by content once
                # every photograph is screened: its visits are decided again with it marked
                # (never "no referable DR"), and again when it no longer is.
                again = self._filed_elsewhere_tasks(groups)
                if again:
                    log.warning("%d patient visits decided again: a photograph of theirs is "
                                "filed for another patient or visit too (or no longer is), or "
                                "was screened before for another patient", len(again))
                    cancelled = self._screen(again, len(self.done_images), len(scanned))
        finally:
            if self.auditor is not None:
                self.auditor.close()
        errors = tuple((r["path"], "; ".join(r["reasons"])) for r in self.done_images.values()
                       if r["status"] == "error" and group_key(r) in groups)
        return BatchSummary(
            images=len(self.done_images), ok=self.counts["ok"],
            ungradable=self.counts["ungradable"], errors=self.counts["errors"],
            patients=tuple(self.rows.values()), out_dir=self.out_dir,
            results_csv=self.out_dir / RESULTS_CSV, patients_csv=self.out_dir / PATIENTS_CSV,
            journal=self.out_dir / JOURNAL, cancelled=cancelled, resumed=resumed,
            error_files=errors, waiting=waiting, damaged_records=self.journal.damaged,
            damaged_copy=self.journal.damaged_copy,
            ungradable_reasons=ungradable_reasons(self.done_images),
            referrals_withdrawn=tuple(self.withdrawn),
            differing_from_trail=tuple(sorted({pid for pid, _ in self.not_in_trail})),
            left_out_unconfirmed=tuple(sorted({pid for pid, _ in self.left_out})),
            screened_before_for_another=tuple(sorted({
                r["patient_id"] for r in self.done_images.values()
                if r.get("screened_for_another") and group_key(r) in groups})),
            unprintable_on_reports=self._unprintable(groups),
            referrals_missing=self.referrals_missing,
            journal_state=self.journal_state,
            **photographs_to_check(self.done_images, groups, self.elsewhere),
            **_naming_notes(scanned, groups, options.pattern),
        )

    def _screen(self, tasks: list[PatientTask], resumed: int, total: int) -> bool:
        """Screen the tasks and commit each result as it comes; True when cancelled."""
        options = self.options
        owned = options.executor is None
        executor = options.executor
        if executor is None and tasks:
            executor = local_executor(self.settings, options.workers, len(tasks))
        task_of = {task.key: task for task in tasks}
        started = last_tables = time.monotonic()
        refresh_s = CSV_REFRESH_SECONDS
        finished = resumed
        cancelled = False
        try:
            for key, results, screened_at in executor.results(tasks) if tasks else ():
                task = task_of.pop(key, None)
                if task is None:  # already committed in this run (a task run twice)
                    log.info("a visit's result arrived twice; committed once")
                    continue
                self._commit(task, results, screened_at)
                finished += len(results)
                if time.monotonic() - last_tables > refresh_s:
                    took = time.monotonic()
                    write_tables(self.out_dir, self.done_images, self.done_patients, self.mode)
                    last_tables = time.monotonic()
                    # Rewriting the tables grows with the folder: at most ~10% of this
                    # process's time goes to it (a 2 s refresh for a camera folder, minutes
                    # for an archive of millions).
                    refresh_s = max(CSV_REFRESH_SECONDS, 10 * (last_tables - took))
                if options.progress:
                    elapsed = max(time.monotonic() - started, 1e-6)
                    rate = (finished - resumed) / elapsed
                    options.progress(BatchProgress(
                        finished, total, self.counts["errors"], self.counts["ungradable"],
                        rate, (total - finished) / rate if rate > 0 else None))
                if options.cancel is not None and options.cancel.is_set():
                    cancelled = True
                    break
        except BaseException:  # Ctrl-C, a lost worker, a report that cannot be written: stop now
            cancelled = True
            raise
        finally:
            if executor is not None and (owned or cancelled):
                executor.stop(cancelled)
            write_tables(self.out_dir, self.done_images, self.done_patients, self.mode)
        return cancelled

    def _unprintable(self, groups: dict) -> tuple[str, ...]:
        """Patients of this folder's reports whose ID or name their fonts cannot print."""
        if not self.options.reports:
            return ()
        from .report import printable

        return tuple(sorted({
            pid for (pid, visit), record in self.done_patients.items()
            if (pid, visit) in groups and record.get("report")
            and (printable(pid)[1] or printable(record.get("patient_name") or "")[1])}))

    def _screened_before(self) -> set[tuple[GroupKey, str]]:
        """(visit, relative path) of the photographs of the visits decided in this run that
        the audit trail holds screened for another patient before, in another batch output
        folder, before any record of them for this patient (the earlier patient's visit is not
        marked by the later misfiled copy; within this folder ``filed_elsewhere`` decides).
        Decisions of ``screen`` and the window do not count: their patient ID is typed, often
        in another form (a record number) than the camera's file names give."""
        from .audit import patient_ref, recorded_decisions

        if not self.committed:
            return set()
        trail = recorded_decisions(self.settings.audit_db, self.settings.audit_key)
        if trail is None:
            return set()
        found = set()
        for (pid, visit, path), record in self.done_images.items():
            if (pid, visit) not in self.committed or not record.get("sha256"):
                continue
            entries = trail.owners.get(record["sha256"], [])
            ref = patient_ref(pid, trail.key)
            first = min((rid for rid, owner, _f in entries if owner == ref), default=None)
            if any(owner != ref and folder and folder != self.folder_id
                   and (first is None or rid < first) for rid, owner, folder in entries):
                found.add(((pid, visit), path))
        return found

    def _filed_elsewhere_tasks(self, groups: dict) -> list[PatientTask]:
        """The visits whose photographs' record of being filed elsewhere too
        (``ImageResult.filed_also_for``) is not what the folder now holds, or (decided in this
        run) of being screened before for another patient (``screened_for_another``) not what
        the audit trail holds, as tasks that carry what they hold."""
        elsewhere = self.elsewhere = filed_elsewhere(self.done_images, groups)
        before = self._screened_before()
        by_visit: dict[GroupKey, dict[str, dict]] = {}
        for (pid, visit, path), record in self.done_images.items():
            by_visit.setdefault((pid, visit), {})[path] = record
        tasks = []
        for key in sorted(groups):
            records = by_visit.get(key, {})
            if key not in self.done_patients or not records:
                continue
            named = {path: elsewhere_named(key, elsewhere[(key, path)])
                     for path in records if (key, path) in elsewhere}
            flagged = {path: (key, path) in before if key in self.committed
                       else bool(r.get("screened_for_another"))
                       for path, r in records.items()}
            if all(tuple(r.get("filed_also_for") or ()) == named.get(path, ())
                   and bool(r.get("screened_for_another")) == flagged[path]
                   for path, r in records.items()):
                continue
            images = groups[key]
            task = _task(key, images, str(self.out_dir / self.names[key])
                         if self.options.reports else None)
            tasks.append(replace(
                task, kept=kept_records(key, images, self.done_images, self.done_patients),
                filed_also_for=tuple(named.items()),
                screened_for_another=tuple(path for path, flag in flagged.items() if flag)))
            self.sources.update({(*key, i.rel): i for i in images})
        return tasks

    def _unconfirmed(self, keys: list[GroupKey], groups: dict) -> list[GroupKey]:
        """``unconfirmed_visits`` of ``keys``; and how many referrals the audit trail holds
        for this output folder that its results file has lost (``referrals_missing``)."""
        from .audit import patient_ref, recorded_decisions

        trail = recorded_decisions(self.settings.audit_db, self.settings.audit_key)
        if trail is not None and self.folder_id:
            known = {(patient_ref(pid, trail.key), visit)
                     for pid, visit in [*self.done_patients, *groups]}
            self.referrals_missing = sum(
                1 for (ref, visit, folder), (_record, outcome) in trail.latest.items()
                if folder == self.folder_id and outcome in ("refer", "refer_urgent")
                and (ref, visit) not in known)
            if self.referrals_missing:
                log.warning("%d referrals this output folder made (audit trail) are missing "
                            "from its results file", self.referrals_missing)
        return unconfirmed_visits(keys, self.done_patients, self.done_images, trail,
                                  self.table, self.referred_later)

    def _commit(self, task: PatientTask, results: tuple[ImageResult, ...],
                screened_at: str) -> None:
        """Decide, audit and journal one visit whose photographs are screened (and report
        written). The audit record first: a decision that reaches the results always has its
        audit record. A crash between the two leaves the visit unfinished, so it is screened
        (and audited) again on resume, rather than a result without an audit record."""
        key = task.key
        for k in [k for k in self.done_images if k[:2] == key]:
            self.counts[_count_key(self.done_images.pop(k)["status"])] -= 1
        for result in results:
            self.counts[_count_key(result.status.value)] += 1
        decision = combine_patient(_patient_info(task, screened_at), results, self.table,
                                   screened_at, self.manifest.info, self.thresholds_version)
        report_rel = self.names[key] if self.options.reports else None
        if task.report_path is not None and is_crashed_visit(results):
            # Its workers died before writing the report: written here, from the same decision.
            from .report import build_report

            build_report(decision, Path(task.report_path), self.settings)
        record = patient_record(decision, [r.source for r in results], report_rel, task.visit)
        report = Path(task.report_path) if task.report_path is not None else None
        if report is not None and report.is_file():
            record["report_file"] = report_file_record(report)
        earlier = self.done_patients.get(key)
        if ((key in self.referred_later or (earlier is not None
                                            and Outcome(earlier["outcome"]).is_referral))
                and not decision.outcome.is_referral):
            log.warning("a visit decided again no longer refers: its earlier referral is "
                        "withdrawn")
            self.withdrawn.append(task.patient_id)
        if self.auditor is not None:
            self.auditor.record_patient(decision, self.settings.operator,
                                        report if report is not None and report.is_file()
                                        else None, visit=task.visit, folder=self.folder_id)
        kept = {record["path"]: record for record in task.kept}
        images = [{**kept[r.source], "filed_also_for": list(r.filed_also_for)}
                  if r.source in kept
                  else image_record(r, task.patient_id, self.sources[(*key, r.source)])
                  for r in results]
        self.journal.append([*images, record])
        self.journal_state = _journal_state(self.out_dir)  # as this run left it
        self.done_patients[key] = record
        for r, image in zip(results, images, strict=True):
            self.done_images[(*key, r.source)] = image
        if earlier is not None:
            self._remove_stale(earlier, record)
        self.committed.add(key)
        self._add_row(record)

    def _remove_stale(self, earlier: dict, record: dict) -> None:
        """Files of a visit's earlier decision that this one replaces without rewriting them:
        its report where this run writes none (``--no-reports``), and its FHIR bundle (written
        again by ``--fhir``). Left, they said the earlier outcome under the patient's name
        (found 2026-12-02: "No referable DR" beside a REFER in patients.csv)."""
        from .clinic.fhir_export import bundle_path

        stale = [bundle_path(self.out_dir, earlier)]
        if earlier.get("report") and not record.get("report"):
            stale.append(self.out_dir / earlier["report"])
        for path in stale:
            try:
                path.unlink()
                log.info("a file of a visit's earlier decision was removed")
            except FileNotFoundError:
                pass
            except OSError as exc:
                log.warning("a file of a visit's earlier decision could not be removed (%s)",
                            exc.strerror or exc)


def unconfirmed_visits(keys: list[GroupKey], done_patients: dict, done_images: dict,
                       trail: TrailDecisions | None, table: ReferralTable,
                       referred_later: set[GroupKey] | None = None) -> list[GroupKey]:
    """The visits of ``keys`` (taken from the results file, which anyone who can write the
    folder can edit) whose record this installation's verified audit trail does not
    confirm: the trail missing or failing verification (it vouches for nothing: a folder
    moved to another installation, the trail lost); the decision not recorded as it
    stands (outcome, each photograph's content, eye, grade and P(referable)); a later
    decision of the visit in this output folder (an older copy of the folder put back); a
    report file other than the one the decision was issued with; or wording, grades and
    notes that the photographs' records and the referral table do not give.
    ``referred_later`` receives the visits whose later decision in this output folder was a
    referral (a backup put back after a referral: screened again, its withdrawal is said).
    ``trail``: the trail's decisions (``audit.recorded_decisions``; None: it vouches for
    nothing)."""
    from .audit import decision_fingerprint, patient_ref, summary_of_record

    if not keys:
        return []
    if trail is None:
        log.warning("the audit trail cannot be verified, so it confirms none of the %d "
                    "visits of the results file: they are screened again, or left out "
                    "where their photographs are gone", len(keys))
        return list(keys)
    unconfirmed = []
    for visit in keys:
        record = done_patients[visit]
        try:
            images = [done_images[(*visit, rel)] for rel in record["images"]]
        except KeyError:
            unconfirmed.append(visit)
            continue
        ref = patient_ref(visit[0], trail.key)
        wanted = decision_fingerprint(str(record["outcome"]),
                                      [summary_of_record(i) for i in images])
        match = [d for d in trail.by_time.get((ref, str(record["screened_at"])), [])
                 if d.fingerprint == wanted]
        report_sha = (record.get("report_file") or {}).get("sha256", "")
        later = (trail.latest.get((ref, match[-1].visit, match[-1].folder), (0, ""))
                 if match and match[-1].folder else (0, ""))
        if later[0] > (match[-1].record_id if match else 0) and referred_later is not None \
                and Outcome(later[1]).is_referral:
            referred_later.add(visit)
        if (not match
                or later[0] > match[-1].record_id
                or (report_sha and match[-1].report_sha256
                    and report_sha != match[-1].report_sha256)
                or not _as_decided(visit, record, images, table)):
            unconfirmed.append(visit)
    if unconfirmed:
        log.warning("%d visits of the results file are not confirmed by the audit trail "
                    "(edited, replaced by a later decision, or from another installation)",
                    len(unconfirmed))
    return unconfirmed


def _as_decided(visit: GroupKey, record: dict, images: list[dict],
                table: ReferralTable) -> bool:
    """Whether the visit's record says what its photographs' records decide under this
    run's referral table (outcome, wording, grades, notes), and each photograph's grade
    and referable flag are its probabilities' at its threshold."""
    results = [image_from_record(image) for image in images]
    for image, result in zip(images, results, strict=True):
        grading = result.grading
        if grading is None:
            if image.get("icdr_grade") is not None or image.get("referable") is not None:
                return False
            continue
        threshold = image.get("referable_threshold")
        if (image.get("icdr_grade") != grading.grade
                or (threshold is not None
                    and grading.referable != (grading.p_referable >= float(threshold)))):
            return False
    decision = combine_patient(PatientInfo(visit[0]), results, table,
                               str(record["screened_at"]), None, "")
    rebuilt = patient_record(decision, list(record["images"]), record.get("report"),
                             visit[1])
    fields = ("outcome", "eyes", "decision", "action", "interval", "urgency", "right_grade",
              "left_grade", "image_count", "ungradable", "errors", "notes")
    return all(rebuilt.get(name) == record.get(name) for name in fields)


def _task(key: GroupKey, images: list[InputImage], report_path: str | None) -> PatientTask:
    """One visit's task; the patient's details (printed on the report) are the first that
    any of its DICOM photographs carries."""
    def first(attribute: str) -> str:
        return next((getattr(i, attribute) for i in images if getattr(i, attribute)), "")

    persons = tuple((i.rel, person) for i in images
                    if (person := person_of(i.patient_name, i.birth_date, i.sex)))
    return PatientTask(key[0], tuple((str(i.path), i.rel, i.eye.value) for i in images),
                       report_path, key[1], first("patient_name"), first("birth_date"),
                       first("sex"), first("accession"), persons=persons)


def watch_folder(input_dir: Path, out_dir: Path, settings: Settings, *, interval_s: float = 5.0,
                 settle_s: float = 10.0, cancel: threading.Event, **kwargs) -> BatchSummary:
    """Screen the folder, then keep screening new and changed photographs, until cancelled.

    A photograph is screened once its size and content hash have stayed the same for
    ``settle_s`` seconds (the camera may still be writing it), whatever its file time says;
    a visit whose photographs grow or change is screened again. Unreadable photographs are
    tried again on the first pass and whenever they change. An input folder that cannot be
    reached after the first pass (a network share's blip) is waited for, not an error.
    """
    stability = StabilityTracker(settle_s)
    hashes = ContentCache()
    said_once = _SaidOnce()
    log.addFilter(said_once)
    try:
        summary = run_batch(input_dir, out_dir, settings, cancel=cancel, allow_empty=True,
                            stability=stability, hashes=hashes, **kwargs)
        kwargs.pop("allow_other_input", None)  # the first pass recorded this input folder
        checked = time.monotonic()
        while not cancel.wait(interval_s):
            if not Path(input_dir).is_dir():
                # A network share or camera disk gone for a moment (found 2026-12-02: the
                # watch ended for good); the passes go on and screen it when it is back.
                log.warning("the input folder cannot be reached: watching goes on, and it is "
                            "screened again when it is back")
                continue
            # The results file is checked against the audit trail again when the pass finds
            # it otherwise than the last pass left it (something else wrote it: an edit during
            # the day), and at least every CONFIRM_EVERY_S (an edit made while a pass wrote).
            confirm = time.monotonic() - checked > CONFIRM_EVERY_S
            summary = run_batch(input_dir, out_dir, settings, cancel=cancel, allow_empty=True,
                                retry_errors=False, stability=stability, hashes=hashes,
                                confirm_records=confirm, expected_journal=summary.journal_state,
                                **kwargs)
            if confirm:
                checked = time.monotonic()
    finally:
        log.removeFilter(said_once)
    return summary


#: A watch checks the results file against the audit trail at least this often (seconds).
CONFIRM_EVERY_S = 60.0


def _journal_state(out_dir: Path) -> tuple[int, int, int] | None:
    """The results journal's size, modification time and inode (None when it is missing)."""
    try:
        stat = (Path(out_dir) / JOURNAL).stat()
    except OSError:
        return None
    return stat.st_size, stat.st_mtime_ns, stat.st_ino


class _SaidOnce(logging.Filter):
    """In watch mode: a warning of this module the same as an earlier pass's (the same
    findings about the folder) is not logged again, so that days of passes every few seconds
    do not push the log's history out of its rotation."""

    def __init__(self) -> None:
        super().__init__()
        self.said: set[str] = set()

    def filter(self, record: logging.LogRecord) -> bool:
        if record.levelno < logging.WARNING:
            return True
        said = record.getMessage()
        if said in self.said:
            return False
        self.said.add(said)
        return True
