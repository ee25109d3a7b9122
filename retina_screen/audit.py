"""The audit trail: a hash-chained record of every screening, in a local SQLite database.

Each record holds the time, the operator, a pseudonymous patient reference (a hash of the
patient ID, so the audit file holds no patient identifiers), the sha256 of every input file, the
model's version and sha256, the quality thresholds' version and the decision. Each record's hash
covers its content and the previous record's hash; a sidecar ``<db>.head`` file holds the count
and the last hash, so that editing, deleting (also the last records) or reordering records is
detected by :func:`verify`.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import hashlib
import json
import logging
import os
import sqlite3
from dataclasses import dataclass
from pathlib import Path

from .errors import AuditError
from .results import ImageResult, PatientResult

log = logging.getLogger(__name__)

GENESIS = "0" * 64
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


def patient_ref(patient_id: str) -> str:
    """Pseudonymous reference: the same ID always gives the same reference."""
    return hashlib.sha256(f"retina-screen:{patient_id}".encode()).hexdigest()[:20]


def record_hash(prev_hash: str, record_id: int, time: str, kind: str, operator: str,
                reference: str, payload: str) -> str:
    content = json.dumps([record_id, time, kind, operator, reference, payload],
                         ensure_ascii=False, separators=(",", ":"))
    return hashlib.sha256((prev_hash + content).encode("utf-8")).hexdigest()


def _image_summary(image: ImageResult) -> dict:
    return {
        "sha256": image.sha256, "eye": image.eye.value, "status": image.status.value,
        "grade": image.grading.grade if image.grading else None,
        "p_referable": round(image.grading.p_referable, 6) if image.grading else None,
    }


class AuditTrail:
    """Appends hash-chained records. Safe to use from several processes (SQLite locking)."""

    def __init__(self, path: Path, mode: int = 0o600) -> None:
        self.path = Path(path)
        self.head_path = self.path.with_name(self.path.name + ".head")
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            if not self.path.exists():
                os.close(os.open(self.path, os.O_WRONLY | os.O_CREAT, mode))
            self.connection = sqlite3.connect(str(self.path), timeout=30,
                                              isolation_level=None)
            self.connection.execute(_SCHEMA)
        except (OSError, sqlite3.Error) as exc:
            raise AuditError(f"audit trail {self.path} cannot be opened: {exc}") from exc
        self.mode = mode

    def close(self) -> None:
        with contextlib.suppress(sqlite3.Error):
            self.connection.close()

    def append(self, kind: str, operator: str, reference: str, payload: dict) -> int:
        text = json.dumps(payload, ensure_ascii=False, sort_keys=True)
        time = dt.datetime.now().astimezone().isoformat(timespec="seconds")
        try:
            cursor = self.connection.cursor()
            cursor.execute("BEGIN IMMEDIATE")
            row = cursor.execute("SELECT id, hash FROM records ORDER BY id DESC LIMIT 1").fetchone()
            record_id, prev = (row[0] + 1, row[1]) if row else (1, GENESIS)
            digest = record_hash(prev, record_id, time, kind, operator, reference, text)
            cursor.execute("INSERT INTO records VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
                           (record_id, time, kind, operator, reference, text, prev, digest))
            self._write_head(record_id, digest)
            cursor.execute("COMMIT")
        except (OSError, sqlite3.Error) as exc:
            with contextlib.suppress(sqlite3.Error):
                self.connection.execute("ROLLBACK")
            raise AuditError(f"audit record could not be written: {exc}") from exc
        return record_id

    def _write_head(self, count: int, digest: str) -> None:
        tmp = self.head_path.with_name(self.head_path.name + f".{os.getpid()}.tmp")
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, self.mode)
        with os.fdopen(fd, "w") as handle:
            handle.write(f"{count} {digest}\n")
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(tmp, self.head_path)

    def record_patient(self, result: PatientResult, operator: str = "") -> int:
        """One record for a patient's screening (all its images and the decision)."""
        payload = {
            "outcome": result.outcome.value,
            "decision": result.referral.headline,
            "images": [_image_summary(i) for i in result.images],
            "model": result.model.name if result.model else "",
            "model_version": result.model.version if result.model else "",
            "model_sha256": result.model.sha256 if result.model else "",
            "thresholds_version": result.thresholds_version,
            "screened_at": result.screened_at,
        }
        return self.append("patient", operator, patient_ref(result.patient.patient_id), payload)


@dataclass(frozen=True)
class VerifyReport:
    ok: bool
    records: int
    problems: tuple[str, ...]


def verify(path: Path) -> VerifyReport:
    """Check the whole chain and the head file. Never modifies anything."""
    path = Path(path)
    if not path.is_file():
        raise AuditError(f"audit trail not found: {path}")
    problems: list[str] = []
    try:
        connection = sqlite3.connect(f"file:{path}?mode=ro", uri=True)
        rows = connection.execute(
            "SELECT id, time, kind, operator, patient_ref, payload, prev_hash, hash "
            "FROM records ORDER BY id").fetchall()
        connection.close()
    except sqlite3.Error as exc:
        raise AuditError(f"audit trail {path} cannot be read: {exc}") from exc
    prev = GENESIS
    for index, (record_id, time, kind, operator, reference, payload, prev_hash, digest) in \
            enumerate(rows, start=1):
        if record_id != index:
            problems.append(f"record {index} is missing (next record is {record_id})")
        if prev_hash != prev:
            problems.append(f"record {record_id} does not follow the previous record "
                            "(deleted or reordered records)")
        expected = record_hash(prev_hash, record_id, time, kind, operator, reference, payload)
        if expected != digest:
            problems.append(f"record {record_id} was modified after it was written")
        prev = digest
    head_path = path.with_name(path.name + ".head")
    if head_path.is_file():
        try:
            count_text, head_hash = head_path.read_text().split()
            if int(count_text) != len(rows) or head_hash != prev:
                problems.append(f"the trail ends at record {len(rows)}, but {count_text} records "
                                "were written (records deleted from the end)")
        except ValueError:
            problems.append("the head file is damaged")
    elif rows:
        problems.append("the head file is missing")
    return VerifyReport(not problems, len(rows), tuple(problems))
