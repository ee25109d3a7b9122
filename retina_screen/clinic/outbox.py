"""The on-disk queue of DICOM results waiting for the PACS (``<out>/outbox/``).

Layout::

    outbox/queue.jsonl        append-only events (fsync'ed): queued, sent, failed, superseded
    outbox/pending/<uid>.dcm  each instance until the PACS has confirmed it

An instance is written (atomically) before its ``queued`` event, and deleted only after its
``sent`` event is on disk, so a crash or a PACS that is down never loses one. A crash between
the PACS's confirmation and the ``sent`` event sends that instance once more, with the same SOP
Instance UID: the PACS keeps one copy. This module only reads and writes files (no network, no
pydicom), so ``patients.csv`` can show what is pending cheaply.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import json
from dataclasses import dataclass, field
from pathlib import Path

from ..atomic import make_private_folder, write_atomic
from ..errors import OutputError

OUTBOX = "outbox"
QUEUE = "queue.jsonl"
PENDING = "pending"


@dataclass
class Entry:
    uid: str
    patient_id: str
    visit: str
    kind: str  # "sr" or "pdf"
    digest: str
    file: str  # relative to the outbox folder
    sent: bool = False
    attempts: int = 0
    last_error: str = ""
    sent_to: str = ""
    #: Replaced before it was sent by a later decision of its visit: never sent.
    superseded: bool = False


@dataclass
class QueueState:
    entries: dict[str, Entry] = field(default_factory=dict)  # by SOP Instance UID

    @property
    def pending(self) -> list[Entry]:
        return [e for e in self.entries.values() if not e.sent and not e.superseded]

    def digests(self) -> set[str]:
        return {e.digest for e in self.entries.values() if not e.superseded}

    def status_by_visit(self) -> dict[tuple[str, str], str]:
        """(patient ID, visit) -> "pending" while any of its instances waits, else "sent"."""
        status: dict[tuple[str, str], str] = {}
        for e in self.entries.values():
            if e.superseded:
                continue
            key = (e.patient_id, e.visit)
            if not e.sent:
                status[key] = "pending"
            else:
                status.setdefault(key, "sent")
        return status


def _now() -> str:
    return dt.datetime.now().astimezone().isoformat(timespec="seconds")


class Outbox:
    def __init__(self, out_dir: Path, mode: int = 0o600) -> None:
        self.folder = Path(out_dir) / OUTBOX
        self.mode = mode

    @property
    def queue_path(self) -> Path:
        return self.folder / QUEUE

    def exists(self) -> bool:
        return self.queue_path.is_file()

    def read(self) -> QueueState:
        state = QueueState()
        try:
            data = self.queue_path.read_bytes()
        except FileNotFoundError:
            return state
        except OSError as exc:
            raise OutputError(f"cannot read the PACS queue {self.queue_path}: "
                              f"{exc.strerror or exc}") from exc
        for line in data.split(b"\n"):
            try:
                event = json.loads(line)
            except ValueError:
                continue  # blank, or a line cut short by a crash
            if not isinstance(event, dict) or not isinstance(event.get("uid"), str):
                continue
            kind = event.get("event")
            if kind == "queued":
                try:
                    state.entries[event["uid"]] = Entry(
                        event["uid"], event["patient_id"], event.get("visit") or "",
                        event["kind"], event["digest"], event["file"])
                except KeyError:
                    continue
            elif event["uid"] in state.entries:
                entry = state.entries[event["uid"]]
                if kind == "sent":
                    entry.sent, entry.sent_to = True, event.get("destination", "")
                elif kind == "failed":
                    entry.attempts += 1
                    entry.last_error = event.get("reason", "")
                elif kind == "superseded":
                    entry.superseded = True
        return state

    def _append(self, events: list[dict]) -> None:
        """Append events and fsync (the batch journal's append-only writer)."""
        from ..batch import Journal

        try:
            self.folder.mkdir(mode=0o700, parents=True, exist_ok=True)
        except OSError as exc:
            raise OutputError(f"cannot create the PACS queue {self.folder}: "
                              f"{exc.strerror or exc}") from exc
        Journal(self.queue_path, self.mode).append(events)

    def put(self, uid: str, patient_id: str, visit: str, kind: str, digest: str,
            data: bytes) -> None:
        """Queue one instance (file first, then its event). Instances of an earlier decision
        of the same visit still waiting are withdrawn first: a visit decided again (a
        photograph added) queued its new result behind the old "no referable DR" one, and the
        PACS received both (found 2026-12-02)."""
        stale = [e for e in self.read().pending if (e.patient_id, e.visit) == (patient_id, visit)
                 and e.digest != digest]
        if stale:
            self._append([{"event": "superseded", "uid": e.uid, "by": digest, "at": _now()}
                          for e in stale])
            for e in stale:
                with contextlib.suppress(OSError):
                    (self.folder / e.file).unlink()
        rel = f"{PENDING}/{uid}.dcm"
        try:
            make_private_folder(self.folder / PENDING)
        except OSError as exc:
            raise OutputError(f"cannot create the PACS queue in {self.folder}: "
                              f"{exc.strerror or exc}") from exc
        write_atomic(self.folder / rel, data, self.mode, "queued DICOM result")
        self._append([{"event": "queued", "uid": uid, "patient_id": patient_id, "visit": visit,
                       "kind": kind, "digest": digest, "file": rel, "at": _now()}])

    def data(self, entry: Entry) -> bytes:
        try:
            return (self.folder / entry.file).read_bytes()
        except OSError as exc:
            raise OutputError(f"queued DICOM result {entry.file} cannot be read: "
                              f"{exc.strerror or exc}") from exc

    def mark_sent(self, entry: Entry, destination: str) -> None:
        self._append([{"event": "sent", "uid": entry.uid, "destination": destination,
                       "at": _now()}])
        entry.sent, entry.sent_to = True, destination
        try:
            (self.folder / entry.file).unlink()
        except FileNotFoundError:
            pass
        except OSError:
            pass  # sent and recorded; a leftover file is harmless

    def remove_sent_files(self, state: QueueState) -> None:
        """Delete files of instances recorded as sent (left behind when a run was killed
        between recording the PACS's confirmation and deleting the file)."""
        for entry in state.entries.values():
            if entry.sent:  # already gone, or not ours to delete: harmless either way
                with contextlib.suppress(OSError):
                    (self.folder / entry.file).unlink()

    def mark_failed(self, entries: list[Entry], reason: str) -> None:
        if entries:
            self._append([{"event": "failed", "uid": e.uid, "reason": reason, "at": _now()}
                          for e in entries])
        for e in entries:
            e.attempts += 1
            e.last_error = reason


def pacs_status(out_dir: Path) -> dict[tuple[str, str], str]:
    """(patient ID, visit) -> "pending" or "sent", for ``patients.csv`` ({} without a queue)."""
    outbox = Outbox(out_dir)
    if not outbox.exists():
        return {}
    try:
        return outbox.read().status_by_visit()
    except OutputError:
        return {}
