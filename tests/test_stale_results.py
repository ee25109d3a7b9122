"""Issue 13, section 2: no stale results. Photographs are known by content, another input folder
needs the operator's word, errors are retried, watch mode waits for content to settle, and
``retina-screen report`` rebuilds the recorded decision (never a rescreen), with an audit record
and a file name of its own. All on real photographs."""

from __future__ import annotations

import csv
import hashlib
import io
import json
import logging
import os
import shutil
import sqlite3
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest

from retina_screen.batch import StabilityTracker, run_batch, watch_folder
from retina_screen.errors import OtherInputFolderError, OutputError

ROOT = Path(__file__).resolve().parents[1]
NO_DR = "Patient006"  # both eyes ICDR 0: "no referable DR"
REFERABLE = "Patient145"  # both eyes ICDR 4: refer


def copy_patient(srahim: Path, patient: str, folder: Path, name: str | None = None) -> None:
    folder.mkdir(parents=True, exist_ok=True)
    for eye in "RL":
        shutil.copy(srahim / f"images/{patient}_{eye}.jpg", folder / f"{name or patient}_{eye}.jpg")


def rows(path: Path) -> list[dict[str, str]]:
    with open(path, newline="", encoding="utf-8") as handle:
        return list(csv.DictReader(handle))


def outcomes(out: Path) -> dict[str, str]:
    return {p["patient_id"]: p["outcome"] for p in rows(out / "patients.csv")}


def sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def assert_hashes_match_files(out: Path, folder: Path) -> None:
    for row in rows(out / "results.csv"):
        assert row["sha256"] == sha256(folder / row["path"]), row["path"]


def cli(*args: str, home: Path) -> subprocess.CompletedProcess:
    env = {**os.environ, "XDG_DATA_HOME": str(home / "data"),
           "XDG_CONFIG_HOME": str(home / "config")}
    return subprocess.run([sys.executable, "-m", "retina_screen", *args], capture_output=True,
                          text=True, cwd=ROOT, env=env, timeout=300)


def test_retake_under_the_same_name_is_screened_again(srahim: Path, isolated_settings,
                                                      tmp_path: Path) -> None:
    folder, out = tmp_path / "camera", tmp_path / "out"
    copy_patient(srahim, NO_DR, folder)
    run_batch(folder, out, isolated_settings, workers=1, reports=False)
    assert outcomes(out) == {NO_DR: "no_referable"}
    # The retake: another photograph written under the same name.
    shutil.copy(srahim / f"images/{REFERABLE}_R.jpg", folder / f"{NO_DR}_R.jpg")
    summary = run_batch(folder, out, isolated_settings, workers=1, reports=False)
    assert summary.resumed == 0
    assert outcomes(out)[NO_DR] in ("refer", "refer_urgent")
    assert_hashes_match_files(out, folder)


def test_copy_with_an_older_time_is_screened_again(srahim: Path, isolated_settings,
                                                   tmp_path: Path) -> None:
    folder, out = tmp_path / "camera", tmp_path / "out"
    copy_patient(srahim, NO_DR, folder)
    run_batch(folder, out, isolated_settings, workers=1, reports=False)
    old = (folder / f"{NO_DR}_L.jpg").stat()
    # A copy that keeps an older modification time (cp -p, a restore from backup).
    shutil.copy2(srahim / f"images/{REFERABLE}_L.jpg", folder / f"{NO_DR}_L.jpg")
    os.utime(folder / f"{NO_DR}_L.jpg", ns=(old.st_atime_ns, old.st_mtime_ns - 10**9))
    run_batch(folder, out, isolated_settings, workers=1, reports=False)
    assert outcomes(out)[NO_DR] in ("refer", "refer_urgent")
    assert_hashes_match_files(out, folder)


def _same_size_jpeg(source: Path, size: int) -> bytes:
    """``source`` re-encoded as a JPEG of exactly ``size`` bytes (comment segments fill the
    difference), so that it can stand in for another photograph of that size."""
    from PIL import Image

    with Image.open(source) as image:
        for quality in (95, 90, 85, 80, 75, 70):
            buffer = io.BytesIO()
            image.save(buffer, "JPEG", quality=quality)
            data = buffer.getvalue()
            if len(data) + 4 <= size:
                break
    padding = size - len(data)
    segments = b""
    while padding:
        chunk = min(padding, 65535 + 2)
        if padding - chunk in (1, 2, 3):  # a segment is at least 4 bytes: leave room for one
            chunk -= 4
        segments += b"\xff\xfe" + (chunk - 2).to_bytes(2, "big") + b" " * (chunk - 4)
        padding -= chunk
    out = data[:2] + segments + data[2:]
    assert len(out) == size
    return out


def test_an_edit_that_keeps_size_and_time_is_screened_again(srahim: Path, isolated_settings,
                                                            tmp_path: Path) -> None:
    """Another photograph written over one in place with the same size, and its modification
    time set back (``touch -r``, or a tool that keeps it): size and time are the same as when
    it was screened, but the file's change time is not, so its sha256 is looked at again and
    the visit is screened again (before, the old "no referable DR" stood)."""
    folder, out = tmp_path / "camera", tmp_path / "out"
    copy_patient(srahim, NO_DR, folder)
    run_batch(folder, out, isolated_settings, workers=1, reports=False)
    assert outcomes(out) == {NO_DR: "no_referable"}
    photo = folder / f"{NO_DR}_L.jpg"
    old = photo.stat()
    data = _same_size_jpeg(srahim / f"images/{REFERABLE}_L.jpg", old.st_size)
    with open(photo, "r+b") as handle:  # in place: the same file, the same size
        handle.write(data)
    os.utime(photo, ns=(old.st_atime_ns, old.st_mtime_ns))
    now = photo.stat()
    assert (now.st_size, now.st_mtime_ns) == (old.st_size, old.st_mtime_ns)
    summary = run_batch(folder, out, isolated_settings, workers=1, reports=False)
    assert summary.resumed == 0
    assert outcomes(out)[NO_DR] in ("refer", "refer_urgent")
    assert_hashes_match_files(out, folder)


def test_a_photograph_moved_away_keeps_the_recorded_referral(srahim: Path, isolated_settings,
                                                             tmp_path: Path) -> None:
    """A visit's referable photograph moved out of the export folder (archived, or sent to a
    grader): before 2026-12-02 the next run decided the visit again on the photographs left and
    turned its recorded referral into "no referable DR", overwriting the report, without a
    word. Now a referred visit's photograph that has gone is no reason to decide again, and
    when the visit is decided again (a photograph added), its recorded result still counts."""
    folder, out = tmp_path / "camera", tmp_path / "out"
    folder.mkdir()
    shutil.copy(srahim / f"images/{REFERABLE}_R.jpg", folder / "P9_R.jpg")
    shutil.copy(srahim / f"images/{NO_DR}_R.jpg", folder / "P9_R_2.jpg")
    shutil.copy(srahim / f"images/{NO_DR}_L.jpg", folder / "P9_L.jpg")
    run_batch(folder, out, isolated_settings, workers=1, reports=False)
    assert outcomes(out)["P9"] in ("refer", "refer_urgent")
    shutil.move(folder / "P9_R.jpg", tmp_path / "to_the_grader.jpg")
    summary = run_batch(folder, out, isolated_settings, workers=1, reports=False)
    assert summary.resumed == 2 and not summary.referrals_withdrawn
    assert outcomes(out)["P9"] in ("refer", "refer_urgent")
    # A photograph added later decides the visit again: the one that has gone still counts.
    shutil.copy(srahim / f"images/{NO_DR}_L.jpg", folder / "P9_L_2.jpg")
    summary = run_batch(folder, out, isolated_settings, workers=1, reports=False)
    assert summary.resumed == 0 and not summary.referrals_withdrawn
    assert outcomes(out)["P9"] in ("refer", "refer_urgent")
    assert {r["path"] for r in rows(out / "results.csv")} == {
        "P9_R.jpg", "P9_R_2.jpg", "P9_L.jpg", "P9_L_2.jpg"}


def test_a_photograph_removed_no_longer_counts_for_a_visit_not_referred(
        srahim: Path, isolated_settings, tmp_path: Path) -> None:
    """The other way round: another patient's photograph filed under this one by mistake and
    then removed must not keep supporting "no referable DR" for an eye never photographed."""
    folder, out = tmp_path / "camera", tmp_path / "out"
    folder.mkdir()
    shutil.copy(srahim / "images/Patient008_R.jpg", folder / "P1_R.jpg")  # not P1's
    shutil.copy(srahim / f"images/{NO_DR}_L.jpg", folder / "P1_L.jpg")
    run_batch(folder, out, isolated_settings, workers=1, reports=False)
    assert outcomes(out)["P1"] == "no_referable"
    (folder / "P1_R.jpg").unlink()
    summary = run_batch(folder, out, isolated_settings, workers=1, reports=False)
    assert summary.resumed == 0
    assert outcomes(out)["P1"] == "insufficient"
    assert {r["path"] for r in rows(out / "results.csv")} == {"P1_L.jpg"}


def test_a_retake_that_withdraws_a_referral_is_named(srahim: Path, isolated_settings,
                                                     tmp_path: Path) -> None:
    """A retake under the same name decides the visit again, and may rightly no longer refer;
    the run names such visits so that a withdrawn referral is looked at, not missed."""
    folder, out = tmp_path / "camera", tmp_path / "out"
    folder.mkdir()
    shutil.copy(srahim / f"images/{REFERABLE}_R.jpg", folder / "P9_R.jpg")
    shutil.copy(srahim / f"images/{NO_DR}_L.jpg", folder / "P9_L.jpg")
    first = run_batch(folder, out, isolated_settings, workers=1, reports=False)
    assert outcomes(out)["P9"] in ("refer", "refer_urgent") and not first.referrals_withdrawn
    shutil.copy(srahim / f"images/{NO_DR}_R.jpg", folder / "P9_R.jpg")
    done = cli("--audit-db", str(isolated_settings.audit_db), "batch", str(folder), "--out",
               str(out), "--workers", "1", home=tmp_path)  # the batch's own trail
    assert done.returncode == 0, done.stderr
    assert outcomes(out)["P9"] == "no_referable"
    assert "1 patient visits referred by an earlier run" in done.stdout
    assert "no longer refer: P9." in done.stdout, done.stdout
    summary = run_batch(folder, out, isolated_settings, workers=1, reports=False)
    assert summary.resumed == 2 and not summary.referrals_withdrawn  # nothing decided again


def test_same_content_with_a_new_time_is_not_screened_again(srahim: Path, isolated_settings,
                                                            tmp_path: Path) -> None:
    folder, out = tmp_path / "camera", tmp_path / "out"
    copy_patient(srahim, NO_DR, folder)
    run_batch(folder, out, isolated_settings, workers=1, reports=False)
    before = (out / "results.jsonl").read_bytes()
    for photo in folder.iterdir():  # touched or copied again: same bytes
        shutil.copy(srahim / f"images/{photo.name}", photo)
        os.utime(photo, ns=(time.time_ns(), time.time_ns() + 5 * 10**9))
    summary = run_batch(folder, out, isolated_settings, workers=1, reports=False)
    assert summary.resumed == 2
    assert (out / "results.jsonl").read_bytes() == before


def test_another_input_folder_is_refused_unless_continued(srahim: Path, isolated_settings,
                                                          tmp_path: Path) -> None:
    day1, day2, out = tmp_path / "2026-11-28", tmp_path / "2026-11-29", tmp_path / "out"
    copy_patient(srahim, NO_DR, day1)
    copy_patient(srahim, REFERABLE, day2, name=NO_DR)  # same names, another day's photographs
    run_batch(day1, out, isolated_settings, workers=1, reports=False)
    before = {p.name: p.read_bytes() for p in out.iterdir() if p.is_file()}
    with pytest.raises(OtherInputFolderError, match="another input folder"):
        run_batch(day2, out, isolated_settings, workers=1, reports=False)
    assert {p.name: p.read_bytes() for p in out.iterdir() if p.is_file()} == before
    run_batch(day2, out, isolated_settings, workers=1, reports=False, allow_other_input=True)
    visits = {(p["visit"], p["outcome"]) for p in rows(out / "patients.csv")}
    assert ("2026-11-28", "no_referable") in visits
    assert any(v == "2026-11-29" and o in ("refer", "refer_urgent") for v, o in visits)
    assert len(rows(out / "results.csv")) == 4  # yesterday's rows are kept


def test_cli_refuses_another_input_folder_without_continue(srahim: Path,
                                                           tmp_path: Path) -> None:
    day1, day2, out = tmp_path / "a", tmp_path / "b", tmp_path / "out"
    copy_patient(srahim, NO_DR, day1)
    copy_patient(srahim, REFERABLE, day2)
    first = cli("batch", str(day1), "--out", str(out), "--workers", "1", "--no-reports",
                home=tmp_path)
    assert first.returncode == 0, first.stderr
    refused = cli("batch", str(day2), "--out", str(out), "--workers", "1", "--no-reports",
                  home=tmp_path)
    assert refused.returncode == 1 and "another input folder" in refused.stderr
    assert "--continue" in refused.stderr and "Traceback" not in refused.stderr
    continued = cli("batch", str(day2), "--out", str(out), "--workers", "1", "--no-reports",
                    "--continue", home=tmp_path)
    assert continued.returncode == 0, continued.stderr
    assert set(outcomes(out)) == {NO_DR, REFERABLE}


def test_errors_are_retried_on_resume(srahim: Path, isolated_settings, tmp_path: Path) -> None:
    folder, out = tmp_path / "camera", tmp_path / "out"
    copy_patient(srahim, NO_DR, folder)
    photo = folder / f"{NO_DR}_R.jpg"
    whole = photo.read_bytes()
    photo.write_bytes(whole[: len(whole) // 2])  # copied half-way when the batch ran
    first = run_batch(folder, out, isolated_settings, workers=1, reports=False)
    assert [path for path, _ in first.error_files] == [photo.name]
    assert outcomes(out) == {NO_DR: "insufficient"}
    photo.write_bytes(whole)  # the copy finished
    second = run_batch(folder, out, isolated_settings, workers=1, reports=False)
    assert second.error_files == () and outcomes(out) == {NO_DR: "no_referable"}
    # An error that stays an error is retried on every new run, and still reported.
    (folder / "P9_R.jpg").write_bytes(whole[:1000])
    run_batch(folder, out, isolated_settings, workers=1, reports=False)
    third = run_batch(folder, out, isolated_settings, workers=1, reports=False)
    assert [path for path, _ in third.error_files] == ["P9_R.jpg"]
    assert third.resumed == 2


class Watching:
    """``watch_folder`` in a thread, stopped on the way out."""

    def __init__(self, folder: Path, out: Path, settings, settle_s: float) -> None:  # noqa: ANN001
        self.cancel = threading.Event()
        self.result: list = []
        self.thread = threading.Thread(target=lambda: self.result.append(watch_folder(
            folder, out, settings, interval_s=0.2, settle_s=settle_s, cancel=self.cancel,
            workers=1, reports=False)))

    def __enter__(self) -> Watching:
        self.thread.start()
        return self

    def __exit__(self, *_exc: object) -> None:
        self.cancel.set()
        self.thread.join(60)


def wait_for(condition, timeout: float = 60) -> bool:  # noqa: ANN001
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if condition():
            return True
        time.sleep(0.1)
    return False


def test_watch_waits_for_a_half_written_photo_with_an_old_time(srahim: Path, isolated_settings,
                                                               tmp_path: Path,
                                                               monkeypatch) -> None:  # noqa: ANN001
    import retina_screen.batch as batch_module

    passes: list[object] = []

    def counted(*args: object, **kwargs: object) -> object:
        passes.append(run_batch(*args, **kwargs))
        return passes[-1]

    monkeypatch.setattr(batch_module, "run_batch", counted)
    folder, out = tmp_path / "camera" / "2026-11-29", tmp_path / "out"  # one visit
    copy_patient(srahim, NO_DR, folder)
    photo = folder / f"{NO_DR}_L.jpg"
    whole = photo.read_bytes()
    old_time = time.time_ns() - 3 * 86_400 * 10**9
    photo.write_bytes(whole[:40_000])
    for written in folder.iterdir():  # the camera copies the original time first
        os.utime(written, ns=(old_time, old_time))
    with Watching(folder.parent, out, isolated_settings, settle_s=2.0):
        assert wait_for(lambda: bool(passes))  # the first pass saw the half-written photo
        photo.write_bytes(whole)  # the copy finishes, keeping the old time
        os.utime(photo, ns=(old_time, old_time))
        assert wait_for(lambda: outcomes(out) == {NO_DR: "no_referable"}), outcomes(out)
    records = [json.loads(line) for line in (out / "results.jsonl").read_text().splitlines()]
    assert not [r for r in records if r.get("status") == "error"]  # never screened half-written
    assert_hashes_match_files(out, folder.parent)


def test_stability_tracker_waits_until_size_and_content_stop_changing(
        srahim: Path, tmp_path: Path) -> None:
    from retina_screen.batch import scan_folder

    photo = tmp_path / "P1_R.jpg"
    whole = (srahim / "images/Patient006_R.jpg").read_bytes()
    photo.write_bytes(whole[:100_000])
    tracker = StabilityTracker(settle_s=0.3)
    seen = lambda: tracker.ready(scan_folder(tmp_path)[0])  # noqa: E731
    assert not seen()  # first look
    time.sleep(0.4)
    photo.write_bytes(whole[:100_000] + b"\0" * 10)  # still growing
    assert not seen()
    time.sleep(0.4)
    assert seen()  # unchanged for the settling time


def test_watch_screens_photos_with_a_future_time_and_says_so(srahim: Path, isolated_settings,
                                                             tmp_path: Path,
                                                             caplog) -> None:  # noqa: ANN001
    folder, out = tmp_path / "camera", tmp_path / "out"
    copy_patient(srahim, NO_DR, folder)
    ahead = time.time_ns() + 2 * 3600 * 10**9  # the camera's clock is two hours fast
    for photo in folder.iterdir():
        os.utime(photo, ns=(ahead, ahead))
    caplog.set_level(logging.WARNING, logger="retina_screen.batch")
    with Watching(folder, out, isolated_settings, settle_s=0.5) as watching:
        assert wait_for(lambda: (out / "patients.csv").is_file() and bool(outcomes(out)))
        time.sleep(1.5)  # several more passes (every 0.2 s), the same finding each time
    assert outcomes(out) == {NO_DR: "no_referable"}
    assert watching.result and watching.result[0].future_timestamps == 2
    # Said once in the log, not once a pass (days of passes would push out the log's history).
    said = [r for r in caplog.records if "modification time in the future" in r.getMessage()]
    assert len(said) == 1, len(said)


@pytest.fixture(scope="module")
def archived_batch(srahim: Path, tmp_path_factory) -> tuple[Path, Path]:
    """A batch with reports of a referable patient (and IDs that sanitise alike, reports off
    for them), whose photographs were then archived away."""
    home = tmp_path_factory.mktemp("archived")
    folder, out = home / "camera", home / "out"
    copy_patient(srahim, REFERABLE, folder)
    done = cli("batch", str(folder), "--out", str(out), "--workers", "1", home=home)
    assert done.returncode == 0, done.stderr
    shutil.move(folder, home / "archive")
    return home, out


def last_audit_kind(home: Path) -> tuple[int, str]:
    with sqlite3.connect(home / "data" / "retina-screen" / "audit.sqlite") as connection:
        count, = connection.execute("SELECT COUNT(*) FROM records").fetchone()
        kind, = connection.execute("SELECT kind FROM records ORDER BY id DESC LIMIT 1").fetchone()
    return count, kind


def test_report_rebuilds_the_recorded_decision_after_the_photos_are_archived(
        archived_batch: tuple[Path, Path]) -> None:
    from pypdf import PdfReader

    home, out = archived_batch
    recorded = {p["patient_id"]: p for p in rows(out / "patients.csv")}[REFERABLE]
    batch_report = (out / recorded["report"]).read_bytes()
    audit_before, _ = last_audit_kind(home)
    done = cli("report", str(out), REFERABLE, home=home)
    assert done.returncode == 0, done.stderr
    assert "REFER" in done.stdout.upper() and "insufficient" not in done.stdout.lower()
    # Written beside the batch's own report (with photographs), which stays as it was.
    pdf = out / recorded["report"].replace(".pdf", "_rebuilt.pdf")
    assert done.stdout.strip().endswith(str(pdf))
    assert (out / recorded["report"]).read_bytes() == batch_report
    text = " ".join(page.extract_text() for page in PdfReader(pdf).pages)
    assert "REFER" in text and "insufficient" not in text.lower()
    count, kind = last_audit_kind(home)
    assert count == audit_before + 1 and kind == "report"


def test_report_names_stay_unique_for_ids_that_sanitise_alike(srahim: Path,
                                                              tmp_path: Path) -> None:
    folder, out = tmp_path / "camera", tmp_path / "out"
    copy_patient(srahim, NO_DR, folder, name="a b")
    copy_patient(srahim, REFERABLE, folder, name="a_b")
    done = cli("batch", str(folder), "--out", str(out), "--workers", "1", "--no-reports",
               home=tmp_path)
    assert done.returncode == 0, done.stderr
    first = cli("report", str(out), "a b", home=tmp_path)
    second = cli("report", str(out), "a_b", home=tmp_path)
    assert first.returncode == second.returncode == 0, first.stderr + second.stderr
    paths = {line.split("Report: ")[1].strip() for line in (first.stdout + second.stdout)
             .splitlines() if line.startswith("Report: ")}
    assert len(paths) == 2 and all(Path(p).is_file() for p in paths)
    assert len(list((out / "reports").glob("*.pdf"))) == 2


def test_report_on_a_wrong_folder_is_a_clear_error(tmp_path: Path) -> None:
    missing = tmp_path / "no-such-folder"
    done = cli("report", str(missing), "P1", home=tmp_path)
    assert done.returncode == 1 and "not a batch output folder" in done.stderr
    assert "Traceback" not in done.stderr and not missing.exists()
    (tmp_path / "other").mkdir()
    done = cli("report", str(tmp_path / "other"), "P1", home=tmp_path)
    assert done.returncode == 1 and "not a batch output folder" in done.stderr
    assert list((tmp_path / "other").iterdir()) == []


def test_another_referral_table_is_refused_for_an_output_folder(srahim: Path, isolated_settings,
                                                               tmp_path: Path) -> None:
    """A clinic's own referral table (grade 2 urgent, say) used on an output folder decided by
    another: before 2026-12-02 the visits already there kept the old wording and urgency and new
    ones got the new, in one patients.csv, without a word. Now the folder is refused, as for
    another model or quality gate; the same table in another file layout is not."""
    from dataclasses import replace

    from retina_screen.decision import DEFAULT_REFERRAL_TABLE
    from retina_screen.errors import OutputError

    folder, out = tmp_path / "camera", tmp_path / "out"
    copy_patient(srahim, REFERABLE, folder)
    run_batch(folder, out, isolated_settings, workers=1, reports=False)
    table = json.loads(DEFAULT_REFERRAL_TABLE.read_text(encoding="utf-8"))
    same = tmp_path / "same.json"
    same.write_text(json.dumps(table, indent=4), encoding="utf-8")
    summary = run_batch(folder, out, replace(isolated_settings, referral_table=same),
                        workers=1, reports=False)
    assert summary.resumed == 2
    table["version"] = "local-2"
    table["grades"]["2"].update(outcome="refer_urgent", interval="to be seen within 1 week",
                                urgency="urgent")
    local = tmp_path / "local.json"
    local.write_text(json.dumps(table), encoding="utf-8")
    with pytest.raises(OutputError, match="another referral table .*local-2"):
        run_batch(folder, out, replace(isolated_settings, referral_table=local), workers=1,
                  reports=False)
    assert run_batch(folder, tmp_path / "new_out", replace(isolated_settings,
                                                           referral_table=local),
                     workers=1, reports=False).patients


def test_a_deleted_or_replaced_report_is_written_again(srahim: Path, isolated_settings,
                                                       tmp_path: Path) -> None:
    """A visit's report deleted, or replaced by another patient's (a copy made by a slip), was
    left so by every later run, with patients.csv still naming it (found 2026-12-02). A run now
    knows each report it wrote (size, times, sha256) and screens a visit again whose report is
    gone or is another file, so that the report is its own again."""
    from pypdf import PdfReader

    def text(path: Path) -> str:
        return " ".join(page.extract_text() for page in PdfReader(path).pages)

    folder, out = tmp_path / "camera", tmp_path / "out"
    copy_patient(srahim, NO_DR, folder)
    copy_patient(srahim, REFERABLE, folder)
    run_batch(folder, out, isolated_settings, workers=1)
    reports = {p["patient_id"]: out / p["report"] for p in rows(out / "patients.csv")}
    assert REFERABLE in text(reports[REFERABLE])
    reports[NO_DR].unlink()
    summary = run_batch(folder, out, isolated_settings, workers=1)
    assert summary.resumed == 2 and reports[NO_DR].is_file()
    assert NO_DR in text(reports[NO_DR])

    shutil.copy(reports[NO_DR], reports[REFERABLE])  # the wrong patient's report in its place
    summary = run_batch(folder, out, isolated_settings, workers=1)
    assert summary.resumed == 2
    assert REFERABLE in text(reports[REFERABLE]) and "REFER" in text(reports[REFERABLE])
    assert outcomes(out)[NO_DR] == "no_referable"
    assert outcomes(out)[REFERABLE] in ("refer", "refer_urgent")
    untouched = run_batch(folder, out, isolated_settings, workers=1)
    assert untouched.resumed == 4


def test_a_run_with_reports_writes_those_an_earlier_run_without_them_did_not(
        srahim: Path, isolated_settings, tmp_path: Path) -> None:
    """A first run with ``--no-reports``, then a run with reports: the second took every visit
    from the first and wrote no report, a referred patient's included, without a word (found
    2026-12-02). Now such visits are screened again so that their reports are written."""
    folder, out = tmp_path / "camera", tmp_path / "out"
    copy_patient(srahim, NO_DR, folder)
    copy_patient(srahim, REFERABLE, folder)
    run_batch(folder, out, isolated_settings, workers=1, reports=False)
    assert not list((out / "reports").glob("*.pdf"))
    summary = run_batch(folder, out, isolated_settings, workers=1)
    assert summary.resumed == 0
    written = {p["patient_id"]: p["report"] for p in rows(out / "patients.csv")}
    assert all(written.values()) and all((out / r).is_file() for r in written.values())
    assert run_batch(folder, out, isolated_settings, workers=1).resumed == 4


def test_watch_outlasts_an_input_folder_that_goes_for_a_moment(srahim: Path, isolated_settings,
                                                               tmp_path: Path) -> None:
    """A camera share that drops for a moment (the folder gone, then back) ended a day's watch
    with an error (found 2026-12-02). The watch now waits for the folder and screens what is
    in it when it is back."""
    camera, out = tmp_path / "camera", tmp_path / "out"
    copy_patient(srahim, NO_DR, camera)
    with Watching(camera, out, isolated_settings, settle_s=0.0) as watching:
        assert wait_for(lambda: (out / "patients.csv").is_file()
                        and outcomes(out) == {NO_DR: "no_referable"})
        away = tmp_path / "away"
        camera.rename(away)  # the share is gone
        time.sleep(1.0)  # several passes
        assert watching.thread.is_alive() and not watching.result
        away.rename(camera)
        copy_patient(srahim, REFERABLE, camera)
        assert wait_for(lambda: REFERABLE in outcomes(out)), outcomes(out)
        assert watching.thread.is_alive()
    assert watching.result  # it ended when cancelled, not before


def test_an_output_folder_without_its_run_file_is_still_bound(srahim: Path, isolated_settings,
                                                              tmp_path: Path) -> None:
    """An output folder's binding (model, manifest, quality gate, input folder) lived only in
    run.json: deleted, another model's results or another folder's were added without a word
    (found 2026-12-02). Without it, the results themselves give the model and gate, and the
    input folder cannot be known, so only a deliberate continue adds to the folder."""
    folder, out = tmp_path / "camera", tmp_path / "out"
    copy_patient(srahim, NO_DR, folder)
    run_batch(folder, out, isolated_settings, workers=1, reports=False)
    (out / "run.json").unlink()
    with pytest.raises(OtherInputFolderError, match="run.json is missing"):
        run_batch(folder, out, isolated_settings, workers=1, reports=False)
    summary = run_batch(folder, out, isolated_settings, workers=1, reports=False,
                        allow_other_input=True)
    assert summary.resumed == 2 and outcomes(out) == {NO_DR: "no_referable"}
    records = [json.loads(line) for line in (out / "results.jsonl").read_text().splitlines()]
    journal = out / "results.jsonl"
    journal.write_text("".join(json.dumps({**r, "model_sha256": "0" * 64}) + "\n"
                               if r.get("kind") == "image" else json.dumps(r) + "\n"
                               for r in records))
    (out / "run.json").unlink()
    with pytest.raises(OutputError, match="another model version"):
        run_batch(folder, out, isolated_settings, workers=1, reports=False,
                  allow_other_input=True)


def test_a_visit_decided_again_leaves_no_file_of_its_earlier_decision(
        srahim: Path, isolated_settings, tmp_path: Path) -> None:
    """A visit decided again (no referable DR, then a referable retake) by a run without
    reports or without --fhir kept the earlier run's "No referable DR" report and FHIR bundle
    under the patient's name beside a REFER in patients.csv (found 2026-12-02). They are
    removed; a later run with reports and --fhir writes the current ones."""
    from retina_screen.clinic.fhir_export import write_bundles

    folder, out = tmp_path / "camera", tmp_path / "out"
    copy_patient(srahim, NO_DR, folder, "P9")
    run_batch(folder, out, isolated_settings, workers=1)
    assert write_bundles(out, isolated_settings) == 1
    report, bundle = out / "reports" / "P9.pdf", out / "fhir" / "P9.json"
    assert report.is_file() and bundle.is_file()
    assert "outcome-no_referable" in bundle.read_text(encoding="utf-8")
    shutil.copy(srahim / f"images/{REFERABLE}_R.jpg", folder / "P9_R.jpg")
    run_batch(folder, out, isolated_settings, workers=1, reports=False)
    assert outcomes(out)["P9"] in ("refer", "refer_urgent")
    assert not report.exists() and not bundle.exists()
    run_batch(folder, out, isolated_settings, workers=1)
    assert write_bundles(out, isolated_settings) == 1
    assert report.is_file() and "outcome-refer" in bundle.read_text(encoding="utf-8")


def test_a_watch_checks_a_results_file_edited_while_it_runs(srahim: Path, isolated_settings,
                                                           tmp_path: Path) -> None:
    """A watch checked the results file against the audit trail on its first pass only: a
    referral edited into "no referable DR" during the day was served by its next pass
    (found 2026-12-02). A pass after anything else wrote the file checks it again."""
    folder, out = tmp_path / "camera", tmp_path / "out"
    copy_patient(srahim, REFERABLE, folder, "P9")
    run_batch(folder, out, isolated_settings, workers=1, reports=False)
    assert outcomes(out)["P9"] in ("refer", "refer_urgent")
    journal = out / "results.jsonl"

    def recorded() -> str:  # the visit's latest outcome in the results file
        return [json.loads(line)["outcome"] for line in
                journal.read_text(encoding="utf-8").splitlines()
                if '"kind": "patient"' in line][-1]

    with Watching(folder, out, isolated_settings, settle_s=0.5) as watching:
        time.sleep(1.0)  # a few passes with nothing to do
        assert recorded() in ("refer", "refer_urgent") and not watching.result
        lines = []
        for line in journal.read_text(encoding="utf-8").splitlines():
            record = json.loads(line)
            if record.get("kind") == "patient":
                record.update(outcome="no_referable", right_grade=0, left_grade=0,
                              decision="No referable diabetic retinopathy - rescreen in 12 "
                                       "months")
            lines.append(json.dumps(record))
        journal.write_text("\n".join(lines) + "\n", encoding="utf-8")
        assert recorded() == "no_referable"
        assert wait_for(lambda: recorded() in ("refer", "refer_urgent")), \
            "the edited visit was not screened again"
        assert wait_for(lambda: outcomes(out)["P9"] in ("refer", "refer_urgent")), outcomes(out)
        time.sleep(1.0)  # later passes leave it so
        assert outcomes(out)["P9"] in ("refer", "refer_urgent") and recorded() != "no_referable"


def test_an_edited_results_file_does_not_leave_the_machine(srahim: Path, isolated_settings,
                                                          tmp_path: Path) -> None:
    """``send`` and ``--fhir`` built their DICOM SR and FHIR bundles straight from the results
    file: an edited "no referable DR" for a referred patient would have gone to the PACS and
    the record system beside a REFER letter (found 2026-12-02). Only visits the audit trail
    confirms are exported."""
    from retina_screen.clinic.fhir_export import write_bundles

    folder, out = tmp_path / "camera", tmp_path / "out"
    copy_patient(srahim, REFERABLE, folder, "P9")
    copy_patient(srahim, NO_DR, folder, "P6")
    run_batch(folder, out, isolated_settings, workers=1)
    assert write_bundles(out, isolated_settings) == 2
    journal = out / "results.jsonl"
    lines = []
    for line in journal.read_text(encoding="utf-8").splitlines():
        record = json.loads(line)
        if record.get("kind") == "patient" and record["patient_id"] == "P9":
            record.update(outcome="no_referable", right_grade=0, left_grade=0)
        lines.append(json.dumps(record))
    journal.write_text("\n".join(lines) + "\n", encoding="utf-8")
    (out / "fhir" / "P9.json").unlink()
    assert write_bundles(out, isolated_settings) == 1  # P6 only
    assert not (out / "fhir" / "P9.json").exists()
