"""Background work: every slow call (model load, screening, report, batch) runs off the GUI thread.

Short jobs run as :class:`Task` on the global ``QThreadPool`` and report ``(result, error)``
through a queued signal; long jobs (a batch run, watch mode) get their own :class:`JobThread`.
Both are tracked so the window (and the tests) can wait for them before closing.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from typing import Any

from PySide6.QtCore import QObject, QRunnable, QThread, QThreadPool, Signal

from ..errors import RetinaScreenError

log = logging.getLogger(__name__)

_active_tasks: set[Task] = set()
_active_threads: set[JobThread] = set()


class TaskSignals(QObject):
    """Carries a task's outcome back to the GUI thread."""

    finished = Signal(object, object)  # result, error (an exception or None)


class Task(QRunnable):
    """Runs ``fn(*args, **kwargs)`` on a pool thread and emits ``finished(result, error)``."""

    def __init__(self, fn: Callable[..., Any], *args: Any, **kwargs: Any) -> None:
        super().__init__()
        self.setAutoDelete(False)
        self.fn, self.args, self.kwargs = fn, args, kwargs
        self.signals = TaskSignals()
        self.name = getattr(fn, "__name__", "task")

    def run(self) -> None:
        result: Any = None
        error: BaseException | None = None
        try:
            result = self.fn(*self.args, **self.kwargs)
        except RetinaScreenError as exc:
            error = exc
            log.warning("%s failed: %s", self.name, exc)
        except BaseException as exc:  # reported to the GUI, never kills the pool thread
            error = exc
            log.exception("%s failed unexpectedly", self.name)
        try:
            self.signals.finished.emit(result, error)
        except RuntimeError:  # the receiver (and the signal object) were destroyed meanwhile
            log.debug("%s finished after its receiver was closed", self.name)


def run_task(fn: Callable[..., Any], *args: Any,
             on_done: Callable[[Any, BaseException | None], None] | None = None,
             **kwargs: Any) -> Task:
    """Start ``fn`` on the global thread pool; ``on_done(result, error)`` runs on the GUI thread."""
    task = Task(fn, *args, **kwargs)
    _active_tasks.add(task)

    def finished(result: Any, error: BaseException | None) -> None:
        _active_tasks.discard(task)
        if on_done is not None:
            on_done(result, error)

    task.signals.finished.connect(finished)
    QThreadPool.globalInstance().start(task)
    return task


class JobThread(QThread):
    """A long-running job on its own thread, cancellable through a ``threading.Event``.

    ``fn(cancel, *args)`` runs in the thread; ``done(result, error)`` is emitted when it ends.
    """

    done = Signal(object, object)

    def __init__(self, fn: Callable[..., Any], *args: Any, parent: QObject | None = None) -> None:
        super().__init__(parent)
        self.fn, self.args = fn, args
        self.cancel_event = threading.Event()
        self.finished.connect(self._forget)

    def start_job(self) -> None:
        _active_threads.add(self)
        self.start()

    def run(self) -> None:
        result: Any = None
        error: BaseException | None = None
        try:
            result = self.fn(self.cancel_event, *self.args)
        except RetinaScreenError as exc:
            error = exc
            log.warning("background job failed: %s", exc)
        except BaseException as exc:
            error = exc
            log.exception("background job failed unexpectedly")
        self.done.emit(result, error)

    def cancel(self) -> None:
        self.cancel_event.set()

    def _forget(self) -> None:
        _active_threads.discard(self)


def active_jobs() -> int:
    """Number of tasks and job threads not yet finished (as seen from the GUI thread)."""
    return len(_active_tasks) + sum(1 for t in _active_threads if t.isRunning())


def wait_for_all(timeout_ms: int = 30_000) -> bool:
    """Cancel nothing, but wait until every job thread and pool task has finished."""
    ok = True
    for thread in list(_active_threads):
        ok = thread.wait(timeout_ms) and ok
    return QThreadPool.globalInstance().waitForDone(timeout_ms) and ok
