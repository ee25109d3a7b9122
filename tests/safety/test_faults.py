"""Faults during a real batch: SIGKILL at random moments and resume, disk full, permission
denied on the output folder, two runs on one folder, a missing or modified model.

Every run is the real command line (``python -m retina_screen batch``) on real photographs
(both eyes of 8 srahim_dev patients), compared with an uninterrupted run of the same input.
"""

from __future__ import annotations

import contextlib
import errno
import hashlib
import json
import logging
import os
import re
import shutil
import signal
import subprocess
import time
from collections.abc import Iterator
from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest
from safety_helpers import (
    BATCH_PATIENTS,
    ROOT,
    cli_command,
    cli_env,
    enforce_permissions,
    link_batch_input,
    permissions_enforceable,
    read_csv,
    read_journal,
    run_cli,
    running_as_root,
    table_rows,
)

from retina_screen import batch as batch_module
from retina_screen.errors import OutputError, OutputLockedError, RetinaScreenError
from retina_screen.executors import CRASHED_VISIT_ERROR, PatientTask, ProcessExecutor

KILL_CYCLES = 5
KILL_SEED = 20240607


def batch_args(input_dir: Path, out: Path, workers: int = 2) -> list[str]:
    return ["batch", str(input_dir), "--out", str(out), "--workers", str(workers), "--quiet"]


@pytest.fixture(scope="module")
def batch_input(srahim: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    folder = tmp_path_factory.mktemp("faults") / "export"
    link_batch_input(srahim, folder)
    return folder


@pytest.fixture(scope="module")
def reference(batch_input: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """An uninterrupted run (with reports) of the batch input."""
    home = tmp_path_factory.mktemp("reference")
    out = home / "out"
    result = run_cli(batch_args(batch_input, out), cli_env(home))
    assert result.returncode == 0, result.stderr[-3000:]
    results, patients = table_rows(out)
    assert len(results) == 2 * len(BATCH_PATIENTS) and len(patients) == len(BATCH_PATIENTS)
    assert {r["status"] for r in results} == {"ok"}
    outcomes = {p["outcome"] for p in patients}
    assert "no_referable" in outcomes and outcomes & {"refer", "refer_urgent"}
    return out


def assert_consistent(out: Path, allow_torn_tail: bool) -> list[dict]:
    """Everything in the output folder parses, and the tables agree with the journal."""
    records = read_journal(out / "results.jsonl", allow_torn_tail=allow_torn_tail)
    images, patients = batch_module.latest_records(records)
    results, patient_rows = table_rows(out)
    # The tables may lag the journal (rewritten every few seconds), never run ahead of it.
    assert {(r["patient_id"], r["visit"], r["path"]) for r in results} <= set(images)
    assert {(p["patient_id"], p["visit"]) for p in patient_rows} <= set(patients)
    for row in patient_rows:
        if row["report"]:
            pdf = (out / row["report"]).read_bytes()
            assert pdf.startswith(b"%PDF-") and pdf.rstrip().endswith(b"%%EOF"), row["report"]
    return records


def assert_same_as_reference(out: Path, reference: Path) -> None:
    """Identical tables; exactly one record per image and per patient; complete reports;
    no temporary files left behind."""
    assert table_rows(out) == table_rows(reference)
    records = read_journal(out / "results.jsonl")
    image_paths = [r["path"] for r in records if r["kind"] == "image"]
    patient_ids = [r["patient_id"] for r in records if r["kind"] == "patient"]
    assert sorted(image_paths) == sorted({*image_paths}) and len(image_paths) == 16
    assert sorted(patient_ids) == sorted(BATCH_PATIENTS)
    for row in read_csv(out / "patients.csv"):
        pdf = (out / row["report"]).read_bytes()
        assert pdf.startswith(b"%PDF-") and pdf.rstrip().endswith(b"%%EOF")
    leftovers = [p.name for p in out.rglob(".*") if p.name != ".lock"]
    assert not leftovers, f"temporary files left behind: {leftovers}"


def audit_ok(home: Path, env: dict[str, str]) -> int:
    """Verify the audit trail with the CLI; returns its record count."""
    db = home / "xdg-data" / "retina-screen" / "audit.sqlite"
    result = run_cli(["audit", "verify", "--db", str(db)], env, timeout=60)
    assert result.returncode == 0, result.stdout + result.stderr
    return int(result.stdout.split(":")[1].split()[0])


def group_gone(pgid: int, timeout: float) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            os.killpg(pgid, 0)
        except ProcessLookupError:
            return True
        time.sleep(0.1)
    return False


@contextlib.contextmanager
def started(args: list[str], env: dict[str, str]) -> Iterator[subprocess.Popen]:
    """A CLI process in its own process group; the whole group is killed on the way out."""
    process = subprocess.Popen(cli_command(*args), env=env, cwd=ROOT, start_new_session=True,
                               stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        yield process
    finally:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(process.pid, signal.SIGKILL)
        process.communicate(timeout=60)


def patients_done(out: Path) -> int:
    try:
        data = (out / "results.jsonl").read_bytes()
    except FileNotFoundError:
        return 0
    return data.count(b'"kind": "patient"')


@pytest.mark.slow
@pytest.mark.timeout(300)
def test_kill_and_resume_gives_the_uninterrupted_result(batch_input: Path, reference: Path,
                                                        tmp_path: Path) -> None:
    """SIGKILL the batch at random moments (seeded) several times, resume each time: in the
    end every photograph has exactly one result, identical to the uninterrupted run, every
    file parses at every step, no process is left behind, and the audit trail verifies."""
    rng = np.random.default_rng(KILL_SEED)
    env = cli_env(tmp_path)
    out = tmp_path / "out"
    kills = 0
    for cycle in range(KILL_CYCLES):
        before = patients_done(out)
        target = before + 1  # kill once one more patient is done ...
        jitter = float(rng.uniform(0.0, 0.25))  # ... plus a random fraction of a second
        workers = 1 + cycle % 2
        with started(batch_args(batch_input, out, workers), env) as process:
            deadline = time.monotonic() + 120
            while patients_done(out) < target and process.poll() is None:
                assert time.monotonic() < deadline, "the batch made no progress"
                time.sleep(0.02)
            time.sleep(jitter)
            if process.poll() is None:
                os.kill(process.pid, signal.SIGKILL)
                kills += 1
                process.wait(timeout=30)
                assert group_gone(process.pid, 20), "worker processes outlived the batch"
        assert_consistent(out, allow_torn_tail=True)
        if process.returncode == 0:
            break
        assert process.returncode == -signal.SIGKILL
    assert kills >= 3, "the batch finished before it could be killed often enough"
    final = run_cli(batch_args(batch_input, out), env)
    assert final.returncode == 0, final.stderr[-3000:]
    assert "from an earlier run" in final.stdout
    assert_same_as_reference(out, reference)
    assert audit_ok(tmp_path, env) >= len(BATCH_PATIENTS)


@pytest.mark.slow
@pytest.mark.timeout(240)
def test_disk_full(batch_input: Path, reference: Path, tmp_path: Path) -> None:
    """A real file system that fills up mid-run (a 350 kB tmpfs): a clear error, nothing
    corrupted; with space again, the resumed run equals the uninterrupted one."""
    if not running_as_root():
        pytest.skip("mounting a small tmpfs needs root")
    mount = tmp_path / "small-disk"
    mount.mkdir()
    mounted = subprocess.run(["mount", "-t", "tmpfs", "-o", "size=350k,mode=0700", "tmpfs",
                              str(mount)], capture_output=True, text=True, check=False)
    if mounted.returncode != 0:
        pytest.skip(f"cannot mount a tmpfs here: {mounted.stderr.strip()}")
    try:
        env = cli_env(tmp_path)
        out = mount / "out"
        result = run_cli(batch_args(batch_input, out), env)
        assert result.returncode == 1, result.stdout + result.stderr
        message = result.stderr.strip().splitlines()[-1]
        assert message.startswith("error: ") and re.search(
            r"No space left on device|the disk is full", message), message
        assert "Traceback" not in result.stderr
        records = assert_consistent(out, allow_torn_tail=True)
        assert 0 < sum(r["kind"] == "patient" for r in records) < len(BATCH_PATIENTS)
        subprocess.run(["mount", "-o", "remount,size=8m", str(mount)], check=True)
        resumed = run_cli(batch_args(batch_input, out), env)
        assert resumed.returncode == 0, resumed.stderr[-3000:]
        assert_same_as_reference(out, reference)
        audit_ok(tmp_path, env)
    finally:
        subprocess.run(["umount", "-l", str(mount)], check=False)


def test_disk_full_while_writing_the_journal(batch_input: Path, isolated_settings,  # noqa: ANN001
                                             tmp_path: Path,
                                             monkeypatch: pytest.MonkeyPatch) -> None:
    """ENOSPC in the middle of a journal append (simulated: any user): a clear OutputError,
    the torn line is dropped on resume and the patient screened again."""
    out = tmp_path / "out"
    real_write = os.write
    calls = {"n": 0}

    def write(fd: int, data: bytes) -> int:
        if os.fstat(fd).st_ino == journal_inode():
            calls["n"] += 1
            if calls["n"] == 3:  # the third patient: half a record, then the disk is full
                real_write(fd, bytes(data)[: len(data) // 2])
                raise OSError(errno.ENOSPC, "No space left on device")
        return real_write(fd, data)

    def journal_inode() -> int:
        try:
            return (out / "results.jsonl").stat().st_ino
        except FileNotFoundError:
            return -1

    monkeypatch.setattr(batch_module.os, "write", write)
    with pytest.raises(OutputError, match="No space left on device"):
        batch_module.run_batch(batch_input, out, isolated_settings, workers=1, reports=False)
    monkeypatch.undo()
    records = read_journal(out / "results.jsonl", allow_torn_tail=True)
    assert sum(r["kind"] == "patient" for r in records) == 2
    summary = batch_module.run_batch(batch_input, out, isolated_settings, workers=1,
                                     reports=False)
    assert summary.images == 16 and summary.resumed == 4
    records = read_journal(out / "results.jsonl")
    assert sorted(r["patient_id"] for r in records if r["kind"] == "patient") == \
        sorted(BATCH_PATIENTS)


def _tree_digest(folder: Path) -> dict[str, str]:
    return {str(p.relative_to(folder)): hashlib.sha256(p.read_bytes()).hexdigest()
            for p in sorted(folder.rglob("*")) if p.is_file()}


@pytest.mark.timeout(180)
def test_permission_denied_on_the_output_folder(batch_input: Path, reference: Path,
                                                tmp_path: Path) -> None:
    """An output folder that may not be written (for real: as root the command runs without
    the permission override): a clear error, nothing written or changed."""
    reason = permissions_enforceable(tmp_path)
    if reason:
        pytest.skip(reason)
    env = cli_env(tmp_path)
    locked = tmp_path / "read-only"
    locked.mkdir(mode=0o500)
    result = run_cli(batch_args(batch_input, locked / "out"), env,
                     preexec_fn=enforce_permissions)
    assert result.returncode == 1
    assert result.stderr.strip().splitlines()[-1].startswith("error: cannot create output "
                                                            "folder"), result.stderr
    assert "Permission denied" in result.stderr and "Traceback" not in result.stderr
    assert not any(locked.iterdir())

    # A finished results folder made read-only: a rerun refuses clearly and changes nothing.
    done = tmp_path / "done"
    shutil.copytree(reference, done)
    before = _tree_digest(done)
    for path in [done, *done.rglob("*")]:
        path.chmod(0o500 if path.is_dir() else 0o400)
    try:
        result = run_cli(batch_args(batch_input, done), env, preexec_fn=enforce_permissions)
    finally:
        for path in [done, *done.rglob("*")]:
            path.chmod(0o700 if path.is_dir() else 0o600)
    assert result.returncode == 1, result.stdout
    assert "Permission denied" in result.stderr and "Traceback" not in result.stderr
    assert _tree_digest(done) == before


def test_permission_denied_simulated(batch_input: Path, isolated_settings, tmp_path: Path,  # noqa: ANN001
                                     monkeypatch: pytest.MonkeyPatch) -> None:
    """EACCES for every file in the output folder (simulated, works for root too)."""
    out = tmp_path / "out"
    out.mkdir()
    real_open = os.open

    def deny(path, flags, *args, **kwargs):  # noqa: ANN001, ANN202
        if Path(path).parent == out:
            raise PermissionError(errno.EACCES, "Permission denied", str(path))
        return real_open(path, flags, *args, **kwargs)

    monkeypatch.setattr(batch_module.os, "open", deny)
    with pytest.raises(OutputError, match="Permission denied"):
        batch_module.run_batch(batch_input, out, isolated_settings, workers=1, reports=False)
    assert [p.name for p in out.iterdir()] == ["reports"]


@pytest.mark.slow
@pytest.mark.timeout(240)
def test_second_run_on_the_same_folder_refuses(batch_input: Path, reference: Path,
                                               tmp_path: Path) -> None:
    env = cli_env(tmp_path)
    out = tmp_path / "out"
    with started(batch_args(batch_input, out, workers=1), env) as first:
        deadline = time.monotonic() + 120
        while patients_done(out) < 1:
            assert first.poll() is None and time.monotonic() < deadline
            time.sleep(0.02)
        second = run_cli(batch_args(batch_input, out), env, timeout=60)
        assert first.poll() is None, "the first run ended before the second one was tried"
        assert second.returncode == 1
        assert second.stderr.strip() == (
            f"error: another screening run is already writing to {out}; wait for it to "
            "finish or choose another output folder"), second.stderr
        stdout, stderr = first.communicate(timeout=180)
        assert first.returncode == 0, stderr[-3000:]
    assert_same_as_reference(out, reference)


def test_output_lock_in_process(batch_input: Path, isolated_settings, tmp_path: Path) -> None:  # noqa: ANN001
    out = tmp_path / "out"
    out.mkdir()
    with batch_module.output_lock(out), pytest.raises(OutputLockedError):
        batch_module.run_batch(batch_input, out, isolated_settings, workers=1, reports=False)
    assert not (out / "results.jsonl").exists()


# ---------------------------------------------------------------------------------------------
# The model

def _flip_middle_byte(path: Path) -> None:
    data = bytearray(path.read_bytes())
    data[len(data) // 2] ^= 0x01
    path.write_bytes(bytes(data))


MODEL_FAULTS = {
    "grading model missing": ("dr_lite0.onnx", lambda p: p.unlink(), r"model file not found"),
    "grading model truncated": ("dr_lite0.onnx",
                                lambda p: p.write_bytes(p.read_bytes()[: p.stat().st_size // 2]),
                                r"dr_lite0.onnx does not match its manifest"),
    "grading model modified": ("dr_lite0.onnx", _flip_middle_byte,
                               r"dr_lite0.onnx does not match its manifest"),
    "gate model missing": ("fundus_gate.onnx", lambda p: p.unlink(),
                           r"fundus gate model file not found"),
    "gate model modified": ("fundus_gate.onnx", _flip_middle_byte,
                            r"fundus_gate.onnx does not match its manifest"),
}


@pytest.fixture()
def model_copy(tmp_path: Path) -> Path:
    folder = tmp_path / "models"
    folder.mkdir()
    for name in ("dr_lite0.json", "dr_lite0.onnx", "fundus_gate.onnx"):
        shutil.copy2(ROOT / "models" / name, folder / name)
    return folder / "dr_lite0.json"


@pytest.mark.timeout(240)
@pytest.mark.parametrize("fault", sorted(MODEL_FAULTS))
def test_damaged_model_is_refused_before_screening(fault: str, model_copy: Path,
                                                   batch_input: Path, tmp_path: Path) -> None:
    file_name, damage, message = MODEL_FAULTS[fault]
    damage(model_copy.parent / file_name)
    env = cli_env(tmp_path)
    out = tmp_path / "out"
    audit_db = tmp_path / "xdg-data" / "retina-screen" / "audit.sqlite"
    result = run_cli(["--model", str(model_copy), *batch_args(batch_input, out)], env)
    assert result.returncode == 1
    assert re.search(message, result.stderr), result.stderr
    assert "Traceback" not in result.stderr
    assert not out.exists(), "the output folder was created before the model was verified"
    photo = next(batch_input.iterdir())
    result = run_cli(["--model", str(model_copy), "screen", str(photo)], env)
    assert result.returncode == 1 and re.search(message, result.stderr), result.stderr
    assert not audit_db.exists(), "something was recorded with a refused model"


@pytest.mark.timeout(120)
def test_intact_model_copy_is_accepted(model_copy: Path, batch_input: Path,
                                       tmp_path: Path) -> None:
    """The control for the test above: the same copy, undamaged, screens."""
    photo = sorted(batch_input.iterdir())[0]
    result = run_cli(["--model", str(model_copy), "screen", str(photo), "--json"],
                     cli_env(tmp_path))
    assert result.returncode == 0, result.stderr
    assert '"status": "ok"' in result.stdout


# ---------------------------------------------------------------------------------------------
# Lost data and crashes (issue 13, section 4)


def _patient_lines(journal: Path) -> list[tuple[int, int, str]]:
    """(start, end, patient ID) of every visit record line of a journal."""
    data, spans, start = journal.read_bytes(), [], 0
    for line in data.split(b"\n")[:-1]:
        if b'"kind": "patient"' in line:
            spans.append((start, start + len(line), json.loads(line)["patient_id"]))
        start += len(line) + 1
    return spans


@pytest.mark.timeout(240)
def test_damaged_byte_in_the_journal_never_drops_valid_records(srahim: Path,
                                                               tmp_path: Path) -> None:
    camera, out, env = tmp_path / "camera", tmp_path / "out", cli_env(tmp_path)
    link_batch_input(srahim, camera, BATCH_PATIENTS[:6])
    first = run_cli(["batch", str(camera), "--out", str(out), "--workers", "2", "--quiet",
                     "--no-reports"], env)
    assert first.returncode == 0, first.stderr[-3000:]
    journal = out / "results.jsonl"
    spans = _patient_lines(journal)
    assert len(spans) == 6
    start, end, damaged_patient = spans[2]  # a record in the middle of the journal
    data = bytearray(journal.read_bytes())
    data[(start + end) // 2] = 0xFF  # one damaged byte
    journal.write_bytes(bytes(data))
    for photo in list(camera.iterdir()):  # the camera folder is archived ...
        photo.rename(tmp_path / photo.name)
    link_batch_input(srahim, camera, ("Patient108",))  # ... and the next patients arrive
    second = run_cli(["batch", str(camera), "--out", str(out), "--workers", "2", "--quiet",
                      "--no-reports"], env)
    assert second.returncode == 0, second.stderr[-3000:]
    kept = {row["patient_id"] for row in read_csv(out / "patients.csv")}
    assert kept == {*BATCH_PATIENTS[:6], "Patient108"} - {damaged_patient}
    assert "1 damaged records" in second.stdout, second.stdout
    copies = list(out.glob("results.jsonl.damaged-*"))
    assert len(copies) == 1 and copies[0].read_bytes() == bytes(data)
    read_journal(journal)  # the journal itself is whole again


@pytest.mark.timeout(240)
def test_report_reading_the_journal_during_a_batch_never_changes_it(srahim: Path,
                                                                    tmp_path: Path) -> None:
    camera, out, env = tmp_path / "camera", tmp_path / "out", cli_env(tmp_path)
    link_batch_input(srahim, camera, BATCH_PATIENTS[:2])
    done = run_cli(["batch", str(camera), "--out", str(out), "--workers", "1", "--quiet",
                    "--no-reports"], env)
    assert done.returncode == 0, done.stderr[-3000:]
    journal = out / "results.jsonl"
    with open(journal, "ab") as handle:  # a batch in the middle of appending a patient
        handle.write(b'{"kind": "image", "path": "Patient0')
    during = journal.read_bytes()
    report = run_cli(["report", str(out), BATCH_PATIENTS[0], "--pdf", str(tmp_path / "r.pdf")],
                     env)
    assert report.returncode == 0, report.stderr[-3000:]
    assert journal.read_bytes() == during


@pytest.mark.timeout(240)
def test_file_names_that_are_not_utf8_are_screened(srahim: Path, tmp_path: Path) -> None:
    camera, out, env = tmp_path / "camera", tmp_path / "out", cli_env(tmp_path)
    link_batch_input(srahim, camera, BATCH_PATIENTS[:2], copy=True)
    for eye in "RL":  # a Latin-1 camera share: M\xfcller is not UTF-8
        # Another patient's photographs than the folder's (the same content under two
        # patients' names is never "no referable DR").
        with open(os.path.join(os.fsencode(camera), b"M\xfcller_" + eye.encode() + b".jpg"),
                  "wb") as handle:
            handle.write((srahim / f"images/Patient016_{eye}.jpg").read_bytes())
    done = run_cli(["batch", str(camera), "--out", str(out), "--workers", "2", "--quiet"], env)
    assert done.returncode == 0, done.stderr[-3000:]
    results, patients = table_rows(out)
    assert len(results) == 6 and {r["status"] for r in results} == {"ok"}
    by_id = {p["patient_id"]: p for p in patients}
    assert by_id["M\\xfcller"]["outcome"] == "no_referable"
    assert (out / by_id["M\\xfcller"]["report"]).read_bytes().startswith(b"%PDF")
    assert audit_ok(tmp_path, env) == 3
    photo = os.path.join(os.fsencode(camera), b"M\xfcller_R.jpg")
    screened = subprocess.run([*map(os.fsencode, cli_command("screen", "--json")), photo],
                              env=env, cwd=ROOT, capture_output=True, timeout=120)
    assert screened.returncode == 0, screened.stderr[-3000:]
    assert json.loads(screened.stdout)["patient_id"] == "M\\xfcller"


def _workers_of(pid: int) -> list:
    import psutil

    return [worker for child in psutil.Process(pid).children()
            if "forkserver" in " ".join(child.cmdline()) for worker in child.children()]


@pytest.mark.timeout(240)
def test_worker_logs_and_crash_logs_reach_the_log_folder(srahim: Path, tmp_path: Path) -> None:
    camera, out, env = tmp_path / "camera", tmp_path / "out", cli_env(tmp_path)
    link_batch_input(srahim, camera, BATCH_PATIENTS[:4])
    done = run_cli(["batch", str(camera), "--out", str(out), "--workers", "2", "--quiet",
                    "--no-reports"], env)
    assert done.returncode == 0, done.stderr[-3000:]
    logs = tmp_path / "xdg-data" / "retina-screen" / "logs"
    lines = (logs / "retina-screen.log").read_text().splitlines()
    worker_lines = [line for line in lines if "screened a visit" in line]
    assert len(worker_lines) == 4, lines
    for line in worker_lines:  # written by the worker process itself (its pid in both places)
        assert line.split()[2] == line.split("worker ")[1].split()[0], line
    audit_folder = tmp_path / "xdg-data" / "retina-screen"
    assert audit_folder.stat().st_mode & 0o777 == 0o700
    # A worker that dies hard (a crash in a native decoder) leaves its traceback behind, and
    # its visit is screened again by a new worker.
    crash_log = logs / batch_module.WORKER_CRASH_LOG
    crash_log.unlink()
    audited = audit_ok(tmp_path, env)
    link_batch_input(srahim, tmp_path / "more", BATCH_PATIENTS)
    with started(["batch", str(tmp_path / "more"), "--out", str(tmp_path / "out2"),
                  "--workers", "2", "--quiet", "--no-reports"], env) as process:
        deadline = time.monotonic() + 120
        while patients_done(tmp_path / "out2") < 1:  # the workers are busy with the next
            assert process.poll() is None and time.monotonic() < deadline
            time.sleep(0.02)
        killed = _workers_of(process.pid)
        for worker in killed:
            os.kill(worker.pid, signal.SIGSEGV)
        stdout, stderr = process.communicate(timeout=180)
    assert process.returncode == 0, stderr[-3000:]
    assert "Traceback" not in stderr
    assert "Segmentation fault" in crash_log.read_text(errors="replace")
    assert crash_log.stat().st_mode & 0o777 == 0o600
    assert len(killed) == 2 and all(str(w.pid) in stderr for w in killed), stderr
    # Every visit committed once, to the same results as an undisturbed run's.
    patients = read_csv(tmp_path / "out2" / "patients.csv")
    assert sorted(p["patient_id"] for p in patients) == sorted(BATCH_PATIENTS)
    first = {p["patient_id"]: p["outcome"] for p in read_csv(out / "patients.csv")}
    assert all(first[p["patient_id"]] == p["outcome"] for p in patients if p["patient_id"] in first)
    assert audit_ok(tmp_path, env) == audited + len(BATCH_PATIENTS)


def _visits(srahim: Path, patients: list[str]) -> list[PatientTask]:
    return [PatientTask(patient, tuple((str(srahim / "images" / f"{patient}_{eye}.jpg"),
                                        f"{patient}_{eye}.jpg", side)
                                       for eye, side in (("L", "left"), ("R", "right"))),
                        report_path=None) for patient in patients]


@pytest.mark.timeout(300)
def test_workers_killed_between_visits_are_replaced(srahim: Path, isolated_settings) -> None:  # noqa: ANN001
    """The out-of-memory killer (or a crash) ends idle workers, which wait for their next
    visit: the next visits are screened by new workers, with the same results, and the run
    never waits for ever (a shared task queue's lock, held by a worker that died waiting on
    it, once hung every later visit and the executor's stop)."""
    executor = ProcessExecutor(isolated_settings, 2)
    try:
        first = {key: results for key, results, _ in
                 executor.results(_visits(srahim, ["Patient006", "Patient008"]))}
        assert {key[0] for key in first} == {"Patient006", "Patient008"}
        assert all(r.status.value == "ok" and r.grading is not None
                   for results in first.values() for r in results)
        assert executor.workers is not None
        for worker in executor.workers:  # both idle, one of them inside its read of the pipe
            os.kill(worker.process.pid, signal.SIGKILL)
        again = {key: results for key, results, _ in
                 executor.results(_visits(srahim, ["Patient006", "Patient008"]))}
        assert again == first
        assert all(worker.process.is_alive() for worker in executor.workers)
    finally:
        started = time.monotonic()
        executor.stop(cancelled=True)
        assert time.monotonic() - started < 15


@pytest.mark.timeout(300)
def test_recycled_workers_finish_their_visits_and_are_replaced(
        srahim: Path, isolated_settings, monkeypatch: pytest.MonkeyPatch,  # noqa: ANN001
        caplog: pytest.LogCaptureFixture) -> None:
    """Workers end after a number of visits (so caches cannot grow without bound) and new ones
    take over: every visit screened once, each by a different worker here (their log records
    reach this process's handlers)."""
    from retina_screen import executors

    monkeypatch.setattr(executors, "WORKER_TASKS_BEFORE_RECYCLE", 1)
    caplog.set_level(logging.INFO)
    executor = ProcessExecutor(isolated_settings, 2)
    patients = ["Patient006", "Patient008", "Patient013", "Patient016"]
    try:
        screened = list(executor.results(_visits(srahim, patients)))
    finally:
        executor.stop(cancelled=False)
    assert executor.workers is None
    assert sorted(key[0] for key, _, _ in screened) == patients
    assert all(r.status.value == "ok" for _, results, _ in screened for r in results)
    workers = {record.process for record in caplog.records
               if record.getMessage().startswith("worker ") and "screened a visit" in
               record.getMessage()}
    assert len(workers) == 4 and os.getpid() not in workers


@pytest.mark.timeout(120)
def test_workers_that_cannot_open_the_model_stop_the_run_clearly(
        srahim: Path, isolated_settings, tmp_path: Path) -> None:  # noqa: ANN001
    """The model vanishes after the main process checked it: the workers cannot open it, and
    the run stops with the reason within seconds instead of starting workers for ever."""
    missing = replace(isolated_settings, model=tmp_path / "gone" / "model.json")
    executor = ProcessExecutor(missing, 2)
    started = time.monotonic()
    try:
        with pytest.raises(RetinaScreenError, match="model") as caught:
            list(executor.results(_visits(srahim, ["Patient006"])))
    finally:
        executor.stop(cancelled=True)
    assert time.monotonic() - started < 60
    assert "Traceback" not in str(caught.value)


@contextlib.contextmanager
def _killing_busy_workers(executor: ProcessExecutor, each_visit_once: bool,
                          patients: set[str] | None = None) -> Iterator[dict[str, list[int]]]:
    """A thread that SIGKILLs every worker of ``executor`` that has begun a visit (what a
    crash inside the visit does), or a visit of ``patients``; with ``each_visit_once``, only
    each visit's first worker. Yields patient -> the workers killed while screening it."""
    import threading

    killed: dict[str, list[int]] = {}
    done = threading.Event()

    def kill() -> None:
        while not done.is_set():
            for worker in list(executor.workers or []):
                for key in list(worker.begun):
                    if patients is not None and key[0] not in patients:
                        continue
                    pids = killed.setdefault(key[0], [])
                    if worker.process.pid in pids or (each_visit_once and pids):
                        continue
                    pids.append(worker.process.pid)
                    with contextlib.suppress(ProcessLookupError):
                        os.kill(worker.process.pid, signal.SIGKILL)
            time.sleep(0.01)

    killer = threading.Thread(target=kill, daemon=True)
    killer.start()
    try:
        yield killed
    finally:
        done.set()
        killer.join()


@pytest.mark.timeout(300)
def test_a_visit_that_keeps_killing_its_worker_is_recorded_as_errors(
        srahim: Path, isolated_settings) -> None:  # noqa: ANN001
    """A visit whose worker dies is screened again, once: when its new worker dies too (a
    file that crashes a native decoder every time), its photographs come back as errors and
    the other visits are screened, instead of one file stopping every run of the folder."""
    executor = ProcessExecutor(isolated_settings, 1)
    started = time.monotonic()
    try:
        with _killing_busy_workers(executor, each_visit_once=False,
                                   patients={"Patient006"}) as killed:
            screened = {key[0]: results for key, results, _ in
                        executor.results(_visits(srahim, ["Patient006", "Patient008"]))}
    finally:
        executor.stop(cancelled=True)
    assert len(killed["Patient006"]) == 2 and time.monotonic() - started < 120
    assert set(killed) == {"Patient006"} and set(screened) == {"Patient006", "Patient008"}
    assert [(r.source, r.status.value, r.error) for r in screened["Patient006"]] == [
        ("Patient006_L.jpg", "error", CRASHED_VISIT_ERROR),
        ("Patient006_R.jpg", "error", CRASHED_VISIT_ERROR)]
    assert all(r.status.value == "ok" and r.grading is not None
               for r in screened["Patient008"])


@pytest.mark.timeout(300)
def test_a_batch_records_a_visit_that_keeps_killing_its_worker(
        srahim: Path, reference: Path, isolated_settings, tmp_path: Path) -> None:  # noqa: ANN001
    """Through the batch: the patient whose photographs stop their worker twice reads "images
    insufficient" with the reason on every photograph, with a report and an audit record like
    any other; every other patient gets the undisturbed run's outcome."""
    camera, out = tmp_path / "camera", tmp_path / "out"
    link_batch_input(srahim, camera, BATCH_PATIENTS)
    executor = ProcessExecutor(isolated_settings, 2)
    poisoned = BATCH_PATIENTS[1]
    try:
        with _killing_busy_workers(executor, each_visit_once=False,
                                   patients={poisoned}) as killed:
            summary = batch_module.run_batch(camera, out, isolated_settings,
                                             executor=executor)
    finally:
        executor.stop(cancelled=True)
    assert len(killed[poisoned]) == 2 and not summary.cancelled
    patients = {p["patient_id"]: p for p in read_csv(out / "patients.csv")}
    assert sorted(patients) == sorted(BATCH_PATIENTS)
    assert patients[poisoned]["outcome"] == "insufficient"
    assert (out / patients[poisoned]["report"]).read_bytes().startswith(b"%PDF")
    expected = {p["patient_id"]: p["outcome"] for p in read_csv(reference / "patients.csv")}
    assert all(p["outcome"] == expected[pid] for pid, p in patients.items() if pid != poisoned)
    images = [r for r in read_csv(out / "results.csv") if r["patient_id"] == poisoned]
    assert len(images) == 2
    assert all(r["status"] == "error" and CRASHED_VISIT_ERROR in r["reasons"] for r in images)
    assert summary.errors == 2 and len(summary.error_files) == 2


@pytest.mark.timeout(300)
def test_workers_dying_in_several_visits_stop_the_run(
        srahim: Path, isolated_settings, monkeypatch: pytest.MonkeyPatch) -> None:  # noqa: ANN001
    """Each visit's first worker dies (a machine short of memory rather than one bad file):
    the first visit, screened again, gets its result; when workers have died in as many
    different visits as the limit, the run stops instead of going on losing them."""
    from retina_screen import executors

    monkeypatch.setattr(executors, "WORKER_CRASHED_VISITS_BEFORE_STOP", 2)
    executor = ProcessExecutor(isolated_settings, 1)
    screened = []
    try:
        with _killing_busy_workers(executor, each_visit_once=True) as killed, \
                pytest.raises(RetinaScreenError, match="worker processes stopped in 2 patient "
                                                       "visits"):
            for key, results, _ in executor.results(_visits(srahim, ["Patient006",
                                                                      "Patient008"])):
                screened.append(key[0])
                assert all(r.status.value == "ok" for r in results)
    finally:
        executor.stop(cancelled=True)
    assert screened == ["Patient006"]
    assert {patient: len(pids) for patient, pids in killed.items()} == {"Patient006": 1,
                                                                         "Patient008": 1}
