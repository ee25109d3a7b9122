"""Atomic file writes: every result file, report and table goes through :func:`write_atomic`."""

from __future__ import annotations

import contextlib
import errno
import hashlib
import os
import tempfile
from pathlib import Path

from .errors import OutputError


def _write_all(fd: int, data: bytes) -> None:
    view = memoryview(data)
    while view:
        written = os.write(fd, view)
        view = view[written:]


def os_reason(exc: OSError) -> str:
    """A plain-language reason for a failed write."""
    if exc.errno in (errno.ENOSPC, getattr(errno, "EDQUOT", errno.ENOSPC)):
        return "the disk is full"
    if exc.errno in (errno.EACCES, errno.EPERM):
        return "permission denied"
    if exc.errno == errno.EROFS:
        return "the disk is read-only"
    return exc.strerror or str(exc)


def file_sha256(path: Path | str) -> str:
    """The sha256 of a file's bytes, read in blocks (raises ``OSError`` if it cannot be read)."""
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def fsync_folder(folder: Path) -> None:
    """Make a rename in ``folder`` durable (POSIX)."""
    if os.name != "posix":
        return
    with contextlib.suppress(OSError):
        fd = os.open(folder, os.O_RDONLY)
        try:
            os.fsync(fd)
        finally:
            os.close(fd)


def make_private_folder(folder: Path) -> None:
    """Create ``folder`` and every missing folder above it owner-only (0700); ``mkdir(parents=
    True)`` would create the ones above with the default 0755. Existing folders are left as
    they are. Raises OSError."""
    missing = []
    folder = Path(folder)
    while not folder.exists():
        missing.append(folder)
        folder = folder.parent
    for path in reversed(missing):
        path.mkdir(mode=0o700, exist_ok=True)


def write_atomic(path: Path, data: bytes, mode: int = 0o600, what: str = "file") -> None:
    """Write ``data`` to ``path`` atomically: temporary file in the same folder, fsync, rename.

    The file gets permissions ``mode``. On failure nothing is left at ``path`` that was not
    there before and no temporary file remains; an OSError becomes :class:`OutputError`
    ("the <what> could not be saved in <folder>: the disk is full").
    """
    path = Path(path)
    folder = path.parent
    try:
        folder.mkdir(parents=True, exist_ok=True)
        fd, temp_name = tempfile.mkstemp(dir=folder, prefix=f".{path.name}.", suffix=".tmp")
    except OSError as exc:
        raise OutputError(f"the {what} could not be saved in {folder}: {os_reason(exc)}") \
            from exc
    temp = Path(temp_name)
    try:
        try:
            if hasattr(os, "fchmod"):
                os.fchmod(fd, mode)
            _write_all(fd, data)
            os.fsync(fd)
        finally:
            os.close(fd)
        if not hasattr(os, "fchmod"):
            os.chmod(temp, mode)
        os.replace(temp, path)
    except BaseException as exc:
        with contextlib.suppress(OSError):
            temp.unlink()
        if isinstance(exc, OSError):
            raise OutputError(
                f"the {what} could not be saved in {folder}: {os_reason(exc)}") from exc
        raise
    fsync_folder(folder)


def lock_exclusive(fd: int, wait: bool = True) -> None:
    """An exclusive lock on the open file ``fd`` (released when it is closed): ``flock`` on
    POSIX, ``msvcrt.locking`` of its first byte on Windows, where ``fcntl`` does not exist and
    every batch stopped at its import (found 2026-12-02, by reading). Raises ``OSError`` when
    ``wait`` is false and another process holds it."""
    try:
        import fcntl
    except ImportError:  # Windows
        import msvcrt
        import time

        while True:
            try:
                os.lseek(fd, 0, os.SEEK_SET)
                msvcrt.locking(fd, msvcrt.LK_NBLCK, 1)  # type: ignore[attr-defined]
                return
            except OSError:
                if not wait:
                    raise
                time.sleep(0.05)
    fcntl.flock(fd, fcntl.LOCK_EX | (0 if wait else fcntl.LOCK_NB))
