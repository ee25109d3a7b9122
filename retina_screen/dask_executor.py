"""The Dask executor: a batch's patient visits screened on a Dask cluster.

``retina-screen batch IN --out OUT --dask local[:N]`` starts a ``LocalCluster`` of N worker
processes on this machine; ``--scheduler tcp://host:8786`` uses a running cluster (``dask
scheduler`` / ``dask worker``, dask-jobqueue, Kubernetes). One task per patient visit carries
file paths, never pixels: the input and output folders must be on storage that every worker
sees under the same paths (a shared file system). Each worker process opens the ONNX sessions
once (:class:`ScreenerPlugin`), with ``intra_op_num_threads`` set to its share of the host's
cores, screens the visit's photographs, decides and writes its PDF report, and returns the
image results. The main process (:class:`retina_screen.batch.BatchRun`) keeps the journal and
the audit trail and commits each visit once, whatever the cluster does: a worker lost in the
middle of a task (Dask runs the task again elsewhere), a task that runs twice, or a client that
is killed and started again (the journal says what is done; the rest is screened again).
A visit whose task Dask gives up on (``KilledWorker``: its workers died running it more than
the scheduler's ``allowed-failures`` times; twice on a local cluster, as in the process
executor, see ``LOCAL_SCHEDULER_CONFIG``) is recorded as errors
(:func:`~retina_screen.executors.crashed_visit`) and the run goes on; workers lost in
``WORKER_CRASHED_VISITS_BEFORE_STOP`` different visits stop the run.

Needs ``dask`` and ``distributed`` (the ``cluster`` extra; ``bokeh`` for the dashboard).
"""

from __future__ import annotations

import hashlib
import logging
import os
import re
import threading
import time
from collections.abc import Callable, Iterator

from .errors import ConfigError, RetinaScreenError
from .executors import (
    WORKER_CRASHED_VISITS_BEFORE_STOP,
    PatientTask,
    VisitResult,
    crashed_visit,
    open_screener,
    screen_visit,
)
from .journal import GroupKey
from .settings import Settings

log = logging.getLogger(__name__)

PLUGIN_NAME = "retina-screen-screener"
CONNECT_TIMEOUT_S = 30.0
CHECK_S = 2.0  # how often the client looks at the cluster while waiting for results
POLL_S = 0.01  # how often it looks for finished tasks
NO_WORKERS_S = 60.0  # no worker this long while tasks wait: the run stops with an error
TASKS_PER_THREAD = 4  # tasks in flight per worker thread (the rest wait in this process)
#: The local cluster's scheduler: a task is given up (``KilledWorker``) when its second worker
#: dies running it, as in the process executor, and each worker thread holds only the task it
#: runs, so a worker's death counts against that task alone, not one waiting behind it. A
#: remote cluster keeps its own settings (Dask's default: given up after 4 deaths).
LOCAL_SCHEDULER_CONFIG = {"distributed.scheduler.allowed-failures": 1,
                          "distributed.scheduler.worker-saturation": 1.0}

_LOCAL = re.compile(r"^local(?::(\d+))?$")


def parse_local(spec: str) -> int | None:
    """``local`` -> None (one worker per core), ``local:N`` -> N; anything else is refused."""
    match = _LOCAL.match(spec.strip())
    if not match:
        raise ConfigError(f"--dask takes 'local' or 'local:N' (N worker processes), not "
                          f"{spec!r}; for a running cluster give --scheduler tcp://host:8786")
    count = int(match.group(1)) if match.group(1) else None
    if count is not None and count < 1:
        raise ConfigError("--dask local:N needs at least one worker")
    return count


def _cores() -> int:
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # not on Linux
        return os.cpu_count() or 1


def _host(address: str) -> str:
    from distributed.comm import get_address_host

    return get_address_host(address)


try:
    from distributed import WorkerPlugin as _WorkerPluginBase
except ImportError:  # the cluster extra is not installed: DaskExecutor says so when used
    _WorkerPluginBase = object


class LocalHeartbeatFilter(logging.Filter):
    """Drops a local worker's "cannot reach the scheduler during heartbeat" traceback: a local
    cluster's scheduler lives in the screening process, so it is gone only when that process
    is stopping (Ctrl-C), which it reports itself; a heartbeat in flight then would print a
    traceback to the operator's terminal."""

    def filter(self, record: logging.LogRecord) -> bool:
        return not record.getMessage().startswith(
            "Failed to communicate with scheduler during heartbeat")


class ScreenerPlugin(_WorkerPluginBase):
    """On each Dask worker: the screener (ONNX sessions), opened once per worker thread on its
    first task, with ``intra_op_num_threads`` = the host's cores / (workers on the host x
    threads per worker). A model the worker cannot open fails that task with the reason."""

    name = PLUGIN_NAME

    def __init__(self, settings: Settings, threads: int | None = None,
                 local: bool = False) -> None:
        self.settings = settings
        self.threads = threads  # None: worked out on the worker
        self.local = local  # a LocalCluster's worker: Ctrl-C is the client's to handle
        self._local = threading.local()

    def __getstate__(self) -> dict:
        return {"settings": self.settings, "threads": self.threads, "local": self.local}

    def __setstate__(self, state: dict) -> None:
        self.__init__(state["settings"], state["threads"], state.get("local", False))

    async def setup(self, worker) -> None:  # noqa: ANN001 - distributed.Worker
        self.worker_address = worker.address
        _undo_dask_malloc_settings()
        if self.local and threading.current_thread() is threading.main_thread():
            # Ctrl-C in the terminal reaches the local workers too; the client cancels their
            # tasks and closes the cluster (no traceback from every worker).
            import signal

            signal.signal(signal.SIGINT, signal.SIG_IGN)
        if self.local:
            logging.getLogger("distributed.worker").addFilter(LocalHeartbeatFilter())
        # The worker's statistical profiler samples the task thread's stack every 10 ms, under
        # the GIL; screening is one long pure-Python-and-native call per visit, so it costs
        # CPU and shows nothing useful.
        for name in ("profile", "profile-cycle"):
            callback = worker.periodic_callbacks.pop(name, None)
            if callback is not None:
                callback.stop()
        if self.threads is None:
            same_host = 1
            try:
                identity = await worker.scheduler.identity()
                host = _host(worker.address)
                same_host = max(1, sum(1 for address in identity.get("workers", {})
                                       if _host(address) == host))
            except Exception:  # noqa: BLE001 - the share is an optimisation; 1 worker assumed
                log.debug("could not count the workers on this host", exc_info=True)
            self.threads = max(1, _cores() // (same_host * max(1, worker.state.nthreads)))
        log.info("worker %s: %d intra-op threads per ONNX session", worker.address,
                 self.threads)

    def screener(self):  # noqa: ANN201 - engine.Screener
        screener = getattr(self._local, "screener", None)
        if screener is None:
            try:
                screener = open_screener(self.settings, threads=self.threads or 1)
            except RetinaScreenError as exc:
                raise RetinaScreenError(
                    f"Dask worker {getattr(self, 'worker_address', '?')} on "
                    f"{os.uname().nodename} cannot open the model: {exc}") from exc
            self._local.screener = screener
        return screener


def _undo_dask_malloc_settings() -> None:
    """Dask's nanny starts workers with ``MALLOC_TRIM_THRESHOLD_=65536``, which also turns off
    glibc's adaptive mmap threshold: every decoded photograph (megabytes) is then mapped and
    unmapped, and its pages faulted in again, which made screening take ~40% more CPU than in
    a local worker process. Give the worker glibc's usual behaviour back (large buffers from
    the heap, memory returned after each visit by :func:`.executors._release_memory`)."""
    import ctypes

    m_trim_threshold, m_mmap_threshold = -1, -3  # glibc's mallopt parameters
    try:
        libc = ctypes.CDLL("libc.so.6")
        libc.mallopt(m_mmap_threshold, 32 << 20)  # glibc's adaptive ceiling (64-bit)
        libc.mallopt(m_trim_threshold, 64 << 20)
    except (OSError, AttributeError):  # not glibc
        pass


def _scheduler_settings(dask_scheduler) -> tuple[int, float]:  # noqa: ANN001 - Scheduler
    """Runs on the scheduler: its allowed failures and worker saturation."""
    return int(dask_scheduler.allowed_failures), float(dask_scheduler.WORKER_SATURATION)


def _dask_visit(task: PatientTask) -> VisitResult:
    """The task run on a worker: one patient visit (see :func:`.executors.screen_visit`)."""
    from distributed import get_worker

    plugin = get_worker().plugins.get(PLUGIN_NAME)
    if plugin is None:
        raise RetinaScreenError("this Dask worker has no retina-screen screener (the plugin "
                                "was not registered); run the batch again")
    return screen_visit(task, plugin.screener())


def task_key(task: PatientTask, model_sha256: str) -> str:
    """The Dask key of a visit's task: the same visit, photographs and model give the same key
    (Dask never holds two copies of one task)."""
    digest = hashlib.sha256(repr((model_sha256, task)).encode("utf-8", "surrogatepass"))
    return f"retina-screen-visit-{digest.hexdigest()[:32]}"


class DaskExecutor:
    """Screens visits on a Dask cluster: ``scheduler`` (an address such as
    ``tcp://host:8786``), else a ``LocalCluster`` of ``local_workers`` processes (None: one per
    core). Connects on the first :meth:`results`; :meth:`stop` closes the client (and the
    local cluster). ``notice`` receives lines for the operator (the dashboard link)."""

    def __init__(self, settings: Settings, *, scheduler: str | None = None,
                 local_workers: int | None = None,
                 notice: Callable[[str], None] | None = None) -> None:
        self.settings = settings
        self.scheduler = scheduler
        self.local_workers = local_workers
        self.notice = notice
        self.client = None
        self.cluster = None
        self.dashboard_link: str | None = None
        self._model_sha = ""
        self.crashed: set[GroupKey] = set()  # visits Dask gave up on (KilledWorker)

    # -- connection

    def _connect(self) -> None:
        if self.client is not None:
            return
        try:
            from distributed import Client, LocalCluster
        except ImportError as exc:
            raise ConfigError("the Dask executor needs the packages dask and distributed: "
                              "pip install 'retina-screen[cluster]'") from exc
        threads = None
        if self.scheduler:
            try:
                self.client = Client(self.scheduler, timeout=CONNECT_TIMEOUT_S,
                                     set_as_default=False)
            except (OSError, TimeoutError) as exc:
                raise RetinaScreenError(
                    f"cannot reach the Dask scheduler at {self.scheduler} ({exc}); is "
                    "'dask scheduler' running there and the port open?") from exc
        else:
            count = self.local_workers or _cores()
            threads = max(1, _cores() // count)
            # The nannies' shutdown chatter ("still alive after 4 s, killing") is not the
            # operator's business.
            logging.getLogger("distributed").setLevel(logging.ERROR)
            import dask

            with dask.config.set(LOCAL_SCHEDULER_CONFIG):
                self.cluster = LocalCluster(n_workers=count, threads_per_worker=1,
                                            processes=True, dashboard_address=":0",
                                            silence_logs=logging.ERROR)
            self.client = Client(self.cluster, set_as_default=False)
        self.client.register_plugin(ScreenerPlugin(self.settings, threads,
                                                   local=self.cluster is not None),
                                    name=PLUGIN_NAME)
        self.dashboard_link = self.client.dashboard_link
        where = self.scheduler or f"a local cluster of {len(self._workers())} worker processes"
        if self.notice:
            self.notice(f"Dask: screening on {where}; dashboard {self.dashboard_link}")
            if self.scheduler:
                warning = self._scheduler_warning()
                if warning:
                    self.notice(warning)
        # The manifest names the model's sha256: its hash keys the tasks to this model. (The
        # workers open the model themselves; one that cannot fails its task with the reason.)
        try:
            with open(self.settings.model, "rb") as handle:
                self._model_sha = hashlib.sha256(handle.read()).hexdigest()
        except OSError:
            self._model_sha = str(self.settings.model)

    def _scheduler_warning(self) -> str | None:
        """A line for the operator when a cluster's scheduler is not set as the local one is
        (``LOCAL_SCHEDULER_CONFIG``), or None."""
        try:
            allowed, saturation = self.client.run_on_scheduler(_scheduler_settings)
        except Exception:  # noqa: BLE001 - an old or locked-down scheduler: nothing to say
            log.debug("could not read the Dask scheduler's settings", exc_info=True)
            return None
        wanted = LOCAL_SCHEDULER_CONFIG
        if (allowed <= wanted["distributed.scheduler.allowed-failures"]
                and saturation <= wanted["distributed.scheduler.worker-saturation"]):
            return None
        return (f"Dask: this scheduler gives up on a visit only after {allowed + 1} worker deaths "
                f"and may queue visits behind it (worker-saturation {saturation}); start it with "
                "DASK_DISTRIBUTED__SCHEDULER__ALLOWED_FAILURES=1 and "
                "DASK_DISTRIBUTED__SCHEDULER__WORKER_SATURATION=1.0 (README)")

    def _workers(self) -> dict:
        try:
            return self.client.scheduler_info(n_workers=-1).get("workers", {})
        except TypeError:  # older distributed
            return self.client.scheduler_info().get("workers", {})

    def _window(self) -> int:
        threads = sum(w.get("nthreads", 1) for w in self._workers().values())
        return max(8, TASKS_PER_THREAD * max(threads, 1))

    # -- running

    def results(self, tasks: list[PatientTask]) -> Iterator[VisitResult]:
        """Each visit's result as it completes. At most a few tasks per worker thread are on
        the cluster at a time (so the scheduler holds a window, not the whole archive)."""
        from distributed import as_completed

        self._connect()
        waiting = list(reversed(tasks))
        running: dict = {}  # future -> task
        finished = as_completed(with_results=False, loop=self.client.loop)
        no_workers_since: float | None = None
        window = self._window()
        checked = time.monotonic()
        try:
            while waiting or running:
                while waiting and len(running) < window:
                    task = waiting.pop()
                    future = self.client.submit(_dask_visit, task, pure=False,
                                                key=task_key(task, self._model_sha))
                    running[future] = task
                    finished.add(future)
                if finished.has_ready():
                    for future in finished.next_batch(block=False):
                        yield self._result(future, running.pop(future))
                    continue
                time.sleep(POLL_S)
                if time.monotonic() - checked < CHECK_S:
                    continue
                checked = time.monotonic()
                if self._workers():
                    no_workers_since = None
                    window = self._window()
                elif no_workers_since is None:
                    no_workers_since = checked
                elif checked - no_workers_since > NO_WORKERS_S:
                    raise RetinaScreenError(
                        f"no Dask worker has been connected to the scheduler for "
                        f"{NO_WORKERS_S:.0f} s; start workers (dask worker "
                        f"{self.scheduler or ''}) and run the same command again")
        finally:
            if running and self.client is not None:
                self.client.cancel(list(running))
            finished.clear()

    def _result(self, future, task: PatientTask) -> VisitResult:  # noqa: ANN001 - Future
        from distributed import KilledWorker

        try:
            return future.result()
        except RetinaScreenError:
            raise
        except KilledWorker:
            self.crashed.add(task.key)
            if len(self.crashed) >= WORKER_CRASHED_VISITS_BEFORE_STOP:
                raise RetinaScreenError(
                    f"Dask workers died in {len(self.crashed)} patient visits (a crash in "
                    "native code, or too little memory; see the workers' logs); what was "
                    "screened is saved: run the same command again to resume") from None
            log.error("Dask workers died running a visit more than once; its photographs are "
                      "recorded as errors")
            return crashed_visit(task)
        except Exception as exc:  # a bug on the worker, a lost connection
            raise RetinaScreenError(
                f"a Dask task failed ({type(exc).__name__}: {exc}); what was screened is "
                "saved: run the same command again to resume") from exc
        finally:
            future.release()

    def stop(self, cancelled: bool) -> None:
        client, cluster = self.client, self.cluster
        self.client = self.cluster = None
        if client is not None:
            try:
                client.close(timeout=10)
            except Exception:  # noqa: BLE001 - closing: nothing left to save
                log.debug("closing the Dask client failed", exc_info=True)
        if cluster is not None:
            try:
                cluster.close(timeout=20)
            except Exception:  # noqa: BLE001
                log.debug("closing the local Dask cluster failed", exc_info=True)
