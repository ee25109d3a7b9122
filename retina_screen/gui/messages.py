"""Plain-language messages for everything that can go wrong, and the crash handler.

The engine's own errors (:class:`~retina_screen.errors.RetinaScreenError`) already carry a
message an operator can act on; operating-system errors are translated here. An unexpected
exception anywhere in the GUI shows a dialog and writes a crash log instead of closing the app.
"""

from __future__ import annotations

import datetime as dt
import errno
import importlib
import importlib.metadata
import logging
import platform
import re
import sys
import threading
import traceback
from collections.abc import Callable
from pathlib import Path
from types import TracebackType

from PySide6.QtCore import QT_TRANSLATE_NOOP, QCoreApplication

from ..errors import ModelError, OutputError, RetinaScreenError

translate = QCoreApplication.translate  # pyside6-lupdate reads translate("context", "text")
log = logging.getLogger(__name__)


def app_version() -> str:
    version = getattr(importlib.import_module("retina_screen"), "__version__", "")
    if version:
        return str(version)
    try:
        return importlib.metadata.version("retina-screen")
    except importlib.metadata.PackageNotFoundError:
        return "development version"


#: What the operator was doing, as passed to :func:`plain_message` (marked for translation).
DOINGS = (QT_TRANSLATE_NOOP("messages", "save the report"),
          QT_TRANSLATE_NOOP("messages", "print the report"),
          QT_TRANSLATE_NOOP("messages", "prepare the report"),
          QT_TRANSLATE_NOOP("messages", "show the preview"),
          QT_TRANSLATE_NOOP("messages", "screen the folder"),
          QT_TRANSLATE_NOOP("messages", "apply the settings"),
          QT_TRANSLATE_NOOP("messages", "screen this photograph"),
          QT_TRANSLATE_NOOP("messages", "record the report in the audit trail"))


def _tr(text: str) -> str:
    return translate("messages", text)


def plain_message(error: BaseException, doing: str = "") -> str:
    """One or two sentences an operator understands, for any exception (in the app's
    language; the engine's own messages through the core catalogue)."""
    from .i18n import engine_text

    prefix = translate("messages", "Could not {0}: ").format(_tr(doing)) if doing else ""
    if isinstance(error, ModelError):
        # Plain words first; the technical reason (a file path) last, for the support contact.
        text = translate(
            "messages", "the grading model could not be loaded, so screening is switched off. "
                        "Ask your support contact to repair or reinstall Retina Screen "
                        "(details for them: {0}).").format(engine_text(str(error)))
        return prefix + text if prefix else text[:1].upper() + text[1:]
    if isinstance(error, RetinaScreenError):
        text = engine_text(str(error))
        if re.match(r"the [\w ]+ could not be ", str(error)):  # it says what failed already
            return text[:1].upper() + text[1:]  # not "Could not save …: … could not be saved"
        return prefix + text
    if isinstance(error, OSError):
        code = error.errno
        if code in (errno.ENOSPC, getattr(errno, "EDQUOT", -1)):
            return prefix + translate(
                "messages", "the disk is full. Free some space or choose another folder.")
        if isinstance(error, PermissionError) or code in (errno.EACCES, errno.EPERM):
            return prefix + translate(
                "messages", "permission denied. Choose a folder you are allowed to write to, "
                            "or ask your IT support.")
        if isinstance(error, FileNotFoundError):
            return prefix + translate("messages", "the file or folder no longer exists.")
        if code == errno.EROFS:
            return prefix + translate("messages",
                                      "the disk is read-only. Choose another folder.")
        reason = error.strerror or translate("messages", "input/output error")
        return f"{prefix}{reason.rstrip('.')}."
    if isinstance(error, MemoryError):
        return prefix + translate(
            "messages", "the computer ran out of memory. Close other programs and try again.")
    return prefix + translate(
        "messages", "an unexpected problem occurred ({0}). The details were written to the "
                    "log; please report it to your support contact.").format(
                        type(error).__name__)


def is_output_problem(error: BaseException) -> bool:
    return isinstance(error, OutputError | OSError)


def write_crash_log(log_dir: Path, exc_type: type[BaseException], exc: BaseException,
                    tb: TracebackType | None) -> Path | None:
    """Write the traceback and environment to ``log_dir/crash-<timestamp>.log``."""
    version = app_version()
    stamp = dt.datetime.now().strftime("%Y%m%d-%H%M%S-%f")
    text = "".join(traceback.format_exception(exc_type, exc, tb))
    header = (f"retina-screen {version} crash report {dt.datetime.now().isoformat()}\n"
              f"python {platform.python_version()} on {platform.platform()}\n"
              f"thread {threading.current_thread().name}\n\n")
    try:
        log_dir.mkdir(parents=True, exist_ok=True)
        path = log_dir / f"crash-{stamp}.log"
        path.write_text(header + text, encoding="utf-8")
        return path
    except OSError:
        log.exception("could not write a crash log to the log folder")
        return None


class CrashHandler:
    """``sys.excepthook`` (and ``threading.excepthook``) that logs, writes a crash log and shows
    a dialog; the application keeps running."""

    def __init__(self, log_dir: Callable[[], Path],
                 show: Callable[[str, Path | None], None] | None = None) -> None:
        self._log_dir = log_dir
        self._show = show
        self._previous = sys.excepthook
        self._previous_thread = threading.excepthook
        self.crashes: list[Path | None] = []

    def install(self) -> CrashHandler:
        sys.excepthook = self.handle
        threading.excepthook = self._handle_thread
        return self

    def uninstall(self) -> None:
        sys.excepthook = self._previous
        threading.excepthook = self._previous_thread

    def handle(self, exc_type: type[BaseException], exc: BaseException,
               tb: TracebackType | None) -> None:
        if issubclass(exc_type, KeyboardInterrupt):
            self._previous(exc_type, exc, tb)
            return
        log.critical("unexpected error", exc_info=(exc_type, exc, tb))
        path = write_crash_log(self._log_dir(), exc_type, exc, tb)
        self.crashes.append(path)
        if self._show is not None:
            try:
                self._show(plain_message(exc), path)
            except Exception:  # never let the handler itself raise
                log.exception("could not show the crash dialog")

    def _handle_thread(self, args: threading.ExceptHookArgs) -> None:
        if args.exc_value is None:
            return
        log.critical("unexpected error in a background thread",
                     exc_info=(args.exc_type, args.exc_value, args.exc_traceback))
        path = write_crash_log(self._log_dir(), args.exc_type, args.exc_value, args.exc_traceback)
        self.crashes.append(path)
