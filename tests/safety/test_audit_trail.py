"""The audit trail against someone with file access (issue 13, section 5): a replaced, older,
foreign or deleted database is detected, and an interrupted write never reads as damage.

The forgeries of the records themselves (edited, re-hashed, deleted, emptied) are tested on a
real batch's trail in ``test_privacy.py``; these tests need only the trail.
"""

from __future__ import annotations

import json
import random
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from safety_helpers import ROOT, cli_env, run_cli

from retina_screen.audit import AuditTrail, verify
from retina_screen.errors import AuditError


def _camera(srahim: Path, tmp_path: Path, patients: tuple[str, ...]) -> Path:
    """A camera folder holding both eyes' photographs of ``patients``."""
    photos = tmp_path / "camera"
    photos.mkdir()
    for patient in patients:
        for eye in "RL":
            shutil.copy(srahim / "images" / f"{patient}_{eye}.jpg", photos)
    return photos


def _trail(db: Path, key: Path, records: int, start: int = 0) -> None:
    trail = AuditTrail(db, key_path=key)
    try:
        for index in range(start, start + records):
            trail.append("patient", "op", f"ref{index}", {"outcome": "refer", "n": index})
    finally:
        trail.close()


@pytest.fixture()
def installation(tmp_path: Path) -> tuple[Path, Path]:
    """(database, key) of a trail with 4 records; the key and checkpoints in their own folder."""
    db, key = tmp_path / "data" / "audit.sqlite", tmp_path / "config" / "audit.key"
    _trail(db, key, 4)
    assert verify(db, key).ok and verify(db, key).records == 4
    return db, key


def test_an_older_copy_put_back_is_detected(installation: tuple[Path, Path],
                                            tmp_path: Path) -> None:
    db, key = installation
    shutil.copy(db, tmp_path / "old.sqlite")
    shutil.copy(db.with_name("audit.sqlite.head"), tmp_path / "old.head")
    _trail(db, key, 2, start=4)
    shutil.copy(tmp_path / "old.sqlite", db)
    shutil.copy(tmp_path / "old.head", db.with_name("audit.sqlite.head"))
    report = verify(db, key)
    assert not report.ok and report.records == 4
    assert any("6 records were written" in p for p in report.problems), report.problems


def test_a_database_from_another_installation_is_detected(installation: tuple[Path, Path],
                                                          tmp_path: Path) -> None:
    db, key = installation
    foreign_db = tmp_path / "elsewhere" / "audit.sqlite"
    _trail(foreign_db, tmp_path / "elsewhere" / "audit.key", 6)
    shutil.copy(foreign_db, db)
    shutil.copy(foreign_db.with_name("audit.sqlite.head"), db.with_name("audit.sqlite.head"))
    report = verify(db, key)
    assert not report.ok and any("another installation's audit key" in p
                                 for p in report.problems), report.problems
    with pytest.raises(AuditError, match="another installation's audit key"):
        AuditTrail(db, key_path=key)


def test_a_deleted_database_is_detected_also_after_a_new_trail_starts(
        installation: tuple[Path, Path]) -> None:
    db, key = installation
    db.unlink()
    report = verify(db, key)
    assert not report.ok and "database is missing" in report.problems[0]
    _trail(db, key, 1)  # the application starts a new trail at the same place
    report = verify(db, key)
    assert not report.ok and report.records == 1
    assert any("earlier trail here with 4 records disappeared" in p for p in report.problems)


def test_an_emptied_table_refuses_new_records(installation: tuple[Path, Path]) -> None:
    """Appending to a trail with deleted records would hide the deletion: refused."""
    import sqlite3

    db, key = installation
    with sqlite3.connect(db) as connection:
        connection.execute("DELETE FROM records")
    connection.close()
    with pytest.raises(AuditError, match="fewer records than were written"):
        _trail(db, key, 1)
    assert not verify(db, key).ok


def test_the_key_is_created_owner_only_and_a_readable_key_is_refused(
        installation: tuple[Path, Path]) -> None:
    db, key = installation
    assert key.stat().st_mode & 0o777 == 0o600 and key.parent.stat().st_mode & 0o777 == 0o700
    key.chmod(0o644)
    with pytest.raises(AuditError, match="can be read by other users"):
        verify(db, key)
    key.chmod(0o600)
    assert verify(db, key).ok


WRITER = """
import sys
from pathlib import Path
from retina_screen.audit import AuditTrail

trail = AuditTrail(Path(sys.argv[1]), key_path=Path(sys.argv[2]))
print("ready", flush=True)
index = 0
while True:
    trail.append("patient", "op", f"ref{index}", {"outcome": "refer", "n": index})
    index += 1
"""


def test_verify_reports_no_damage_after_kills_at_random_moments(tmp_path: Path) -> None:
    """SIGKILL of a process appending records as fast as it can, 15 times at random moments:
    every time, the trail verifies intact and no record is lost (before the fix, the head was
    replaced before COMMIT and 37 of 60 kills left a permanent 'records deleted')."""
    db, key = tmp_path / "data" / "audit.sqlite", tmp_path / "config" / "audit.key"
    script = tmp_path / "writer.py"
    script.write_text(WRITER)
    rng = random.Random(13)
    previous = 0
    for _ in range(15):
        writer = subprocess.Popen([sys.executable, str(script), str(db), str(key)], cwd=ROOT,
                                  stdout=subprocess.PIPE, text=True)
        try:
            assert writer.stdout is not None and writer.stdout.readline().strip() == "ready"
            time.sleep(rng.uniform(0.0, 0.25))
        finally:
            writer.send_signal(signal.SIGKILL)
            writer.wait(timeout=30)
            writer.stdout.close()
        report = verify(db, key)
        assert report.ok, report.problems
        assert report.records >= previous
        previous = report.records
    assert previous > 15  # records were being written when the kills came


def test_a_report_is_checked_against_the_trail(srahim: Path, tmp_path: Path) -> None:
    """A report is tied to the trail by its sha256: one written by `screen --report`, by a
    batch, or rebuilt by `report` is found, issued by this installation; a copy changed after
    it was written (one byte, as an edited outcome would change many) is not, and the command
    says so with exit code 1. Before 2026-12-02 nothing tied a report to its record."""
    env = cli_env(tmp_path)
    photos = _camera(srahim, tmp_path, ("Patient006", "Patient013"))
    single = tmp_path / "single.pdf"
    screened = run_cli(["screen", str(srahim / "images" / "Patient008_R.jpg"),
                        str(srahim / "images" / "Patient008_L.jpg"), "--report", str(single)],
                       env)
    assert screened.returncode == 0, screened.stderr
    out = tmp_path / "results"
    batch = run_cli(["batch", str(photos), "--out", str(out), "--quiet", "--workers", "1"], env)
    assert batch.returncode == 0, batch.stderr
    rebuilt = tmp_path / "rebuilt.pdf"
    assert run_cli(["report", str(out), "Patient013", "--pdf", str(rebuilt)], env).returncode == 0
    reports = [single, *sorted((out / "reports").glob("*.pdf")), rebuilt]
    assert len(reports) == 4

    checked = run_cli(["audit", "check-report", *map(str, reports)], env)
    assert checked.returncode == 0, checked.stdout + checked.stderr
    lines = checked.stdout.splitlines()
    assert len(lines) == 4 and all("issued by this installation, unchanged since" in line
                                   for line in lines), lines
    assert "outcome refer" in lines[2] and "(rebuilt)" in lines[3], lines

    edited = tmp_path / "edited.pdf"
    data = bytearray(reports[2].read_bytes())
    data[len(data) // 2] ^= 0x01
    edited.write_bytes(bytes(data))
    checked = run_cli(["audit", "check-report", str(reports[1]), str(edited)], env)
    assert checked.returncode == 1
    assert "NOT FOUND in this installation's audit trail" in checked.stdout.splitlines()[1]
    assert "issued by this installation" in checked.stdout.splitlines()[0]


def _forge_no_referable(journal: Path, patient: str) -> None:
    """The batch's results file edited so that ``patient``'s decision reads "no referable DR"
    (every photograph grade 0), as someone who can write the output folder could."""
    lines = []
    for line in journal.read_text(encoding="utf-8").splitlines():
        record = json.loads(line)
        if record.get("patient_id") == patient and record.get("kind") == "image":
            record.update(icdr_grade=0, p_referable=0.05, referable=False,
                          probabilities=[0.9, 0.05, 0.03, 0.01, 0.01])
        elif record.get("patient_id") == patient and record.get("kind") == "patient":
            record.update(outcome="no_referable", right_grade=0, left_grade=0)
        lines.append(json.dumps(record))
    journal.write_text("\n".join(lines) + "\n", encoding="utf-8")


def test_a_report_is_rebuilt_only_as_the_trail_recorded_it(srahim: Path, tmp_path: Path) -> None:
    """``report`` rebuilds a visit's decision from the batch's results file, which anyone who
    can write the output folder can edit. Before 2026-12-02 an edited file (a referred patient
    turned "no referable DR") gave a "rescreen in 12 months" report, recorded in the trail as
    issued, which ``check-report`` then called genuine. Now the rebuilt decision must match the
    trail's record of it (outcome, and each photograph's sha256, eye, grade, probability), or
    no report is written. ``check-report --patient`` says whose report a file is."""
    env = cli_env(tmp_path)
    photos = _camera(srahim, tmp_path, ("Patient006", "Patient013"))  # no DR; ICDR 2
    out = tmp_path / "results"
    batch = run_cli(["batch", str(photos), "--out", str(out), "--quiet", "--workers", "1"], env)
    assert batch.returncode == 0, batch.stderr
    genuine = tmp_path / "genuine.pdf"
    done = run_cli(["report", str(out), "Patient013", "--pdf", str(genuine)], env)
    assert done.returncode == 0 and "REFER" in done.stdout.upper(), done.stdout + done.stderr

    _forge_no_referable(out / "results.jsonl", "Patient013")
    forged = tmp_path / "forged.pdf"
    done = run_cli(["report", str(out), "Patient013", "--pdf", str(forged)], env)
    assert done.returncode == 1, done.stdout
    assert "differs from the audit trail's record of this decision" in done.stderr
    assert not forged.exists()

    # A decision the trail never recorded (its time changed as well) is refused too.
    journal = out / "results.jsonl"
    journal.write_text(journal.read_text(encoding="utf-8").replace(
        '"screened_at": "20', '"screened_at": "19'), encoding="utf-8")
    done = run_cli(["report", str(out), "Patient013", "--pdf", str(forged)], env)
    assert done.returncode == 1 and "not in this installation's audit trail" in done.stderr
    assert not forged.exists()

    reports = out / "reports"
    mine = run_cli(["audit", "check-report", str(genuine), str(reports / "Patient013.pdf"),
                    "--patient", "Patient013"], env)
    assert mine.returncode == 0, mine.stdout + mine.stderr
    assert mine.stdout.count("issued for patient Patient013") == 2, mine.stdout
    other = run_cli(["audit", "check-report", str(reports / "Patient006.pdf"),
                     "--patient", "Patient013"], env)
    assert other.returncode == 1
    assert "NOT patient Patient013's report" in other.stdout, other.stdout


def test_a_superseded_decision_is_named_and_never_rebuilt(srahim: Path, tmp_path: Path) -> None:
    """A visit decided again (a photograph added) replaces its earlier decision: the earlier
    report, printed or mailed, is still genuine but no longer the result, and a results file
    restored from a backup holds the earlier decision. Before 2026-12-02 ``check-report``
    called the old report genuine without more, and ``report`` rebuilt the old decision from
    the restored file. Now the first says SUPERSEDED (exit 1), the second refuses."""
    env = cli_env(tmp_path)
    photos = tmp_path / "camera"
    photos.mkdir()
    for eye in "RL":
        shutil.copy(srahim / "images" / f"Patient006_{eye}.jpg", photos)  # no DR
    out = tmp_path / "results"
    args = ["batch", str(photos), "--out", str(out), "--quiet", "--workers", "1"]
    assert run_cli(args, env).returncode == 0
    earlier = tmp_path / "earlier.pdf"
    shutil.copy(out / "reports" / "Patient006.pdf", earlier)
    backup = (out / "results.jsonl").read_bytes()
    shutil.copy(srahim / "images" / "Patient145_R.jpg", photos / "Patient006_R_2.jpg")  # ICDR 4
    assert run_cli(args, env).returncode == 0
    checked = run_cli(["audit", "check-report", str(earlier),
                       str(out / "reports" / "Patient006.pdf")], env)
    assert checked.returncode == 1
    lines = checked.stdout.splitlines()
    assert "outcome no_referable" in lines[0] and "SUPERSEDED" in lines[1], lines
    assert "outcome refer" in lines[1] and "SUPERSEDED" not in "".join(lines[2:]), lines

    (out / "results.jsonl").write_bytes(backup)  # the results of before, put back
    rebuilt = tmp_path / "rebuilt.pdf"
    done = run_cli(["report", str(out), "Patient006", "--pdf", str(rebuilt)], env)
    assert done.returncode == 1 and "a later decision of this visit" in done.stderr, done.stderr
    assert not rebuilt.exists()


def test_an_edited_results_file_is_not_served_by_the_next_batch(srahim: Path,
                                                                tmp_path: Path) -> None:
    """The batch took its earlier visits from results.jsonl as they were: an edit turning a
    referred patient into "no referable DR" was served in patients.csv by every later run,
    while the photographs and the trail said otherwise (found 2026-12-02). A run now checks
    the visits it takes from the file against the trail's record of them and screens again
    those that differ."""
    import csv

    env = cli_env(tmp_path)
    photos = _camera(srahim, tmp_path, ("Patient006", "Patient013"))
    out = tmp_path / "results"
    args = ["batch", str(photos), "--out", str(out), "--workers", "1", "--no-reports"]

    def outcomes() -> dict[str, str]:
        with open(out / "patients.csv", newline="", encoding="utf-8") as handle:
            return {row["patient_id"]: row["outcome"] for row in csv.DictReader(handle)}

    assert run_cli(args, env).returncode == 0
    assert outcomes()["Patient013"].startswith("refer")
    _forge_no_referable(out / "results.jsonl", "Patient013")
    again = run_cli(args, env)
    assert again.returncode == 0, again.stderr
    assert "differ from this installation's audit trail" in again.stdout
    assert "trail (the file edited, or from another installation): Patient013." in again.stdout
    assert outcomes()["Patient013"].startswith("refer")
    last = run_cli(args, env)
    assert "4 from an earlier run" in last.stdout and "audit trail" not in last.stdout


def _patients_csv(out: Path) -> dict[str, dict[str, str]]:
    import csv

    with open(out / "patients.csv", newline="", encoding="utf-8") as handle:
        return {row["patient_id"]: row for row in csv.DictReader(handle)}


def _edit_visit(journal: Path, patient: str, **fields: object) -> None:
    """``patient``'s visit record in the results file with ``fields`` changed."""
    lines = []
    for line in journal.read_text(encoding="utf-8").splitlines():
        record = json.loads(line)
        if record.get("patient_id") == patient and record.get("kind") == "patient":
            record.update(fields)
        lines.append(json.dumps(record))
    journal.write_text("\n".join(lines) + "\n", encoding="utf-8")


def test_a_results_file_the_trail_cannot_confirm_is_not_served(srahim: Path,
                                                               tmp_path: Path) -> None:
    """Ways an edited results file was still served after the check above (found 2026-12-02):
    a referral's words edited with its outcome kept ("No referable DR - rescreen in 12
    months" on a refer row); a run where the audit trail cannot vouch (moved away, another
    installation), which took the file as it was; and a visit whose photographs have left
    the input folder, which was never checked. Now every visit taken from the file must be
    confirmed by the trail, wording included: one that is not is screened again, or left out
    of the tables (with a warning) where its photographs are gone."""
    env = cli_env(tmp_path)
    photos = _camera(srahim, tmp_path, ("Patient006", "Patient013"))
    out = tmp_path / "results"
    args = ["batch", str(photos), "--out", str(out), "--workers", "1", "--no-reports"]
    assert run_cli(args, env).returncode == 0
    referral = _patients_csv(out)["Patient013"]
    assert referral["outcome"].startswith("refer")

    _edit_visit(out / "results.jsonl", "Patient013", urgency="none",
                decision="No referable diabetic retinopathy - rescreen in 12 months",
                interval="rescreen in 12 months")
    again = run_cli(args, env)
    assert again.returncode == 0, again.stderr
    assert "audit trail (the file edited, or from another installation): Patient013." \
        in again.stdout, again.stdout
    assert _patients_csv(out)["Patient013"]["decision"] == referral["decision"]

    # The trail moved away: it confirms nothing, so nothing is taken from the file.
    _forge_no_referable(out / "results.jsonl", "Patient013")
    trail = next((tmp_path / "xdg-data").rglob("audit.sqlite"))
    trail.rename(tmp_path / "audit.sqlite.moved")
    lost = run_cli(args, env)
    assert lost.returncode == 0, lost.stderr
    assert "Patient006, Patient013. They were screened again." in lost.stdout, lost.stdout
    assert _patients_csv(out)["Patient013"]["outcome"].startswith("refer")

    # Photographs gone (archived) and the file edited: left out, said, kept in the journal.
    env = cli_env(tmp_path / "second")
    out = tmp_path / "second" / "results"
    args = ["batch", str(photos), "--out", str(out), "--workers", "1", "--no-reports"]
    assert run_cli(args, env).returncode == 0
    archive = tmp_path / "archive"
    archive.mkdir()
    for eye in "RL":
        (photos / f"Patient013_{eye}.jpg").rename(archive / f"Patient013_{eye}.jpg")
    assert run_cli(args, env).returncode == 0
    assert _patients_csv(out)["Patient013"]["outcome"].startswith("refer")  # archived, kept
    _forge_no_referable(out / "results.jsonl", "Patient013")
    archived = run_cli(args, env)
    assert archived.returncode == 0, archived.stderr
    assert "Patient013" not in _patients_csv(out)
    assert ("no longer in the input folder are not confirmed by this installation's audit "
            "trail") in archived.stdout and "Patient013. They were left out" in archived.stdout
    assert '"patient_id": "Patient013"' in (out / "results.jsonl").read_text(encoding="utf-8")


def test_a_results_folder_put_back_from_a_backup_is_not_served(srahim: Path,
                                                              tmp_path: Path) -> None:
    """A backup of the output folder put back after a visit was referred (a further,
    referable photograph screened, then moved on to a grader): the batch served the backup's
    "no referable DR", which the trail had replaced, without a word. The visit is now screened
    again, and that its referral is withdrawn is said."""
    env = cli_env(tmp_path)
    photos = _camera(srahim, tmp_path, ("Patient006",))
    out = tmp_path / "results"
    args = ["batch", str(photos), "--out", str(out), "--workers", "1", "--no-reports"]
    assert run_cli(args, env).returncode == 0
    assert _patients_csv(out)["Patient006"]["outcome"] == "no_referable"
    backup = tmp_path / "backup"
    shutil.copytree(out, backup)
    further = photos / "Patient006_OD_2.jpg"
    shutil.copy(srahim / "images" / "Patient013_R.jpg", further)
    assert run_cli(args, env).returncode == 0
    assert _patients_csv(out)["Patient006"]["outcome"].startswith("refer")
    further.rename(tmp_path / "to_the_grader.jpg")
    shutil.rmtree(out)
    shutil.copytree(backup, out)
    restored = run_cli(args, env)
    assert restored.returncode == 0, restored.stderr
    assert "differ from this installation's audit trail" in restored.stdout, restored.stdout
    assert ("referred by an earlier run were decided again (a photograph added, changed or "
            "retaken) and no longer refer: Patient006.") in restored.stdout, restored.stdout


def test_a_look_at_one_photograph_does_not_supersede_the_batchs_decision(
        srahim: Path, tmp_path: Path) -> None:
    """A same-day ``screen`` of one of a referred patient's photographs (a partial look) was
    taken for the visit's new decision: ``check-report`` called the batch's referral letter
    "SUPERSEDED" and ``report`` refused to rebuild it, as if a backup had been put back
    (found 2026-12-02). Decisions now supersede those of their own output folder."""
    env = cli_env(tmp_path)
    photos = _camera(srahim, tmp_path, ("Patient013",))
    out = tmp_path / "results"
    assert run_cli(["batch", str(photos), "--out", str(out), "--workers", "1"],
                   env).returncode == 0
    letter = out / "reports" / "Patient013.pdf"
    assert letter.is_file()
    look = run_cli(["screen", str(photos / "Patient013_R.jpg")], env)
    assert look.returncode == 0, look.stderr
    checked = run_cli(["audit", "check-report", str(letter)], env)
    assert checked.returncode == 0 and "SUPERSEDED" not in checked.stdout, checked.stdout
    rebuilt = tmp_path / "rebuilt.pdf"
    done = run_cli(["report", str(out), "Patient013", "--pdf", str(rebuilt)], env)
    assert done.returncode == 0, done.stderr
    assert rebuilt.read_bytes().startswith(b"%PDF")


def test_an_earlier_patients_photograph_under_a_new_name_never_reads_no_referable_dr(
        srahim: Path, tmp_path: Path) -> None:
    """A photograph screened last week for one patient, exported again under another
    patient's name into today's folder (another output folder): today's patient read "no
    referable DR" without a word, though the audit trail held that exact content for the
    other patient (found 2026-12-02). The later patient's visit now reads "images
    insufficient" with a note and a warning; the earlier patient's is left as it was."""
    env = cli_env(tmp_path)
    images = srahim / "images"
    last_week, today = tmp_path / "last_week", tmp_path / "today"
    last_week.mkdir()
    today.mkdir()
    for eye in "RL":
        shutil.copy(images / f"Patient006_{eye}.jpg", last_week)
    shutil.copy(images / "Patient006_R.jpg", today / "Patient099_R.jpg")
    shutil.copy(images / "Patient016_L.jpg", today / "Patient099_L.jpg")
    first = ["batch", str(last_week), "--out", str(tmp_path / "o1"), "--workers", "1",
             "--no-reports"]
    assert run_cli(first, env).returncode == 0
    assert _patients_csv(tmp_path / "o1")["Patient006"]["outcome"] == "no_referable"
    second = ["batch", str(today), "--out", str(tmp_path / "o2"), "--workers", "1",
              "--no-reports"]
    done = run_cli(second, env)
    assert done.returncode == 0, done.stderr
    row = _patients_csv(tmp_path / "o2")["Patient099"]
    assert row["outcome"] == "insufficient", row
    assert "screened before for another patient" in row["notes"], row["notes"]
    assert ("1 patients have a photograph that this installation screened before for another "
            "patient") in done.stdout and ": Patient099." in done.stdout, done.stdout
    for args, patient, outcome in ((first, "Patient006", "no_referable"),
                                   (second, "Patient099", "insufficient")):
        again = run_cli(args, env)  # each folder as it was, nothing decided again
        assert again.returncode == 0 and "from an earlier run" in again.stdout, again.stderr
        assert "decided again" not in again.stderr
        out = Path(args[3])
        assert _patients_csv(out)[patient]["outcome"] == outcome


def test_a_patient_screened_under_a_typed_id_is_not_marked_by_the_nights_batch(
        srahim: Path, tmp_path: Path) -> None:
    """The window and ``screen`` take a typed patient ID (a record number, "SR-006") where the
    camera's file names give another ("Patient006"): the night's batch of the camera folder
    must not take every patient screened by day for another patient's photographs."""
    env = cli_env(tmp_path)
    photos = _camera(srahim, tmp_path, ("Patient006",))
    by_day = run_cli(["screen", "--patient-id", "SR-006", str(photos / "Patient006_R.jpg"),
                      str(photos / "Patient006_L.jpg")], env)
    assert by_day.returncode == 0, by_day.stderr
    night = run_cli(["batch", str(photos), "--out", str(tmp_path / "o"), "--workers", "1",
                     "--no-reports"], env)
    assert night.returncode == 0, night.stderr
    row = _patients_csv(tmp_path / "o")["Patient006"]
    assert row["outcome"] == "no_referable" and "screened before" not in row["notes"], row


def test_a_referral_deleted_from_the_results_file_is_said(srahim: Path, tmp_path: Path) -> None:
    """A referred visit whose photographs were archived, its lines then deleted from
    results.jsonl: the referral vanished from patients.csv without a word, though the audit
    trail holds it for this output folder (found 2026-12-02). The run now says how many of
    the folder's referrals its results file has lost."""
    env = cli_env(tmp_path)
    photos = _camera(srahim, tmp_path, ("Patient006", "Patient013"))
    out = tmp_path / "results"
    args = ["batch", str(photos), "--out", str(out), "--workers", "1", "--no-reports"]
    assert run_cli(args, env).returncode == 0
    assert _patients_csv(out)["Patient013"]["outcome"].startswith("refer")
    for eye in "RL":
        (photos / f"Patient013_{eye}.jpg").unlink()  # archived
    journal = out / "results.jsonl"
    journal.write_text("".join(line + "\n" for line in journal.read_text(
        encoding="utf-8").splitlines() if '"Patient013"' not in line), encoding="utf-8")
    done = run_cli(args, env)
    assert done.returncode == 0, done.stderr
    assert "Patient013" not in _patients_csv(out)
    assert ("Warning: 1 referrals this output folder made, by this installation's audit "
            "trail, are missing from its results file") in done.stdout, done.stdout
    assert "referrals this output folder made" not in run_cli(
        ["batch", str(photos), "--out", str(tmp_path / "elsewhere"), "--workers", "1",
         "--no-reports"], env).stdout  # another output folder's own referrals only


def test_a_decision_replaced_within_the_same_second_is_superseded(installation: tuple[Path, Path],
                                                                  tmp_path: Path) -> None:
    """Two decisions of one visit can be made within one second (a fast machine, a photograph
    added at once): the later one still supersedes the earlier one's report (CI found
    check-report calling such a report current when the decisions were told apart by time)."""
    from retina_screen.audit import check_reports, report_sha256

    db, key = installation
    earlier, later = tmp_path / "earlier.pdf", tmp_path / "later.pdf"
    earlier.write_bytes(b"%PDF-1.4 earlier")
    later.write_bytes(b"%PDF-1.4 later")
    trail = AuditTrail(db, key_path=key)
    try:
        for outcome, report in (("no_referable", earlier), ("refer", later)):
            trail.append("patient", "op", "ref-p1", {
                "outcome": outcome, "screened_at": "2026-12-02T12:06:09", "visit": "2026-12-02",
                "images": [], "report_sha256": report_sha256(report)})
    finally:
        trail.close()
    verified, checks = check_reports(db, [earlier, later], key)
    assert verified.ok
    assert checks[0].records[0].superseded_by.endswith("outcome refer")
    assert checks[1].records[0].superseded_by == ""
