"""The audit trail: a keyed, hash-chained record of every screening, in a local SQLite database.

Each record holds the time, the operator, a pseudonymous patient reference, the sha256 of every
input file, the model's version, sha256, manifest sha256, threshold and whether it is a trusted
model, the quality thresholds' version and the decision.

Tamper evidence against someone who can read and write the database file:

- **Keyed chain.** Each record's MAC is HMAC-SHA256, under a per-installation secret, of its
  content and the previous record's MAC; the first record is chained to the trail's random ID.
  The secret (``audit_key`` setting, by default ``~/.config/retina-screen/audit.key``) is created
  on first use, owner-only (0600, folder 0700), outside the database. Without it, an edited
  record cannot be re-chained.
- **Keyed pseudonyms.** The patient reference is an HMAC of the patient ID under the same
  secret, so it cannot be reversed by trying every possible ID.
- **Checkpoints.** After each record is committed, a MAC'ed checkpoint (trail ID, database
  location, record count, last MAC) is written beside the key, outside the database's folder.
  Deleted last records, an emptied table, an older copy put back, or a different database at
  the same location are detected against it.
- **Crash consistency.** The checkpoint is written only after the record is committed, under a
  lock held across both, so an interruption at any moment leaves either the old state or a
  trail one record ahead of its checkpoint, which verifies as intact (nothing is reported that
  is not there). ``<db>.head`` (count, last MAC, MAC) is kept beside the database as before.

Limits: someone who can read the key (the same user account, or an administrator) can forge
everything; the trail proves integrity against other people with access to the files, not
against the owner of the key.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import hashlib
import hmac
import json
import logging
import os
import secrets
import sqlite3
import uuid
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

from .atomic import file_sha256, fsync_folder, lock_exclusive
from .errors import AuditError
from .results import ImageResult, PatientResult

if TYPE_CHECKING:
    from .settings import Settings

log = logging.getLogger(__name__)

FORMAT = "hmac-sha256-chain-v2"
GENESIS = "0" * 64  # the first record's previous hash in the old, unkeyed format
CHECKPOINT_DIR = "audit-checkpoints"
_SCHEMA = """
CREATE TABLE IF NOT EXISTS records (
    id INTEGER PRIMARY KEY,
    time TEXT NOT NULL,
    kind TEXT NOT NULL,
    operator TEXT NOT NULL,
    patient_ref TEXT NOT NULL,
    payload TEXT NOT NULL,
    prev_hash TEXT NOT NULL,
    hash TEXT NOT NULL
)
"""
_META_SCHEMA = "CREATE TABLE IF NOT EXISTS trail (key TEXT PRIMARY KEY, value TEXT NOT NULL)"


# ---------------------------------------------------------------------------------------------
# The installation's secret


def default_key_path() -> Path:
    from .settings import user_config_dir

    return user_config_dir() / "audit.key"


def load_key(path: Path | None = None, create: bool = True) -> bytes:
    """The installation's audit secret (32 bytes), created owner-only on first use."""
    path = Path(path) if path is not None else default_key_path()
    if not path.exists() and create:
        try:
            path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
            fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
            try:
                os.write(fd, (secrets.token_hex(32) + "\n").encode())
                os.fsync(fd)
            finally:
                os.close(fd)
            log.info("created a new audit key for this installation")
        except FileExistsError:
            pass  # another process created it at the same moment
        except OSError as exc:
            raise AuditError(f"the audit key {path} cannot be created: "
                             f"{exc.strerror or exc}") from exc
    try:
        if os.name == "posix" and path.stat().st_mode & 0o077:
            raise AuditError(f"the audit key {path} can be read by other users; make it "
                             f"private (chmod 600 {path}) before using the audit trail")
        text = path.read_text(encoding="ascii").strip()
        key = bytes.fromhex(text)
    except FileNotFoundError as exc:
        raise AuditError(f"the audit key {path} is missing: the trail can only be written and "
                         "verified with the key of the installation that wrote it") from exc
    except (OSError, ValueError) as exc:
        raise AuditError(f"the audit key {path} is unreadable or damaged") from exc
    if len(key) != 32:
        raise AuditError(f"the audit key {path} is damaged (wrong length)")
    return key


def _mac(key: bytes, *parts: object) -> str:
    message = json.dumps(list(parts), ensure_ascii=False, separators=(",", ":"))
    return hmac.new(key, message.encode("utf-8", "surrogatepass"), hashlib.sha256).hexdigest()


def key_id(key: bytes) -> str:
    """A public fingerprint of the key (which installation wrote a trail)."""
    return _mac(key, "key-id")[:16]


def patient_ref(patient_id: str, key: bytes) -> str:
    """Pseudonymous reference: the same ID gives the same reference in one installation; not
    reversible without the installation's key. Any ID works (also undecodable file names)."""
    digest = hmac.new(key, b"patient:" + patient_id.encode("utf-8", "surrogatepass"),
                      hashlib.sha256)
    return digest.hexdigest()[:20]


def record_hash(key: bytes, prev_hash: str, record_id: int, time: str, kind: str,
                operator: str, reference: str, payload: str) -> str:
    """The record's MAC: HMAC-SHA256 over the previous MAC and the record's content."""
    return _mac(key, prev_hash, record_id, time, kind, operator, reference, payload)


def genesis(key: bytes, trail_id: str) -> str:
    return _mac(key, "genesis", trail_id)


def _legacy_hash(prev_hash: str, record_id: int, time: str, kind: str, operator: str,
                 reference: str, payload: str) -> str:
    content = json.dumps([record_id, time, kind, operator, reference, payload],
                         ensure_ascii=False, separators=(",", ":"))
    return hashlib.sha256((prev_hash + content).encode("utf-8")).hexdigest()


def _image_summary(image: ImageResult) -> dict:
    """What the trail keeps of an image: a subset of its record (no path, no identifiers)."""
    return summary_of_record(image.to_record())


# ---------------------------------------------------------------------------------------------
# Checkpoints (beside the key, outside the database's folder)


@dataclass(frozen=True)
class Checkpoint:
    trail_id: str
    db: str  # resolved database path when written
    created: str
    count: int
    last: str  # MAC of the last record ("" when count is 0)


def _checkpoint_dir(key_path: Path) -> Path:
    return key_path.parent / CHECKPOINT_DIR


def _write_checkpoint(key: bytes, key_path: Path, cp: Checkpoint) -> None:
    folder = _checkpoint_dir(key_path)
    folder.mkdir(mode=0o700, parents=True, exist_ok=True)
    body = {**cp.__dict__, "mac": _mac(key, "checkpoint", cp.trail_id, cp.db, cp.created,
                                       cp.count, cp.last)}
    target = folder / f"{cp.trail_id}.json"
    tmp = folder / f".{cp.trail_id}.{os.getpid()}.tmp"
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as handle:
        handle.write(json.dumps(body) + "\n")
        handle.flush()
        os.fsync(handle.fileno())
    os.replace(tmp, target)
    fsync_folder(folder)


def _read_checkpoint(key: bytes, file: Path) -> Checkpoint | None:
    """The checkpoint in ``file``; None if missing; AuditError-free: a damaged one is None."""
    try:
        body = json.loads(file.read_text(encoding="utf-8"))
        cp = Checkpoint(str(body["trail_id"]), str(body["db"]), str(body["created"]),
                        int(body["count"]), str(body["last"]))
    except (OSError, ValueError, KeyError, TypeError):
        return None
    expected = _mac(key, "checkpoint", cp.trail_id, cp.db, cp.created, cp.count, cp.last)
    return cp if hmac.compare_digest(expected, str(body.get("mac", ""))) else None


def _checkpoints_for(key: bytes, key_path: Path, db: Path) -> list[Checkpoint]:
    """Every valid checkpoint this installation wrote for a database at ``db``."""
    folder = _checkpoint_dir(key_path)
    if not folder.is_dir():
        return []
    wanted = str(db.resolve())
    found = []
    for file in sorted(folder.glob("*.json")):
        cp = _read_checkpoint(key, file)
        if cp is not None and cp.db == wanted:
            found.append(cp)
    return sorted(found, key=lambda c: c.created)


@contextlib.contextmanager
def _locked(path: Path) -> Iterator[None]:
    """An exclusive lock on ``path`` (waiting for it), on POSIX and Windows alike."""
    path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
    fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o600)
    try:
        lock_exclusive(fd)
        yield
    finally:
        os.close(fd)


def _now() -> str:
    return dt.datetime.now().astimezone().isoformat(timespec="seconds")


# ---------------------------------------------------------------------------------------------
# Writing


class AuditTrail:
    """Appends keyed, chained records. Safe to use from several processes."""

    def __init__(self, path: Path, mode: int = 0o600, key_path: Path | None = None) -> None:
        self.path = Path(path)
        self.head_path = self.path.with_name(self.path.name + ".head")
        self.key_path = Path(key_path) if key_path is not None else default_key_path()
        self.mode = mode
        self.key = load_key(self.key_path, create=True)
        try:
            self.path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
            if not self.path.exists():
                os.close(os.open(self.path, os.O_WRONLY | os.O_CREAT, mode))
            self.connection = sqlite3.connect(str(self.path), timeout=30,
                                              isolation_level=None)
            self.trail_id = self._open_trail()
            row = self.connection.execute(
                "SELECT value FROM trail WHERE key = 'created'").fetchone()
            self.created = row[0] if row else ""
        except (OSError, sqlite3.Error) as exc:
            raise AuditError(f"audit trail {self.path} cannot be opened: {exc}") from exc

    def _open_trail(self) -> str:
        """The trail's ID, creating the trail (tables, ID, first checkpoint) if new."""
        cursor = self.connection.cursor()
        cursor.execute("BEGIN IMMEDIATE")
        try:
            cursor.execute(_SCHEMA)
            cursor.execute(_META_SCHEMA)
            meta = dict(cursor.execute("SELECT key, value FROM trail").fetchall())
            if meta.get("trail_id"):
                cursor.execute("COMMIT")
                if meta.get("format") != FORMAT:
                    raise AuditError(f"audit trail {self.path} has an unknown format")
                if meta.get("key_id") != key_id(self.key):
                    raise AuditError(
                        f"audit trail {self.path} was written with another installation's audit "
                        "key; use that installation's key, or move the database aside so that "
                        "a new trail is started")
                return meta["trail_id"]
            if cursor.execute("SELECT count(*) FROM records").fetchone()[0]:
                raise AuditError(
                    f"audit trail {self.path} was written by an older version without a keyed "
                    "chain; keep it as it is and move it aside (retina-screen audit verify "
                    "--db checks it), so that a new, keyed trail is started")
            trail_id = uuid.uuid4().hex
            created = _now()
            earlier = [cp for cp in _checkpoints_for(self.key, self.key_path, self.path)
                       if cp.count > 0]
            replaces = json.dumps([{"trail_id": cp.trail_id, "records": cp.count}
                                   for cp in earlier])
            cursor.executemany("INSERT INTO trail VALUES (?, ?)", [
                ("format", FORMAT), ("trail_id", trail_id), ("key_id", key_id(self.key)),
                ("created", created), ("replaces", replaces)])
            cursor.execute("COMMIT")
        except BaseException:
            with contextlib.suppress(sqlite3.Error):
                cursor.execute("ROLLBACK")
            raise
        if earlier:
            log.warning("a new audit trail was started where an earlier one with records was: "
                        "the earlier database was deleted, moved or replaced")
        self._checkpoint(Checkpoint(trail_id, str(self.path.resolve()), created, 0, ""))
        return trail_id

    def close(self) -> None:
        with contextlib.suppress(sqlite3.Error):
            self.connection.close()

    def _lock_path(self) -> Path:
        return _checkpoint_dir(self.key_path) / f"{self.trail_id}.lock"

    def _checkpoint(self, cp: Checkpoint) -> None:
        try:
            _write_checkpoint(self.key, self.key_path, cp)
        except OSError as exc:
            log.warning("audit checkpoint could not be written (%s); verification stays "
                        "possible, deletion of the newest records is not detectable until the "
                        "next checkpoint", exc.strerror or exc)

    def append(self, kind: str, operator: str, reference: str, payload: dict) -> int:
        text = json.dumps(payload, ensure_ascii=False, sort_keys=True)
        time = _now()
        try:
            with _locked(self._lock_path()):
                checkpoint = _read_checkpoint(
                    self.key, _checkpoint_dir(self.key_path) / f"{self.trail_id}.json")
                cursor = self.connection.cursor()
                cursor.execute("BEGIN IMMEDIATE")
                try:
                    row = cursor.execute(
                        "SELECT id, hash FROM records ORDER BY id DESC LIMIT 1").fetchone()
                    record_id, prev = (row[0] + 1, row[1]) if row else (
                        1, genesis(self.key, self.trail_id))
                    if checkpoint is not None and checkpoint.count > record_id - 1:
                        raise AuditError(
                            f"the audit trail {self.path} has fewer records than were written "
                            "to it (records deleted or the database replaced); run "
                            "'retina-screen audit verify' and move the damaged trail aside")
                    digest = record_hash(self.key, prev, record_id, time, kind, operator,
                                         reference, text)
                    cursor.execute("INSERT INTO records VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
                                   (record_id, time, kind, operator, reference, text, prev,
                                    digest))
                    cursor.execute("COMMIT")
                except BaseException:
                    with contextlib.suppress(sqlite3.Error):
                        cursor.execute("ROLLBACK")
                    raise
                # Only after COMMIT: a crash before this line leaves the trail one record ahead
                # of its checkpoint, which verifies as intact.
                self._checkpoint(Checkpoint(self.trail_id, str(self.path.resolve()),
                                            self.created, record_id, digest))
                self._write_head(record_id, digest)
        except (OSError, sqlite3.Error) as exc:
            raise AuditError(f"audit record could not be written: {exc}") from exc
        return record_id

    def _write_head(self, count: int, digest: str) -> None:
        tmp = self.head_path.with_name(self.head_path.name + f".{os.getpid()}.tmp")
        with contextlib.suppress(OSError):
            fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, self.mode)
            with os.fdopen(fd, "w") as handle:
                mac = _mac(self.key, "head", self.trail_id, count, digest)
                handle.write(f"{count} {digest} {mac}\n")
                handle.flush()
                os.fsync(handle.fileno())
            os.replace(tmp, self.head_path)

    def patient_ref(self, patient_id: str) -> str:
        return patient_ref(patient_id, self.key)

    def record_patient(self, result: PatientResult, operator: str = "",
                       report: Path | bytes | None = None, issued: str = "",
                       visit: str = "", folder: str = "") -> int:
        """One record for a patient's screening (all its images and the decision), with the
        sha256 of the PDF ``report`` (a file or its bytes) it was issued as, if any, and how
        (``issued``: "saved", "printed", "queued for the PACS"; empty for a batch's or a
        command's own report), so that a report can later be checked against the trail
        (:func:`check_reports`). ``visit`` is the batch's visit (by default the screening
        date): a later record of the same patient and visit replaces this one's decision.
        ``folder`` is a batch output folder's identity (its ``run.json``): the decisions of
        one output folder are checked against each other, not against a look at a photograph
        with ``screen`` or in the window."""
        model = result.model
        payload = {
            "outcome": result.outcome.value,
            "decision": result.referral.headline,
            "images": [_image_summary(i) for i in result.images],
            "model": model.name if model else "",
            "model_version": model.version if model else "",
            "model_sha256": model.sha256 if model else "",
            "manifest_sha256": model.manifest_sha256 if model else "",
            "referable_threshold": model.threshold if model else None,
            "model_verified": model.verified if model else False,
            "thresholds_version": result.thresholds_version,
            "screened_at": result.screened_at,
            "visit": visit or result.patient.screening_date,
        }
        if model is not None and not model.verified:
            payload["model_warning"] = model.trust_label
        if report is not None:
            payload["report_sha256"] = report_sha256(report)
        if issued:
            payload["issued"] = issued
        if folder:
            payload["folder"] = folder
        return self.append("patient", operator, self.patient_ref(result.patient.patient_id),
                           payload)


def report_sha256(report: Path | bytes) -> str:
    """The sha256 of a written report (a file or its bytes), as the trail records it."""
    if isinstance(report, bytes):
        return hashlib.sha256(report).hexdigest()
    try:
        return file_sha256(report)
    except OSError as exc:
        raise AuditError(f"the report {report} cannot be read to record it: "
                         f"{exc.strerror or exc}") from exc


def record_decision(result: PatientResult, settings: Settings,
                    report: Path | bytes | None = None, issued: str = "") -> int:
    """A patient's decision recorded in the installation's trail (opened and closed here), with
    the report it was issued as and how (:meth:`AuditTrail.record_patient`): ``screen``, and
    the desktop app's patient screen when it saves, prints or sends a report. Returns the
    record's number."""
    trail = AuditTrail(settings.audit_db, settings.file_mode, key_path=settings.audit_key)
    try:
        return trail.record_patient(result, settings.operator, report, issued)
    finally:
        trail.close()


# ---------------------------------------------------------------------------------------------
# Verifying


@dataclass(frozen=True)
class VerifyReport:
    ok: bool
    records: int
    problems: tuple[str, ...]
    #: Facts that are not damage (e.g. a record written just before an interruption).
    notes: tuple[str, ...] = ()


def verify(path: Path, key_path: Path | None = None) -> VerifyReport:
    """Check the whole trail against the installation's key and checkpoints. Changes nothing
    (except that SQLite rolls back a write that was interrupted, as any reader would)."""
    return _verified(path, key_path)[0]


def _verified(path: Path, key_path: Path | None) -> tuple[VerifyReport, list]:
    """:func:`verify`'s report, and the records it read (for :func:`check_reports`)."""
    path = Path(path)
    key_path = Path(key_path) if key_path is not None else default_key_path()
    key = load_key(key_path, create=False)
    known = _checkpoints_for(key, key_path, path)
    if not path.is_file():
        written = sum(cp.count for cp in known)
        if written:
            return VerifyReport(False, 0, (
                f"the audit database is missing: this installation wrote {written} records "
                "to it (deleted or moved)",)), []
        raise AuditError(f"audit trail not found: {path}")
    try:
        try:
            tables, rows, meta = _read_trail(path, read_only=True)
        except sqlite3.OperationalError as exc:
            if "readonly" not in str(exc):
                raise
            # A write was interrupted: SQLite must roll back its journal before reading, which
            # a read-only connection cannot do. Rolling back changes no committed record.
            tables, rows, meta = _read_trail(path, read_only=False)
    except sqlite3.Error as exc:
        raise AuditError(f"audit trail {path} cannot be read: {exc}") from exc
    if not meta.get("trail_id"):
        return _verify_without_identity(path, tables, rows, known), rows
    problems: list[str] = []
    notes: list[str] = []
    trail_id = meta["trail_id"]
    if meta.get("key_id") != key_id(key):
        return VerifyReport(False, len(rows), (
            "this trail was written with another installation's audit key (or the key was "
            "replaced): its records cannot be checked here",)), rows
    _check_chain(rows, key, genesis(key, trail_id), problems)
    checkpoint = _read_checkpoint(key, _checkpoint_dir(key_path) / f"{trail_id}.json")
    if checkpoint is None:
        problems.append("this installation has no valid checkpoint for this trail (the database "
                        "comes from elsewhere, or the checkpoint was removed or edited)")
    else:
        if checkpoint.count > len(rows):
            problems.append(f"the trail ends at record {len(rows)}, but {checkpoint.count} "
                            "records were written (records deleted from the end, the table "
                            "emptied, or an older copy of the database put back)")
        elif checkpoint.count and rows[checkpoint.count - 1][7] != checkpoint.last:
            problems.append(f"record {checkpoint.count} is not the record that was written "
                            "(records replaced)")
        elif len(rows) > checkpoint.count:
            notes.append(f"{len(rows) - checkpoint.count} record(s) written after the last "
                         "checkpoint (an interrupted write); they verify correctly")
    newer = [cp for cp in known
             if cp.trail_id != trail_id and cp.created > meta.get("created", "")]
    if newer and checkpoint is not None and str(path.resolve()) == checkpoint.db:
        problems.append("the database at this location was replaced by an older one: a newer "
                        f"trail with {newer[-1].count} records was written here")
    try:
        replaced = json.loads(meta.get("replaces") or "[]")
    except ValueError:
        replaced = []
    for earlier in replaced:
        problems.append(f"this trail was started after an earlier trail here with "
                        f"{earlier.get('records')} records disappeared (the database was "
                        "deleted, moved or replaced)")
    _check_head(path, key, trail_id, len(rows), problems)
    return VerifyReport(not problems, len(rows), tuple(problems), tuple(notes)), rows


@dataclass(frozen=True)
class IssuedReport:
    """A record of the trail that names a report by its sha256."""

    record_id: int
    time: str
    kind: str
    outcome: str
    issued: str
    patient_ref: str = ""  # the pseudonymous reference of the patient it was issued for
    #: A later decision of the same patient and visit that replaced this one ("record N of
    #: TIME, outcome X"); empty while this is the visit's latest.
    superseded_by: str = ""


@dataclass(frozen=True)
class ReportCheck:
    """What the trail says about one report file (:func:`check_reports`)."""

    path: Path
    sha256: str
    records: tuple[IssuedReport, ...]  # empty: not in this trail (not issued here, or changed)


def check_reports(db: Path, reports: list[Path], key_path: Path | None = None
                  ) -> tuple[VerifyReport, list[ReportCheck]]:
    """The trail's own verification, and for each report file the records that issued it
    (found by its sha256: a report changed after it was written is not found). Changes
    nothing. Raises ``AuditError`` if the trail cannot be read and ``OSError`` if a report
    cannot."""
    hashes = [file_sha256(path) for path in reports]
    verified, rows = _verified(Path(db), key_path)
    found: dict[str, list[IssuedReport]] = {}
    # (ref, visit, output folder) -> last decision: a batch folder's decisions supersede each
    # other, not a look at one photograph with ``screen`` or in the window (folder "").
    latest: dict[tuple[str, str, str], tuple[int, str, str]] = {}
    # (ref, screened at, outcome) -> (record, output folder)
    decided: dict[tuple[str, str, str], tuple[int, str]] = {}
    issued: list[tuple[int, str, str, str, dict, int | None]] = []
    for record_id, time, kind, _operator, reference, payload, _prev, _digest in rows:
        try:
            content = json.loads(payload)
        except ValueError:
            continue  # verification reports the damage
        at, outcome = str(content.get("screened_at", "")), str(content.get("outcome", ""))
        if kind == "patient":
            folder = str(content.get("folder") or "")
            decided[(reference, at, outcome)] = (record_id, folder)
            if content.get("visit"):
                latest[(reference, str(content["visit"]), folder)] = (record_id, time, outcome)
        if "report_sha256" in content:
            # The decision it reports: its own record, or (a rebuilt report) the decision it
            # was rebuilt from. By record, not time: two decisions can share a second.
            decision = (decided[(reference, at, outcome)] if kind == "patient"
                        else decided.get((reference, at, outcome)))
            issued.append((record_id, time, kind, str(reference), content, decision))
    for record_id, time, kind, reference, content, made in issued:
        decision, folder = made if made is not None else (None, "")
        newer = latest.get((reference, str(content.get("visit", "")), folder))
        superseded = (f"record {newer[0]} of {newer[1]}, outcome {newer[2]}"
                      if newer and decision is not None and newer[0] > decision else "")
        found.setdefault(str(content.get("report_sha256")), []).append(IssuedReport(
            record_id, time, kind, str(content.get("outcome", "")),
            str(content.get("issued", "")), reference, superseded))
    return verified, [ReportCheck(path, digest, tuple(found.get(digest, ())))
                      for path, digest in zip(reports, hashes, strict=True)]


@dataclass(frozen=True)
class RecordedDecision:
    """One patient decision as the verified trail holds it (for checking a results file)."""

    record_id: int
    fingerprint: str  # :func:`decision_fingerprint`
    report_sha256: str  # of the report it was issued with ("" without one)
    visit: str
    folder: str  # the batch output folder's identity ("" for ``screen`` and the window)


@dataclass(frozen=True)
class TrailDecisions:
    """The verified trail's patient decisions, by (patient reference, screening time) (two
    visits of one patient can be screened within a second), the latest record of each
    (reference, visit, output folder), and the key that makes the references."""

    by_time: dict[tuple[str, str], list[RecordedDecision]]
    latest: dict[tuple[str, str, str], tuple[int, str]]  # (record number, outcome)
    key: bytes
    #: The records each photograph (by sha256) was screened in: (record number, patient
    #: reference, output folder), in the trail's order.
    owners: dict[str, list[tuple[int, str, str]]] = field(default_factory=dict)


def recorded_decisions(db: Path, key_path: Path | None = None) -> TrailDecisions | None:
    """Every patient decision the verified trail holds (:class:`TrailDecisions`); None when
    the trail is missing, unreadable or fails verification (it then vouches for nothing)."""
    key_path = Path(key_path) if key_path is not None else default_key_path()
    try:
        key = load_key(key_path, create=False)
        verified, rows = _verified(Path(db), key_path)
    except AuditError:
        return None
    if not verified.ok:
        return None
    by_time: dict[tuple[str, str], list[RecordedDecision]] = {}
    latest: dict[tuple[str, str, str], tuple[int, str]] = {}
    owners: dict[str, list[tuple[int, str, str]]] = {}
    for record_id, _time, kind, _operator, ref, payload, _prev, _digest in rows:
        if kind == "patient":
            content = json.loads(payload)
            for image in content.get("images", []):
                if image.get("sha256"):
                    owners.setdefault(str(image["sha256"]), []).append(
                        (int(record_id), ref, str(content.get("folder") or "")))
            decision = RecordedDecision(
                int(record_id),
                decision_fingerprint(str(content.get("outcome")), content.get("images", [])),
                str(content.get("report_sha256") or ""), str(content.get("visit") or ""),
                str(content.get("folder") or ""))
            by_time.setdefault((ref, str(content.get("screened_at"))), []).append(decision)
            place = (ref, decision.visit, decision.folder)
            if decision.record_id > latest.get(place, (0, ""))[0]:
                latest[place] = (decision.record_id, str(content.get("outcome")))
    return TrailDecisions(by_time, latest, key, owners)


def decision_fingerprint(outcome: str, images: list[dict]) -> str:
    """A decision as the trail records it: its outcome and each photograph's summary
    (:func:`_image_summary`), in any order."""
    return json.dumps([outcome, sorted(json.dumps(i, sort_keys=True) for i in images)])


def summary_of_record(record: dict) -> dict:
    """:func:`_image_summary` of an image's journal record (``ImageResult.to_record``)."""
    return {"sha256": record["sha256"], "eye": record["eye"], "status": record["status"],
            "grade": record["icdr_grade"], "p_referable": record["p_referable"]}


def confirm_recorded_decision(db: Path, result: PatientResult, key_path: Path | None = None,
                              visit: str = "") -> int:
    """The number of the trail's record of ``result``'s decision, confirmed against what
    ``result`` says: the same patient, screening time, outcome and photographs (each one's
    sha256, eye, status, grade and P(referable)). A decision rebuilt from a batch's results
    file (which anyone who can write the folder can edit) is reported only when this
    installation's verified trail recorded it so, and (given its ``visit``) recorded no later
    decision of that visit in the same output folder (a look at one photograph with
    ``screen`` or in the window does not replace a batch's decision). Raises ``AuditError``
    with the reason."""
    key_path = Path(key_path) if key_path is not None else default_key_path()
    key = load_key(key_path, create=False)
    verified, rows = _verified(Path(db), key_path)
    if not verified.ok:
        raise AuditError("the audit trail fails verification ("
                         + "; ".join(verified.problems[:2])
                         + "), so the recorded decision cannot be confirmed")
    reference = patient_ref(result.patient.patient_id, key)
    wanted = decision_fingerprint(result.outcome.value,
                                  [_image_summary(i) for i in result.images])
    recorded = False
    # The visit's latest recorded decision in each output folder ("": screen, the window)
    latest: dict[str, tuple[int, dict]] = {}
    for record_id, _time, kind, _operator, ref, payload, _prev, _digest in reversed(rows):
        if kind != "patient" or ref != reference:
            continue
        content = json.loads(payload)
        if visit and content.get("visit") == visit:
            latest.setdefault(str(content.get("folder") or ""), (record_id, content))
        if content.get("screened_at") != result.screened_at:
            continue
        recorded = True
        if decision_fingerprint(str(content.get("outcome")),
                                content.get("images", [])) == wanted:
            later = latest.get(str(content.get("folder") or ""))
            if later is not None and later[0] != record_id:
                raise AuditError(
                    f"a later decision of this visit (record {later[0]}, outcome "
                    f"{later[1].get('outcome')}) replaced the one in the results file (an "
                    "older copy of the results, restored from a backup?)")
            return record_id
    if recorded:
        raise AuditError("the results file differs from the audit trail's record of this "
                         "decision (it was changed after screening)")
    raise AuditError("this decision is not in this installation's audit trail (the results "
                     "file was changed, or the batch ran on another installation)")


def _read_trail(path: Path, read_only: bool) -> tuple[set[str], list, dict[str, str]]:
    """(table names, records, trail identity) of the database at ``path``."""
    connection = sqlite3.connect(f"file:{path}?mode={'ro' if read_only else 'rw'}", uri=True,
                                 timeout=30)
    try:
        tables = {r[0] for r in connection.execute(
            "SELECT name FROM sqlite_master WHERE type = 'table'")}
        rows = connection.execute(
            "SELECT id, time, kind, operator, patient_ref, payload, prev_hash, hash "
            "FROM records ORDER BY id").fetchall() if "records" in tables else []
        meta = dict(connection.execute("SELECT key, value FROM trail").fetchall()) \
            if "trail" in tables else {}
    finally:
        connection.close()
    return tables, rows, meta


def _check_chain(rows: list, key: bytes | None, first: str, problems: list[str]) -> None:
    prev = first
    for index, (record_id, time, kind, operator, reference, payload, prev_hash, digest) in \
            enumerate(rows, start=1):
        if record_id != index:
            problems.append(f"record {index} is missing (next record is {record_id})")
        if prev_hash != prev:
            problems.append(f"record {record_id} does not follow the previous record "
                            "(deleted or reordered records)")
        if key is None:
            expected = _legacy_hash(prev_hash, record_id, time, kind, operator, reference,
                                    payload)
        else:
            expected = record_hash(key, prev_hash, record_id, time, kind, operator, reference,
                                   payload)
        if not hmac.compare_digest(expected, str(digest)):
            problems.append(f"record {record_id} was modified after it was written")
        prev = digest


def _check_head(path: Path, key: bytes, trail_id: str, count: int, problems: list[str]) -> None:
    head_path = path.with_name(path.name + ".head")
    if not head_path.is_file():
        return  # the checkpoint beside the key is the authority; the head is a convenience
    try:
        head_count, head_hash, head_mac = head_path.read_text().split()
        head_count_int = int(head_count)
    except (OSError, ValueError):
        problems.append("the head file beside the database is damaged")
        return
    if not hmac.compare_digest(_mac(key, "head", trail_id, head_count_int, head_hash), head_mac):
        problems.append("the head file beside the database is damaged or belongs to another "
                        "trail")
    elif head_count_int > count:
        problems.append(f"the trail ends at record {count}, but {head_count} records were "
                        "written (records deleted from the end)")


def _verify_without_identity(path: Path, tables: set[str], rows: list,
                             known: list[Checkpoint]) -> VerifyReport:
    """A database without the keyed trail's identity: emptied, replaced, an old trail, or a
    trail whose creation was interrupted before anything was recorded."""
    problems: list[str] = []
    written = max((cp.count for cp in known), default=0)
    head_count = 0
    with contextlib.suppress(OSError, ValueError, IndexError):
        head_count = int(path.with_name(path.name + ".head").read_text().split()[0])
    if written or head_count:
        problems.append(f"the database at this location was emptied or replaced: "
                        f"{max(written, head_count)} records were written to it")
    if rows:
        _check_chain(rows, None, GENESIS, problems)
        problems.append("this trail was written by an older version with an unkeyed chain: "
                        "anyone with access to the file could have rewritten it consistently, "
                        "so its records cannot be proven unaltered")
    elif tables - {"records", "trail"}:
        problems.append("this database is not an audit trail")
    return VerifyReport(not problems, len(rows), tuple(problems))
