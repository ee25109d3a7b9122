"""The Dask executor on one machine, with real photographs and a real Dask cluster: a
LocalCluster gives the local executor's results; a worker process killed by SIGKILL in the
middle of a batch and a client killed and started again lose and repeat nobody; a visit whose
workers keep dying is recorded as errors while the others are screened; a worker that cannot
open the model fails with a clear error instead of a hang."""

from __future__ import annotations

import csv
import difflib
import os
import re
import shutil
import signal
import subprocess
import sys
import time
from dataclasses import replace
from pathlib import Path

import pytest

pytest.importorskip("distributed")

from retina_screen.batch import run_batch  # noqa: E402
from retina_screen.dask_executor import DaskExecutor, parse_local, task_key  # noqa: E402
from retina_screen.errors import ConfigError, RetinaScreenError  # noqa: E402
from retina_screen.executors import CRASHED_VISIT_ERROR, PatientTask  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]
#: Patients of srahim_dev (both eyes); two full-resolution camera JPEGs join them.
PATIENTS = ["Patient006", "Patient008", "Patient016", "Patient017", "Patient033", "Patient058"]
#: What differs between two screenings of the same photographs: the time, and the report ID
#: made from it.
TIMES = re.compile(rb"RS-\d{8}-\d{6}-[0-9A-F]+|\d{4}-\d{2}-\d{2}[ T]\d{2}:\d{2}(:\d{2})?"
                   rb"|\d{1,2}:\d{2}(:\d{2})?")


def _read(path: Path) -> list[dict[str, str]]:
    with open(path, newline="", encoding="utf-8") as handle:
        return list(csv.DictReader(handle))


def _report_text(path: Path) -> str:
    from pypdf import PdfReader

    text = "\n".join(page.extract_text() or "" for page in PdfReader(path).pages)
    # Words only: the report ID's random hex digits differ in width, so a line may wrap
    # before or after it.
    return " ".join(TIMES.sub(b"<time>", text.encode()).decode().split())


def _assert_same_outputs(out: Path, expected: Path) -> None:
    """results.csv and patients.csv equal, and the same reports with the same words (the
    screening time aside)."""
    assert _read(out / "results.csv") == _read(expected / "results.csv")
    assert _read(out / "patients.csv") == _read(expected / "patients.csv")
    reports = sorted(p.name for p in (out / "reports").iterdir())
    assert reports == sorted(p.name for p in (expected / "reports").iterdir())
    for name in reports:
        text, expected_text = (_report_text(folder / "reports" / name)
                               for folder in (out, expected))
        assert text == expected_text, "\n".join(difflib.unified_diff(
            expected_text.split(), text.split(), lineterm=""))


@pytest.fixture(scope="module")
def mixed_folder(tmp_path_factory, data_dir: Path) -> Path:
    """Camera JPEGs (two at full resolution), an ungradable photo, a photo that is not a fundus
    photograph, and an unreadable file."""
    folder = tmp_path_factory.mktemp("mixed")
    for patient in PATIENTS[:4]:
        for eye in "LR":
            shutil.copy(data_dir / f"srahim_dev/images/{patient}_{eye}.jpg", folder)
    full = folder / "full"
    full.mkdir()
    shutil.copy(data_dir / "srahim_dev/full_resolution/Patient033_L.jpg", full)
    shutil.copy(data_dir / "srahim_dev/images/Patient033_R.jpg", full)
    shutil.copy(data_dir / "drimdb/images/bad/drimdb_bad (1).jpg", folder / "Blurry_R.jpg")
    shutil.copy(data_dir / "srahim_dev/images/Patient058_L.jpg", folder / "Blurry_L.jpg")
    outlier = sorted((data_dir / "drimdb/images/outlier").iterdir())[0]
    shutil.copy(outlier, folder / ("Other_R" + outlier.suffix.lower()))
    shutil.copy(data_dir / "srahim_dev/images/Patient058_R.jpg", folder / "Other_L.jpg")
    (folder / "Broken_L.jpg").write_bytes(
        (data_dir / "srahim_dev/images/Patient006_L.jpg").read_bytes()[:3000])
    return folder


def _heartbeat_failure_dropped() -> bool:
    """Runs on a worker: its log drops a heartbeat failure and keeps other errors."""
    import logging

    def passes(message: str) -> bool:
        record = logging.LogRecord("distributed.worker", logging.ERROR, __file__, 0, message,
                                   None, None)
        return all(f.filter(record) for f in logging.getLogger("distributed.worker").filters)

    return (not passes("Failed to communicate with scheduler during heartbeat.")
            and passes("Unexpected exception during heartbeat. Closing worker."))


def test_local_cluster_gives_the_local_executors_results(mixed_folder: Path, tmp_path: Path,
                                                          isolated_settings) -> None:
    local = run_batch(mixed_folder, tmp_path / "local", isolated_settings, workers=2)
    lines: list[str] = []
    executor = DaskExecutor(isolated_settings, local_workers=2, notice=lines.append)
    try:
        dask = run_batch(mixed_folder, tmp_path / "dask", isolated_settings, executor=executor)
        # Ctrl-C closes the scheduler under a heartbeat in flight: no traceback from a worker.
        assert all(executor.client.run(_heartbeat_failure_dropped).values())
    finally:
        executor.stop(cancelled=False)
    assert executor.client is None and executor.cluster is None  # nothing left running
    assert lines and "dashboard http" in lines[0]
    statuses = {r["path"]: r["status"] for r in _read(tmp_path / "dask" / "results.csv")}
    assert statuses["Broken_L.jpg"] == "error"
    assert statuses["Blurry_R.jpg"] == "ungradable"
    assert next(s for p, s in statuses.items() if p.startswith("Other_R")) == "ungradable"
    assert statuses["full/Patient033_L.jpg"] == "ok"
    assert (dask.images, dask.ok, dask.errors) == (local.images, local.ok, local.errors)
    _assert_same_outputs(tmp_path / "dask", tmp_path / "local")


@pytest.mark.timeout(300)
def test_a_visit_that_keeps_killing_its_dask_worker_is_recorded_as_errors(
        srahim: Path, isolated_settings) -> None:
    """On a local cluster, a visit whose worker is killed (SIGKILL) each time it runs it, as a
    file that crashes a native decoder would, is screened on a second worker and then given up
    (Dask's KilledWorker): its photographs come back as errors with the reason, the other
    visits are screened, and the run goes on instead of stopping."""
    import threading

    tasks = [PatientTask(patient, tuple(
        (str(srahim / "images" / f"{patient}_{eye}.jpg"), f"{patient}_{eye}.jpg", side)
        for eye, side in (("L", "left"), ("R", "right"))), report_path=None)
        for patient in PATIENTS[:3]]
    poisoned = tasks[1]
    executor = DaskExecutor(isolated_settings, local_workers=2)
    killed: list[str] = []
    done = threading.Event()

    def kill() -> None:
        while not done.is_set():
            client = executor.client
            if client is not None and executor._model_sha:
                key = task_key(poisoned, executor._model_sha)
                try:
                    busy = [address for address, keys in client.processing().items()
                            if key in keys and address not in killed]
                    for address in busy:
                        pid = client.run(os.getpid, workers=[address])[address]
                        os.kill(pid, signal.SIGKILL)
                        killed.append(address)
                except (OSError, KeyError, TimeoutError):
                    pass  # the worker is gone already
            time.sleep(0.02)

    killer = threading.Thread(target=kill, daemon=True)
    killer.start()
    try:
        screened = {key[0]: results for key, results, _ in executor.results(tasks)}
    finally:
        done.set()
        killer.join()
        executor.stop(cancelled=True)
    assert len(killed) == 2 and executor.crashed == {poisoned.key}
    assert set(screened) == set(PATIENTS[:3])
    assert [(r.source, r.status.value, r.error) for r in screened[poisoned.patient_id]] == [
        (f"{poisoned.patient_id}_L.jpg", "error", CRASHED_VISIT_ERROR),
        (f"{poisoned.patient_id}_R.jpg", "error", CRASHED_VISIT_ERROR)]
    assert all(r.status.value == "ok" and r.grading is not None
               for task in (tasks[0], tasks[2]) for r in screened[task.patient_id])


def test_dask_argument_is_checked() -> None:
    assert parse_local("local") is None and parse_local("local:3") == 3
    for bad in ("local:0", "remote", "tcp://x:1"):
        with pytest.raises(ConfigError):
            parse_local(bad)


# ---------------------------------------------------------------------------------------------
# A cluster started the way an operator starts one: 'dask scheduler' and 'dask worker'


def _start_dask(log: Path, env: dict, *args: str) -> subprocess.Popen:
    """``dask scheduler ...`` / ``dask worker ...``, its output in ``log``."""
    with open(log, "wb") as output:
        return subprocess.Popen([sys.executable, "-m", "distributed.cli.dask_" + args[0],
                                 *args[1:]], stdout=subprocess.DEVNULL, stderr=output, env=env)


@pytest.fixture(scope="module")
def dask_cluster(tmp_path_factory):
    """A scheduler and two worker processes (each under its nanny, which restarts it)."""
    base = tmp_path_factory.mktemp("cluster")
    scheduler_file = base / "scheduler.json"
    env = {**os.environ, "DASK_DISTRIBUTED__WORKER__DAEMON": "False"}
    procs = [_start_dask(base / "scheduler.log", env, "scheduler", "--host", "127.0.0.1",
                         "--port", "0", "--dashboard-address", ":0", "--scheduler-file",
                         str(scheduler_file))]
    try:
        deadline = time.monotonic() + 60
        while not scheduler_file.exists():
            assert time.monotonic() < deadline, (base / "scheduler.log").read_text()
            time.sleep(0.2)
        for index in range(2):
            procs.append(_start_dask(
                base / f"worker{index}.log", env, "worker", "--scheduler-file",
                str(scheduler_file), "--nthreads", "1", "--nworkers", "1", "--no-dashboard",
                "--local-directory", str(base / f"w{index}")))
        from distributed import Client

        with Client(scheduler_file=str(scheduler_file), timeout=60) as client:
            client.wait_for_workers(2, timeout=90)
            address = client.scheduler.address
        yield address, scheduler_file
    finally:
        for proc in reversed(procs):
            proc.terminate()
        for proc in reversed(procs):
            try:
                proc.wait(timeout=20)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()


def test_a_scheduler_left_at_dask_defaults_is_pointed_out(dask_cluster, isolated_settings
                                                           ) -> None:
    """Dask's defaults give up on a crashing visit only after 4 deaths and queue visits behind
    it: the operator is told how to start the scheduler instead."""
    address, _ = dask_cluster
    lines: list[str] = []
    executor = DaskExecutor(isolated_settings, scheduler=address, notice=lines.append)
    try:
        executor._connect()
    finally:
        executor.stop(cancelled=False)
    assert lines[0].startswith(f"Dask: screening on {address}")
    assert "only after 4 worker deaths" in lines[1]
    assert "ALLOWED_FAILURES=1" in lines[1] and "WORKER_SATURATION=1.0" in lines[1]


def _worker_pids(scheduler_file: Path) -> list[int]:
    from distributed import Client

    with Client(scheduler_file=str(scheduler_file), timeout=30) as client:
        return sorted(client.run(os.getpid).values())


def _cli(env: dict, *args: str) -> list[str]:
    return [sys.executable, "-m", "retina_screen", *args]


def _patient_records(out: Path) -> int:
    try:
        return (out / "results.jsonl").read_bytes().count(b'"kind": "patient"')
    except FileNotFoundError:
        return 0


@pytest.fixture(scope="module")
def archive(tmp_path_factory, data_dir: Path) -> Path:
    """16 photographs of 8 patients (real, re-encoded copies under other names)."""
    import cv2

    folder = tmp_path_factory.mktemp("archive")
    sources = sorted((data_dir / "srahim_dev/images").glob("Patient0*_L.jpg"))[:8]
    for index, left in enumerate(sources):
        for eye, source in (("L", left), ("R", left.with_name(left.name.replace("_L", "_R")))):
            pixels = cv2.imread(str(source))
            cv2.imwrite(str(folder / f"Arch{index:03d}_{eye}.jpg"), pixels,
                        [cv2.IMWRITE_JPEG_QUALITY, 93])
    return folder


def test_killed_worker_and_killed_client_lose_and_repeat_nobody(
        dask_cluster, archive: Path, tmp_path: Path, isolated_settings) -> None:
    address, scheduler_file = dask_cluster
    env = {**os.environ, "XDG_CONFIG_HOME": str(tmp_path / "config"),
           "XDG_DATA_HOME": str(tmp_path / "data")}
    out = tmp_path / "out"
    command = _cli(env, "batch", str(archive), "--out", str(out), "--scheduler", address,
                   "--quiet")
    client = subprocess.Popen(command, env=env, cwd=ROOT, stdout=subprocess.PIPE,
                              stderr=subprocess.STDOUT)
    try:
        deadline = time.monotonic() + 120
        while _patient_records(out) < 2:  # the cluster is screening: kill a worker
            assert client.poll() is None and time.monotonic() < deadline, \
                client.stdout.read().decode() if client.poll() is not None else "too slow"
            time.sleep(0.05)
        os.kill(_worker_pids(scheduler_file)[0], signal.SIGKILL)
        while _patient_records(out) < 4:  # ... then the client, in the middle of the batch
            assert client.poll() is None and time.monotonic() < deadline, "too slow"
            time.sleep(0.05)
        client.send_signal(signal.SIGKILL)
    finally:
        client.wait(timeout=30)
    assert 4 <= _patient_records(out) < 8
    resumed = subprocess.run(command, env=env, cwd=ROOT, capture_output=True, text=True,
                             timeout=240)
    assert resumed.returncode == 0, resumed.stdout + resumed.stderr
    assert "from an earlier run" in resumed.stdout

    expected = tmp_path / "expected"
    run_batch(archive, expected, replace(isolated_settings, audit_db=tmp_path / "other.sqlite"),
              workers=2)
    _assert_same_outputs(out, expected)
    rows = _read(out / "results.csv")
    assert len(rows) == 16 and len({r["path"] for r in rows}) == 16
    assert len({(r["patient_id"], r["visit"]) for r in _read(out / "patients.csv")}) == 8
    verified = subprocess.run(_cli(env, "audit", "verify"), env=env, cwd=ROOT,
                              capture_output=True, text=True, timeout=120)
    assert verified.returncode == 0 and "verified" in verified.stdout, verified.stdout


def test_a_worker_that_cannot_open_the_model_fails_clearly(
        dask_cluster, archive: Path, tmp_path: Path, isolated_settings) -> None:
    """The model the workers see is missing (not on their storage): the run stops with the
    reason, naming the worker, within seconds, and records nothing for the visits."""
    address, _ = dask_cluster
    worker_settings = replace(isolated_settings, model=tmp_path / "not-mounted" / "m.json")
    executor = DaskExecutor(worker_settings, scheduler=address)
    started = time.monotonic()
    try:
        with pytest.raises(RetinaScreenError, match="cannot open the model") as caught:
            run_batch(archive, tmp_path / "out", isolated_settings, executor=executor)
    finally:
        executor.stop(cancelled=True)
    assert "Dask worker tcp://" in str(caught.value)
    assert time.monotonic() - started < 60
    assert not (tmp_path / "out" / "results.jsonl").exists() \
        or b'"kind": "patient"' not in (tmp_path / "out" / "results.jsonl").read_bytes()


def test_ctrl_c_stops_a_local_cluster_cleanly_and_the_same_command_resumes(
        archive: Path, tmp_path: Path) -> None:
    env = {**os.environ, "XDG_CONFIG_HOME": str(tmp_path / "config"),
           "XDG_DATA_HOME": str(tmp_path / "data")}
    out = tmp_path / "out"
    command = _cli(env, "batch", str(archive), "--out", str(out), "--dask", "local:2")
    # A terminal's Ctrl-C: SIGINT at its default, even when the test runner itself was
    # started in the background (where the shell ignores SIGINT for it and its children).
    batch = subprocess.Popen(command, env=env, cwd=ROOT, start_new_session=True,
                             stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                             preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL))
    deadline = time.monotonic() + 120
    while _patient_records(out) < 1:
        assert batch.poll() is None and time.monotonic() < deadline
        time.sleep(0.05)
    os.killpg(batch.pid, signal.SIGINT)  # Ctrl-C reaches the terminal's whole process group
    output = batch.communicate(timeout=60)[0].decode()
    assert batch.returncode == 130, output
    assert "run the same command again to resume" in output and "Traceback" not in output
    assert "dashboard http" in output
    deadline = time.monotonic() + 15  # the workers' helper processes end after the client
    while (left := subprocess.run(["pgrep", "-a", "-g", str(batch.pid)], capture_output=True,
                                  text=True).stdout.strip()) and time.monotonic() < deadline:
        time.sleep(0.2)
    assert not left, f"processes of the cluster were left running: {left}"
    resumed = subprocess.run(command, env=env, cwd=ROOT, capture_output=True, text=True,
                             timeout=240)
    assert resumed.returncode == 0 and "from an earlier run" in resumed.stdout, resumed.stderr
    assert len(_read(out / "results.csv")) == 16
