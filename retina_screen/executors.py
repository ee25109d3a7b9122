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
import logging.handlers
import multiprocessing as mp
import multiprocessing.connection
import os
import time
from collections.abc import Iterator
from dataclasses import dataclass, field, replace
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
WORKER_TASKS_IN_HAND = 2  # visits sent to a worker ahead: the next is there when one ends
WORKER_STOP_S = 30.0  # a worker asked to stop and still running this long is killed
#: A visit whose worker died is screened again by a new worker, once; when the same visit
#: loses its worker twice (one of its files crashes native code every time), its photographs
#: are recorded as errors (``CRASHED_VISIT_ERROR``) and the run goes on. The run stops when
#: workers die inside this many different visits (something is wrong with the machine rather
#: than with one visit's files).
WORKER_CRASHED_VISITS_BEFORE_STOP = 3
CRASHED_VISIT_ERROR = (
    "screening stopped twice on this patient's photographs (a damaged file, one that crashes "
    "the image decoder, or too little memory): check the files, export them again and screen "
    "them again")

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


def _freeze_long_lived() -> None:
    """In a worker process, after its first visit: what is alive now (modules, the model's
    sessions, the report's fonts) lives as long as the worker, so it is moved out of the
    garbage collector's sight. The full collection after each visit (:func:`_release_memory`)
    then walks only that visit's objects: about 0.1 ms instead of 8-27 ms on the 2-core
    machine (docs/speed.md). Not in the main process, whose objects come and go."""
    import gc

    gc.collect()
    gc.freeze()


class _WorkerChannel:
    """A worker's end of its own pipe to the main process: results and log records, one
    message at a time (log records may come from any of the worker's threads)."""

    def __init__(self, connection) -> None:  # noqa: ANN001 - a multiprocessing Connection
        import threading

        self.connection = connection
        self.lock = threading.Lock()

    def send(self, message: tuple) -> None:
        with self.lock:
            self.connection.send(message)


class _PipeLogHandler(logging.handlers.QueueHandler):
    """In a worker process: each log record goes to the main process over the worker's pipe,
    where :func:`_log_from_worker` hands it to the log handlers (the log file)."""

    def __init__(self, channel: _WorkerChannel) -> None:
        super().__init__(None)  # type: ignore[arg-type]  # no queue: enqueue sends
        self.channel = channel

    def enqueue(self, record: logging.LogRecord) -> None:
        with contextlib.suppress(OSError):  # the main process is gone: nowhere to log to
            self.channel.send(("log", record))


def _log_from_worker(record: logging.LogRecord) -> None:
    for handler in logging.getLogger().handlers:
        if record.levelno >= handler.level:
            handler.handle(record)


def open_screener(settings: Settings, threads: int = 1):  # noqa: ANN201 - engine.Screener
    """A worker's screener: the ONNX sessions opened once, with ``threads`` intra-op threads
    (the worker's share of the machine's cores)."""
    from .engine import Screener
    from .inference import GradingModel

    cv2.setNumThreads(1)
    model = GradingModel(settings.model, threads=threads,
                         allow_unverified=settings.allow_unverified_model)
    return Screener(settings, model=model, threads=threads)


def _sendable(exc: BaseException) -> BaseException:
    """``exc``, or an operator-readable stand-in where it cannot cross between processes."""
    import pickle

    try:
        pickle.loads(pickle.dumps(exc))
        return exc
    except Exception:  # noqa: BLE001 - any pickling failure
        return RetinaScreenError(f"a worker process failed ({type(exc).__name__}: {exc})")


def _worker_main(connection, settings: Settings) -> None:  # noqa: ANN001 - a Connection
    """A worker process: open the screener, then screen each visit sent until told to stop
    (``None``) or the main process is gone. Ctrl-C is the main process's to handle: it stops
    the workers itself."""
    import signal

    signal.signal(signal.SIGINT, signal.SIG_IGN)
    channel = _WorkerChannel(connection)
    _worker_logging(settings, channel)
    try:
        screener = open_screener(settings, threads=1)
    except BaseException as exc:  # noqa: BLE001 - reported to the main process
        channel.send(("failed to start", _sendable(exc)))
        return
    try:
        channel.send(("ready", None))
        frozen = False
        while (task := connection.recv()) is not None:
            channel.send(("begun", task.key))
            try:
                message = ("result", screen_visit(task, screener))
            except BaseException as exc:  # noqa: BLE001 - the main process stops the run
                message = ("error", _sendable(exc))
            channel.send(message)
            del message
            if not frozen:
                _freeze_long_lived()
                frozen = True
    except (EOFError, OSError):  # the main process is gone (killed): nobody to work for
        return


def _worker_logging(settings: Settings, channel: _WorkerChannel) -> None:
    """In a worker process: log records go to the main process's handlers (the log file) over
    the worker's pipe; a hard crash (segfault, abort) writes its traceback to the crash log in
    the log folder."""
    import faulthandler

    root = logging.getLogger()
    for handler in list(root.handlers):
        root.removeHandler(handler)
    root.addHandler(_PipeLogHandler(channel))
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
    #: Journal records of photographs of a referred visit that are no longer in the input
    #: folder: their recorded results join the new decision (``batch.kept_records``).
    kept: tuple[dict, ...] = ()
    #: (relative path, other patients or visits) of photographs whose content the input folder
    #: files elsewhere too (``batch.filed_elsewhere``).
    filed_also_for: tuple[tuple[str, tuple[str, ...]], ...] = ()
    #: (relative path, ``ImageResult.person``) of photographs whose DICOM files name a person.
    persons: tuple[tuple[str, str], ...] = ()
    #: Relative paths of photographs screened before for another patient (the audit trail).
    screened_for_another: tuple[str, ...] = ()

    @property
    def key(self) -> GroupKey:
        return (self.patient_id, self.visit)


def _patient_info(task: PatientTask, screened_at: str) -> PatientInfo:
    """The patient of a visit's decision: built alike by the worker (for the report) and by
    the main process (for the journal and the audit trail)."""
    return PatientInfo(patient_id=task.patient_id, name=task.patient_name,
                       birth_date=task.birth_date, screening_date=screened_at[:10],
                       sex=task.sex, accession=task.accession)


def screen_visit(task: PatientTask, screener) -> VisitResult:  # noqa: ANN001
    """Screen one patient visit's photographs, decide, and write its report, in a worker.

    Returns the image results without pictures (so little crosses between processes and the
    main process holds no images) and the screening time used, from which the main process
    rebuilds the identical decision for the journal and the audit trail.
    """
    from .decision import mark_copies
    from .engine import now_iso
    from .report import build_report

    started = time.monotonic()
    keep = task.report_path is not None
    # Copies between the eyes are found here, once, where the photographs' signatures are;
    # the report's decision and the main process's use the marks (``copy_of``).
    from .journal import image_from_record

    screened = [_screen_one(screener, path, rel, eye, keep) for path, rel, eye in task.images]
    elsewhere, persons = dict(task.filed_also_for), dict(task.persons)
    results = [replace(r, signature=None, filed_also_for=elsewhere.get(r.source, ()),
                       person=persons.get(r.source, r.person),
                       screened_for_another=r.source in task.screened_for_another)
               for r in mark_copies(screened + [image_from_record(record)
                                                for record in task.kept])]
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


def crashed_visit(task: PatientTask) -> VisitResult:
    """The result of a visit that stopped its worker twice: each photograph an error
    (``CRASHED_VISIT_ERROR``), so the patient reads "images insufficient" and the run goes on.
    No worker wrote its report (see :func:`is_crashed_visit`)."""
    from .engine import now_iso

    return task.key, tuple(ImageResult(rel, Eye(eye), ImageStatus.ERROR,
                                       error=CRASHED_VISIT_ERROR)
                           for _, rel, eye in task.images), now_iso()


def is_crashed_visit(results: tuple[ImageResult, ...]) -> bool:
    """Whether ``results`` are :func:`crashed_visit`'s (no worker wrote the visit's report)."""
    return bool(results) and all(r.status is ImageStatus.ERROR
                                 and r.error == CRASHED_VISIT_ERROR for r in results)


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


@dataclass
class _Worker:
    process: mp.process.BaseProcess
    connection: object  # the main process's end of the worker's pipe
    ready: bool = False
    sent: int = 0  # visits sent over its life (it is replaced after WORKER_TASKS_BEFORE_RECYCLE)
    in_hand: list[PatientTask] = field(default_factory=list)  # sent, result not back yet
    begun: set[GroupKey] = field(default_factory=set)  # of those, the visits it has begun

    @property
    def retiring(self) -> bool:
        """Told to end after the visits it has (recycled, see WORKER_TASKS_BEFORE_RECYCLE)."""
        return self.sent >= WORKER_TASKS_BEFORE_RECYCLE


class ProcessExecutor:
    """Local worker processes (the default executor), each with a pipe of its own to this
    process for its visits, results and log records (which reach this process's log
    handlers). Nothing is shared between workers, so a worker killed at any moment (a crash
    in native code, the out-of-memory killer) leaves no lock held: it is replaced, and a visit
    it was screening is screened again (see :meth:`results`). Started by :meth:`results`,
    ended by :meth:`stop`."""

    dashboard_link = None

    def __init__(self, settings: Settings, count: int) -> None:
        self.settings = settings
        self.count = count
        self.workers: list[_Worker] | None = None
        self.context = mp.get_context("spawn" if os.name == "nt" else "forkserver")
        #: Visits whose worker died while screening them, in this call of :meth:`results`
        #: (watch mode keeps the executor for days).
        self.crashed: set[GroupKey] = set()

    def _start_worker(self) -> _Worker:
        mine, theirs = self.context.Pipe(duplex=True)
        process = self.context.Process(target=_worker_main, args=(theirs, self.settings),
                                       name="retina-screen worker", daemon=True)
        process.start()
        theirs.close()
        return _Worker(process, mine)

    def results(self, tasks: list[PatientTask]) -> Iterator[VisitResult]:
        """The workers' results as they come. A visit whose worker dies in the middle of it
        (killed, a crash in native code) is screened again by a new worker; when the same
        visit loses its worker twice, its photographs come back as errors
        (:func:`crashed_visit`); when workers die in several visits, the run stops with an
        error (what was screened is kept; run again to resume)."""
        if self.workers is None:
            self.workers = [self._start_worker() for _ in range(self.count)]
        self.crashed = set()
        waiting = list(reversed(tasks))
        while waiting or any(worker.in_hand for worker in self.workers):
            arrived, requeued = self._replace_ended()
            yield from arrived
            waiting.extend(requeued)
            for worker in self.workers:
                while waiting and not worker.retiring \
                        and len(worker.in_hand) < WORKER_TASKS_IN_HAND:
                    task = waiting.pop()
                    try:
                        worker.connection.send(task)
                    except OSError:  # it has ended: _replace_ended sees why
                        waiting.append(task)
                        break
                    worker.in_hand.append(task)
                    worker.sent += 1
                    if worker.retiring:
                        # Recycled now and then, so that caches (fonts, images) cannot grow
                        # without bound: it ends after the visits it has.
                        with contextlib.suppress(OSError):
                            worker.connection.send(None)
            mp.connection.wait([w.connection for w in self.workers]
                               + [w.process.sentinel for w in self.workers])
            for worker in self.workers:
                yield from self._read(worker)

    @staticmethod
    def _read(worker: _Worker, errors: bool = True) -> list[VisitResult]:
        """Read what a worker has sent; return the visits it has finished. A failure it sent
        is raised (``errors``) or ignored (when the run is being stopped anyway)."""
        arrived: list[VisitResult] = []
        try:
            while worker.connection.poll():
                kind, value = worker.connection.recv()
                if kind == "log":
                    _log_from_worker(value)
                elif kind == "ready":
                    worker.ready = True
                elif kind == "begun":
                    worker.begun.add(value)
                elif kind == "result":
                    worker.in_hand = [t for t in worker.in_hand if t.key != value[0]]
                    worker.begun.discard(value[0])
                    arrived.append(value)
                elif errors:  # "error", "failed to start": the run cannot go on
                    raise value
        except (EOFError, OSError):  # it has ended: _replace_ended sees why
            pass
        return arrived

    def _replace_ended(self) -> tuple[list[VisitResult], list[PatientTask]]:
        """Replace the workers that have ended. Returns the visits they finished before
        ending, and those they had in hand, to be screened again (see :meth:`results`). One
        that ended while opening the model stops the run."""
        assert self.workers is not None
        arrived: list[VisitResult] = []
        requeued: list[PatientTask] = []
        for index, worker in enumerate(self.workers):
            if worker.process.is_alive():
                continue
            arrived.extend(self._read(worker))  # what it sent before it ended
            worker.process.join()
            worker.connection.close()
            given_up: set[GroupKey] = set()
            if worker.begun:
                given_up = self._count_crash(worker)
            elif not worker.ready:
                raise RetinaScreenError(
                    "a worker process stopped while opening the model (its traceback, if any, "
                    f"is in {WORKER_CRASH_LOG} in the log folder)")
            elif not worker.retiring:
                log.warning("worker %d ended between visits (exit code %s); starting another",
                            worker.process.pid, worker.process.exitcode)
            for task in reversed(worker.in_hand):
                if task.key in given_up:
                    arrived.append(crashed_visit(task))
                else:
                    requeued.append(task)
            self.workers[index] = self._start_worker()
        return arrived, requeued

    def _count_crash(self, worker: _Worker) -> set[GroupKey]:
        """Record that ``worker`` died inside its visit. Returns the visits of it that had lost
        a worker before in this run (they are recorded as errors, not screened again); raises
        when workers have died in too many different visits for the run to go on."""
        again = worker.begun & self.crashed
        self.crashed |= worker.begun
        stop = len(self.crashed) >= WORKER_CRASHED_VISITS_BEFORE_STOP
        log.log(logging.ERROR if stop or again else logging.WARNING,
                "worker %d ended while screening a visit (exit code %s)%s", worker.process.pid,
                worker.process.exitcode, "" if stop else
                "; the visit's photographs are recorded as errors (its second worker lost)"
                if again else "; the visit is screened again")
        if stop:
            raise RetinaScreenError(
                f"worker processes stopped in {len(self.crashed)} patient visits (a crash in "
                f"native code, or too little memory; tracebacks, if any, are in "
                f"{WORKER_CRASH_LOG} in the log folder); what was screened is saved: run the "
                "same command again to resume")
        return again

    def stop(self, cancelled: bool) -> None:
        """End the workers: at once when ``cancelled``, else once they finish their visits."""
        if self.workers is None:
            return
        workers, self.workers = self.workers, None
        for worker in workers:
            if cancelled:
                worker.process.terminate()
            else:
                with contextlib.suppress(OSError):
                    worker.connection.send(None)
        deadline = time.monotonic() + WORKER_STOP_S
        for worker in workers:
            # Read meanwhile, so that a worker is never stuck sending its last log records.
            while worker.process.is_alive() and time.monotonic() < deadline:
                self._read(worker, errors=False)
                worker.process.join(0.05)
            if worker.process.is_alive():
                log.warning("worker %d did not stop; killed", worker.process.pid)
                worker.process.kill()
            worker.process.join()
            worker.connection.close()


def local_executor(settings: Settings, workers: int | None, tasks: int) -> Executor:
    """The default executor: ``workers`` local processes (default: the ``workers`` setting,
    else the CPU cores), no more than there are tasks; one worker screens in this process."""
    count = workers or settings.workers or os.cpu_count() or 1
    count = max(1, min(count, tasks or 1))
    return InlineExecutor(settings) if count == 1 else ProcessExecutor(settings, count)
