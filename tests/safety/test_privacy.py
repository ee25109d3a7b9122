"""Privacy and security: no network, no patient identifiers in logs, safe file names from
hostile patient IDs, owner-only output files, a tamper-evident audit trail.

One real batch (with reports, two worker processes) and one real ``screen`` run feed most
tests; identifiers come from DICOM tags and from file names of real photographs.
"""

from __future__ import annotations

import os
import re
import shutil
import sqlite3
import stat
import subprocess
import sys
import textwrap
from dataclasses import dataclass
from pathlib import Path

import pytest
from safety_helpers import (
    REFERABLE_PHOTO,
    cli_env,
    make_dicom,
    read_csv,
    real_rgb,
    run_cli,
)

#: Real photographs under file names that carry a patient's name and ID.
NAMED_PHOTOS = ("OKAFOR Chidi 5550123_R.jpg", "OKAFOR Chidi 5550123_L.jpg")
DICOM_PATIENT = ("MRN-889-0431", "Doe^Janet^Q")
SCREEN_PATIENT = ("NHS-943-476-5919", "Wiremu Tane Parata")
SECRETS = ("OKAFOR", "Chidi", "5550123", "889-0431", "Janet", "943-476-5919", "Wiremu",
           "Parata")

#: Hostile or colliding patient IDs from DICOM tags.
HOSTILE_IDS = ("../../x", "CON", "..", "/etc/passwd", "a/b", "a_b", "Zoë", "Zoe", "p1", "P1",
               "nul.txt", "..\\..\\win", "PRN ")

NETGUARD = '''
"""Test guard (installed as sitecustomize): record and refuse any network access."""
import os, socket, sys

_LOG = os.environ.get("NETGUARD_LOG")
_NET = {socket.AF_INET, socket.AF_INET6}
_ALWAYS = {"socket.getaddrinfo", "socket.gethostbyname", "socket.gethostbyname_ex",
           "socket.gethostbyaddr", "socket.getnameinfo", "http.client.connect",
           "urllib.Request", "ftplib.connect", "smtplib.connect"}
_BY_SOCKET = {"socket.connect", "socket.sendto", "socket.sendmsg", "socket.bind"}


def _deny(event, detail):
    with open(_LOG, "a", encoding="utf-8") as handle:
        handle.write(f"{os.getpid()} {event} {detail!r}\\n")
    raise PermissionError(f"network access blocked by the test: {event}")


def _hook(event, args):
    if event == "socket.__new__" and args[1] in _NET:
        _deny(event, args[1:])
    elif event in _ALWAYS:
        _deny(event, args)
    elif event in _BY_SOCKET and getattr(args[0], "family", None) in _NET:
        _deny(event, args[1:])


if _LOG:
    sys.addaudithook(_hook)
'''


@dataclass(frozen=True)
class Run:
    home: Path
    input_dir: Path
    out: Path
    screen_report: Path
    network_log: Path
    env: dict[str, str]

    @property
    def audit_db(self) -> Path:
        return self.home / "xdg-data" / "retina-screen" / "audit.sqlite"

    @property
    def audit_key(self) -> Path:
        return self.home / "xdg-config" / "retina-screen" / "audit.key"

    @property
    def log_dir(self) -> Path:
        return self.home / "xdg-data" / "retina-screen" / "logs"


@pytest.fixture(scope="module")
def run(srahim: Path, tmp_path_factory: pytest.TempPathFactory) -> Run:
    """A batch with reports (2 workers) and a single-patient screen with a report, under a
    permissive umask, with every Python process of the tree refusing network access."""
    home = tmp_path_factory.mktemp("privacy")
    guard = home / "guard"
    guard.mkdir()
    (guard / "sitecustomize.py").write_text(textwrap.dedent(NETGUARD))
    network_log = home / "network-attempts.log"
    env = cli_env(home, NETGUARD_LOG=str(network_log))
    env["PYTHONPATH"] = f"{guard}{os.pathsep}{env['PYTHONPATH']}"

    photos = srahim / "images"
    input_dir = home / "clinic export"
    input_dir.mkdir()
    for name in NAMED_PHOTOS:
        source = photos / ("Patient044_R.jpg" if "_R" in name else "Patient044_L.jpg")
        (input_dir / name).write_bytes(source.read_bytes())
    rgb = real_rgb(photos / REFERABLE_PHOTO, max_side=800)
    dicom_id, dicom_name = DICOM_PATIENT
    (input_dir / "IMG0001.dcm").write_bytes(
        make_dicom(rgb, patient_id=dicom_id, patient_name=dicom_name, laterality="L",
                   compressed=True))
    (input_dir / "IMG0002.dcm").write_bytes(  # damaged: the error path, with identifiers
        make_dicom(rgb, patient_id=dicom_id, patient_name=dicom_name, laterality="R")[:-5000])
    (input_dir / "OKAFOR Chidi 5550123 extra_R.jpg").write_bytes(b"not a photo")
    for number, patient_id in enumerate(HOSTILE_IDS):
        (input_dir / f"scan{number:03d}.dcm").write_bytes(
            make_dicom(rgb[::2, ::2].copy(), patient_id=patient_id, patient_name="Hostile^Id",
                       laterality="R"))

    out = home / "results"
    umask = lambda: os.umask(0)  # noqa: E731 - the most permissive: files must still be private
    result = run_cli(["--log-level", "INFO", "batch", str(input_dir), "--out", str(out),
                      "--workers", "2", "--quiet", "--fhir"], env, preexec_fn=umask)
    assert result.returncode == 0, result.stderr[-3000:]
    # Clinic systems without a destination configured: refused, nothing connects.
    for command in (["send", str(out)], ["worklist"],
                    ["batch", str(input_dir), "--out", str(out), "--send"]):
        refused = run_cli(["--log-level", "INFO", *command], env, preexec_fn=umask)
        assert refused.returncode == 1 and "is configured" in refused.stderr, refused.stderr
    screen_id, screen_name = SCREEN_PATIENT
    screen_report = home / "single" / "report.pdf"
    screen_report.parent.mkdir()
    result = run_cli(["--log-level", "INFO", "screen", "--right", str(photos / "Patient044_R.jpg"),
                      "--left", str(photos / "Patient044_L.jpg"), "--patient-id", screen_id,
                      "--name", screen_name, "--report", str(screen_report)], env,
                     preexec_fn=umask)
    assert result.returncode == 0, result.stderr[-3000:]
    return Run(home, input_dir, out, screen_report, network_log, env)


def test_no_network_connection_is_attempted(run: Run) -> None:
    assert run.out.joinpath("patients.csv").is_file() and run.screen_report.is_file()
    attempts = run.network_log.read_text() if run.network_log.exists() else ""
    assert attempts == "", f"network access attempted:\n{attempts}"


def test_network_guard_catches_attempts(run: Run, tmp_path: Path) -> None:
    """The control for the test above: the same guard records and refuses a connection, also
    in a worker process started the way the batch starts its workers."""
    log = tmp_path / "attempts.log"
    env = {**run.env, "NETGUARD_LOG": str(log)}
    code = textwrap.dedent("""
        import multiprocessing as mp, socket
        def connect(_):
            try:
                socket.create_connection(("127.0.0.1", 9), timeout=1)
            except PermissionError:
                return "blocked"
            return "connected"
        if __name__ == "__main__":
            with mp.get_context("forkserver").Pool(1) as pool:
                print(pool.map(connect, [0])[0], connect(0))
    """)
    script = tmp_path / "attempt.py"
    script.write_text(code)
    result = subprocess.run([sys.executable, str(script)], env=env, capture_output=True,
                            text=True, timeout=60, check=False)
    assert result.stdout.split() == ["blocked", "blocked"], result.stdout + result.stderr
    assert len({line.split()[0] for line in log.read_text().splitlines()}) == 2  # 2 processes


def test_patient_identifiers_are_not_in_log_files(run: Run) -> None:
    logs = sorted(p for p in run.log_dir.rglob("*") if p.is_file())
    assert logs, "no log file was written"
    text = "\n".join(p.read_text(encoding="utf-8", errors="replace") for p in logs)
    assert "loaded model" in text  # the logs do hold the run
    leaked = [secret for secret in SECRETS if secret.lower() in text.lower()]
    assert not leaked, f"patient identifiers in the logs: {leaked}"


def test_audit_trail_holds_no_patient_identifiers(run: Run) -> None:
    data = run.audit_db.read_bytes()
    leaked = [s for s in SECRETS if s.encode() in data or s.lower().encode() in data.lower()]
    assert not leaked, f"patient identifiers in the audit database: {leaked}"


def _report_patient_id(pdf: Path) -> str:
    from pypdf import PdfReader

    text = PdfReader(str(pdf)).pages[0].extract_text()
    match = re.search(r"Patient ID\n(.*)\n", text)
    assert match, text[:500]
    return match.group(1).strip()


def test_hostile_patient_ids_become_safe_distinct_file_names(run: Run) -> None:
    """IDs from DICOM tags such as ``../../x`` or ``CON`` write inside the output folder under
    a safe name, and IDs that sanitise alike never share (overwrite) a report file."""
    patients = {row["patient_id"]: row for row in read_csv(run.out / "patients.csv")}
    reports_dir = (run.out / "reports").resolve()
    seen: dict[str, str] = {}
    for patient_id in HOSTILE_IDS:
        row = patients[patient_id.strip()] if patient_id.strip() in patients else \
            patients[patient_id]
        report = (run.out / row["report"]).resolve()
        assert report.parent == reports_dir, (patient_id, row["report"])
        assert re.fullmatch(r"[A-Za-z0-9_][A-Za-z0-9._-]*\.pdf", report.name), report.name
        assert not re.fullmatch(r"(CON|PRN|AUX|NUL|COM\d|LPT\d)(\..*)?", report.name, re.I)
        assert report.name not in seen, f"{patient_id!r} and {seen[report.name]!r} share a file"
        seen[report.name] = patient_id
        assert _report_patient_id(report) == row["patient_id"]
    files = sorted(p.name for p in reports_dir.iterdir())
    assert len(files) == len(patients) == len({row["report"] for row in patients.values()})
    strays = [p for p in run.home.rglob("*") if p.resolve().parent != reports_dir
              and p.name in ("x", "x.pdf", "passwd", "passwd.pdf", "win", "win.pdf")]
    assert not strays, strays


def _is_private(path: Path) -> bool:
    return stat.S_IMODE(path.stat().st_mode) & 0o077 == 0


def test_output_files_and_audit_database_are_private(run: Run) -> None:
    """Created under umask 000, still readable by their owner only."""
    checkpoints = run.audit_key.parent / "audit-checkpoints"
    outputs = [run.out, *run.out.rglob("*"), run.screen_report, run.audit_db,
               run.audit_db.with_name("audit.sqlite.head"), run.audit_key, run.audit_key.parent,
               checkpoints, *checkpoints.iterdir()]
    assert len(outputs) > 20
    public = [f"{p} {stat.filemode(p.stat().st_mode)}" for p in outputs if not _is_private(p)]
    assert not public, public


# ---------------------------------------------------------------------------------------------
# The audit trail


def _tampered(run: Run, tmp_path: Path, sql: str = "", head: bool = True) -> Path:
    db = tmp_path / "audit.sqlite"
    shutil.copy2(run.audit_db, db)
    if head:
        shutil.copy2(run.audit_db.with_name("audit.sqlite.head"), tmp_path / "audit.sqlite.head")
    if sql:
        with sqlite3.connect(db) as connection:
            connection.executescript(sql)
        connection.close()
    return db


def _verify(run: Run, db: Path) -> tuple[int, str]:
    result = run_cli(["audit", "verify", "--db", str(db)], run.env, timeout=60)
    return result.returncode, result.stdout + result.stderr


def test_audit_verify_passes_an_intact_trail(run: Run, tmp_path: Path) -> None:
    code, output = _verify(run, _tampered(run, tmp_path))
    records = len(read_csv(run.out / "patients.csv")) + 1  # the batch's patients and the screen
    assert (code, output.strip()) == (0, f"Audit trail intact: {records} records verified.")


TAMPERING = {
    "edited decision": ("UPDATE records SET payload = replace(payload, 'refer', "
                        "'no_referable') WHERE id = 2;", r"record 2 was modified"),
    "edited operator": ("UPDATE records SET operator = 'someone else' WHERE id = 3;",
                        r"record 3 was modified"),
    "deleted record": ("DELETE FROM records WHERE id = 3;", r"record 3 is missing"),
    "deleted last record": ("DELETE FROM records WHERE id = (SELECT max(id) FROM records);",
                            r"records deleted from the end"),
    "emptied table": ("DELETE FROM records;", r"records deleted from the end"),
    "emptied database": ("DROP TABLE records; DROP TABLE trail;", r"emptied or replaced"),
    "reordered records": (
        "UPDATE records SET id = -2 WHERE id = 2; UPDATE records SET id = 2 WHERE id = 3; "
        "UPDATE records SET id = 3 WHERE id = -2;", r"does not follow|was modified"),
}


@pytest.mark.parametrize("tampering", sorted(TAMPERING))
def test_audit_verify_detects_tampering(run: Run, tmp_path: Path, tampering: str) -> None:
    sql, problem = TAMPERING[tampering]
    code, output = _verify(run, _tampered(run, tmp_path, sql))
    assert code == 1, output
    assert "AUDIT TRAIL FAILED VERIFICATION" in output and re.search(problem, output), output


def _forge(db: Path, record_id: int, digest) -> None:  # noqa: ANN001 - a hash function
    """Edit a record's decision and recompute its hash and every later one, as a forger with
    write access to the database would, then rewrite the head file to match."""
    with sqlite3.connect(db) as connection:
        rows = connection.execute("SELECT id, time, kind, operator, patient_ref, payload, "
                                  "prev_hash, hash FROM records ORDER BY id").fetchall()
        prev = rows[record_id - 2][7]
        for row in rows[record_id - 1:]:
            payload = row[5].replace("refer", "no_referable") if row[0] == record_id else row[5]
            new = digest(prev, row[0], row[1], row[2], row[3], row[4], payload)
            connection.execute("UPDATE records SET payload = ?, prev_hash = ?, hash = ? "
                               "WHERE id = ?", (payload, prev, new, row[0]))
            prev = new
    connection.close()
    db.with_name(db.name + ".head").write_text(f"{len(rows)} {prev}\n")


def test_audit_verify_detects_an_edit_rehashed_forward(run: Run, tmp_path: Path) -> None:
    """A forger who edits a record and re-chains every later record (with the published
    unkeyed SHA-256 chain, or with an HMAC under a key of their own) and rewrites the head file
    is caught: without the installation's key no record hash can be recomputed."""
    import hashlib
    import hmac
    import json

    def unkeyed(prev, *content):  # noqa: ANN001, ANN002, ANN202 - the old chain
        text = json.dumps(list(content), ensure_ascii=False, separators=(",", ":"))
        return hashlib.sha256((prev + text).encode()).hexdigest()

    def other_key(prev, *content):  # noqa: ANN001, ANN002, ANN202
        text = json.dumps([prev, *content], ensure_ascii=False, separators=(",", ":"))
        return hmac.new(b"guessed key", text.encode(), hashlib.sha256).hexdigest()

    for name, digest in (("unkeyed", unkeyed), ("other-key", other_key)):
        folder = tmp_path / name
        folder.mkdir()
        db = _tampered(run, folder)
        _forge(db, 2, digest)
        code, output = _verify(run, db)
        assert code == 1 and "record 2 was modified" in output, output
        assert "record 3 was modified" in output and "head file" in output, output


def test_audit_verify_detects_a_deleted_last_record_with_a_matching_head(
        run: Run, tmp_path: Path) -> None:
    """The last record deleted and the head file rewritten for the previous record (or
    removed): the checkpoint kept beside the key still says how many records were written."""
    db = _tampered(run, tmp_path, "DELETE FROM records WHERE id = (SELECT max(id) FROM records);")
    with sqlite3.connect(db) as connection:
        count, last = connection.execute("SELECT count(*), (SELECT hash FROM records ORDER BY "
                                          "id DESC LIMIT 1) FROM records").fetchone()
    connection.close()
    head = db.with_name(db.name + ".head")
    head.write_text(f"{count} {last}\n")
    code, output = _verify(run, db)
    assert code == 1 and "records deleted from the end" in output, output
    head.unlink()
    code, output = _verify(run, db)
    assert code == 1 and "records deleted from the end" in output, output


def test_patient_reference_is_keyed_and_not_reversible_by_brute_force(run: Run) -> None:
    """The pseudonym is an HMAC under the installation's secret: trying every ID with the
    unkeyed formula (all 10^7 MRNs took 11 s) finds nothing."""
    import hashlib

    from retina_screen.audit import load_key, patient_ref

    with sqlite3.connect(run.audit_db) as connection:
        refs = {r for (r,) in connection.execute("SELECT patient_ref FROM records")}
    connection.close()
    screen_id = SCREEN_PATIENT[0]
    candidates = [screen_id, DICOM_PATIENT[0], "OKAFOR Chidi 5550123"]
    for candidate in candidates:
        for text in (candidate, f"retina-screen:{candidate}"):
            unkeyed = hashlib.sha256(text.encode()).hexdigest()
            assert not any(unkeyed.startswith(ref) for ref in refs), candidate
    key = load_key(run.audit_key, create=False)
    assert patient_ref(screen_id, key) in refs
    assert patient_ref(screen_id, b"\0" * 32) not in refs
    # The key is owner-only and kept outside the database and its folder.
    assert _is_private(run.audit_key)
    assert run.audit_key.read_bytes().strip() not in run.audit_db.read_bytes()
    assert run.audit_key.parent != run.audit_db.parent


def test_named_photographs_are_screened(run: Run) -> None:
    """The identifiers above went through real screening (not only error paths)."""
    rows = {r["path"]: r for r in read_csv(run.out / "results.csv")}
    assert rows["OKAFOR Chidi 5550123_R.jpg"]["status"] == "ok"
    assert rows["IMG0001.dcm"]["status"] == "ok"
    assert rows["IMG0001.dcm"]["patient_id"] == DICOM_PATIENT[0]
    assert rows["IMG0002.dcm"]["status"] == "error"
