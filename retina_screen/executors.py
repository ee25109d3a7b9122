"""Executors: where a batch's patient visits are screened.

An executor takes :class:`PatientTask` s (one per patient visit: file paths, never pixels) and
yields each visit's screened image results, in any order; the main process (:mod:`.batch`)
decides, journals and audits them. Every executor runs the same task function,
:func:`screen_visit`, which screens the photographs, decides, and writes the visit's PDF report.

- :class:`InlineExecutor`: in this process (one worker).
- :class:`ProcessExecutor`: local worker processes (the default).
- :class:`retina_screen.dask_executor.DaskExecutor`: a Dask cluster (``--dask``,
  ``--scheduler``).
"""

from __future__ import annotations

import contextlib
import logging
import multiprocessing as mp
import os
import time
from collections.abc import Iterator
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Protocol

import cv2
import numpy as np

from .atomic import make_private_folder
from .errors import OutputError, RetinaScreenError
from .journal import GroupKey
from .results import Eye, ImageResult, ImageStatus, PatientInfo
from .settings import Settings

log = logging.getLogger(__name__)

REPORT_THUMBNAIL_SIDE = 320
WORKER_TASKS_BEFORE_RECYCLE = 100
WORKER_CRASH_LOG = "worker-crashes.log"
WORKER_CHECK_S = 2.0  # how often the main process checks that busy workers are alive
WORKER_LOST_S = 10.0  # a busy worker gone this long without its result: the run stops

#: What a task returns: the visit, its image results (without pictures), the screening time.
VisitResult = tuple[GroupKey, tuple[ImageResult, ...], str]


class Executor(Protocol):
    """Runs patient-visit tasks. ``results`` yields one :data:`VisitResult` per task, in any
    order, and raises :class:`RetinaScreenError` when the run cannot go on (a lost worker, a
    model a worker cannot open); ``stop`` ends what is running (``cancelled``: at once)."""

    #: Where to watch the run (the Dask dashboard), or None.
    dashboard_link: str | None

    def results(self, tasks: list[PatientTask]) -> Iterator[VisitResult]: ...

    def stop(self, cancelled: bool) -> None: ...


def _release_memory(collect: bool = True) -> None:
    """Give freed memory back to the operating system."""
    if collect:
        import gc

        gc.collect()
    with contextlib.suppress(OSError, AttributeError):
        import ctypes

        ctypes.CDLL("libc.so.6").malloc_trim(0)



_worker_screener = None
_worker_started = None  # where a worker says which visit it starts (a mp.Queue)


def open_screener(settings: Settings, threads: int = 1):  # noqa: ANN201 - engine.Screener
    """A worker's screener: the ONNX sessions opened once, with ``threads`` intra-op threads
    (the worker's share of the machine's cores)."""
    from .engine import Screener
    from .inference import GradingModel

    cv2.setNumThreads(1)
    model = GradingModel(settings.model, threads=threads,
                         allow_unverified=settings.allow_unverified_model)
    return Screener(settings, model=model, threads=threads)


def _worker_init(settings: Settings, log_queue=None, started=None) -> None:  # noqa: ANN001
    global _worker_screener, _worker_started
    if log_queue is not None:
        _worker_logging(settings, log_queue)
    _worker_started = started
    _worker_screener = open_screener(settings, threads=1)


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


def _screen_one(screener, path: str, rel: str, eye: str,  # noqa: ANN001
                keep_display: bool) -> ImageResult:
    try:
        result = screener.screen_image(Path(path), Eye(eye), source=rel,
                                               keep_display=keep_display)
    except Exception as exc:  # never let one file stop the run
        log.exception("unexpected failure screening an image")
        return ImageResult(rel, Eye(eye), ImageStatus.ERROR,
                           error=f"internal error while screening ({type(exc).__name__})")
    if result.display_image is not None:
        result = replace(result, display_image=_shrink(result.display_image))
    return result


@dataclass(frozen=True)
class PatientTask:
    patient_id: str
    images: tuple[tuple[str, str, str], ...]  # (absolute path, relative path, eye)
    report_path: str | None  # where the worker writes the PDF; None: no report
    visit: str = ""
    patient_name: str = ""  # from DICOM tags, printed on the report
    birth_date: str = ""
    sex: str = ""  # DICOM Patient's Sex code: "F", "M", "O" or ""
    accession: str = ""

    @property
    def key(self) -> GroupKey:
        return (self.patient_id, self.visit)


def _patient_info(task: PatientTask, screened_at: str) -> PatientInfo:
    """The patient of a visit's decision: built alike by the worker (for the report) and by
    the main process (for the journal and the audit trail)."""
    return PatientInfo(patient_id=task.patient_id, name=task.patient_name,
                       birth_date=task.birth_date, screening_date=screened_at[:10],
                       sex=task.sex, accession=task.accession)


def screen_visit(task: PatientTask, screener=None) -> VisitResult:  # noqa: ANN001
    """Screen one patient visit's photographs, decide, and write its report, in a worker.

    Returns the image results without pictures (so little crosses between processes and the
    main process holds no images) and the screening time used, from which the main process
    rebuilds the identical decision for the journal and the audit trail.
    """
    from .engine import now_iso
    from .report import build_report

    screener = screener or _worker_screener
    assert screener is not None
    if _worker_started is not None:
        _worker_started.put((task.key, os.getpid()))
    started = time.monotonic()
    keep = task.report_path is not None
    results = [_screen_one(screener, path, rel, eye, keep) for path, rel, eye in task.images]
    screened_at = now_iso()
    if task.report_path is not None:
        decision = screener.decide(_patient_info(task, screened_at), results, screened_at)
        try:
            build_report(decision, Path(task.report_path), screener.settings)
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


class InlineExecutor:
    """Screens in this process, one visit after the other (one worker)."""

    dashboard_link = None

    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self.screener = None

    def results(self, tasks: list[PatientTask]) -> Iterator[VisitResult]:
        if self.screener is None:
            self.screener = open_screener(self.settings, threads=1)
        return (screen_visit(task, self.screener) for task in tasks)

    def stop(self, cancelled: bool) -> None:
        pass


class ProcessExecutor:
    """Local worker processes (the default executor), whose log records reach this process's
    log handlers. Started by :meth:`results`, ended by :meth:`stop`."""

    dashboard_link = None

    def __init__(self, settings: Settings, count: int) -> None:
        self.settings = settings
        self.count = count
        self.pool = None

    def _start(self) -> None:
        import logging.handlers

        settings, count = self.settings, self.count
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

    def results(self, tasks: list[PatientTask]) -> Iterator[VisitResult]:
        """The workers' results in task order. A worker that dies in the middle of a visit
        (killed, a crash in native code) would leave the pool waiting for ever: that stops
        the run with an error instead (what was screened is kept; run again to resume)."""
        if self.pool is None:
            self._start()
        iterator = self.pool.imap(screen_visit, tasks, chunksize=1)
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

    def stop(self, cancelled: bool) -> None:
        if self.pool is None:
            return
        if cancelled:
            self.pool.terminate()
        else:
            self.pool.close()
        self.pool.join()
        self.pool = None
        self.listener.stop()
        self.queue.close()
        self.started.close()




def local_executor(settings: Settings, workers: int | None, tasks: int) -> Executor:
    """The default executor: ``workers`` local processes (default: the ``workers`` setting,
    else the CPU cores), no more than there are tasks; one worker screens in this process."""
    count = workers or settings.workers or os.cpu_count() or 1
    count = max(1, min(count, tasks or 1))
    return InlineExecutor(settings) if count == 1 else ProcessExecutor(settings, count)
