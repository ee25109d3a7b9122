"""The trust anchor (issue 13, section 3): a swapped model or an edited manifest is refused, and
a model accepted through ``allow_unverified_model`` is flagged on every result, report and
audit record; the threshold and manifest hash are recorded with every result."""

from __future__ import annotations

import csv
import hashlib
import json
import os
import shutil
import sqlite3
import subprocess
import sys
from pathlib import Path

import pytest

from retina_screen.errors import ModelError
from retina_screen.inference import GradingModel, sha256_of
from retina_screen.settings import RESOURCE_ROOT, Settings, load_settings
from retina_screen.trust import ANCHOR_PATH, check_anchor, find_trusted, load_anchor, write_anchor

ROOT = Path(__file__).resolve().parents[1]
MODELS = RESOURCE_ROOT / "models"
REFER_PATIENT = "Patient013"  # both eyes referable (ophthalmologist-graded)


def _copy_models(folder: Path) -> Path:
    """The shipped manifest and the files it names, copied to ``folder``."""
    manifest = Settings().model
    raw = json.loads(manifest.read_text(encoding="utf-8"))
    folder.mkdir(parents=True, exist_ok=True)
    names = [manifest.name, raw["file"]] + ([raw["gate"]["file"]] if "gate" in raw else [])
    for name in names:
        shutil.copy(manifest.parent / name, folder / name)
    return folder / manifest.name


def _edit_manifest(manifest: Path, change) -> None:  # noqa: ANN001 - a function of the dict
    raw = json.loads(manifest.read_text(encoding="utf-8"))
    change(raw)
    manifest.write_text(json.dumps(raw, indent=2), encoding="utf-8")


def _swap_model(manifest: Path) -> None:
    """Another ONNX file (the shipped one with an extra doc string, so it still loads and has
    the same inputs and outputs) with its sha256 written into the manifest, as an adversary
    would do."""
    raw = json.loads(manifest.read_text(encoding="utf-8"))
    onnx = manifest.parent / raw["file"]
    doc = b"swapped model"
    onnx.write_bytes(onnx.read_bytes() + bytes([0x32, len(doc)]) + doc)  # ModelProto.doc_string
    _edit_manifest(manifest, lambda m: m.update(sha256=sha256_of(onnx)))


# ---------------------------------------------------------------------------------------------
# The anchor itself


def test_shipped_models_match_the_trust_anchor() -> None:
    """Fails when a shipped model or manifest changed without regenerating the anchor:
    python -m retina_screen.trust --write-anchor models/<name>.json"""
    assert check_anchor() == []
    model = GradingModel(Settings().model, threads=1, allow_unverified=False)
    assert model.manifest.verified and model.info.verified
    assert model.info.manifest_sha256 == hashlib.sha256(Settings().model.read_bytes()).hexdigest()


def test_the_frozen_bundle_carries_the_anchor() -> None:
    sys.path.insert(0, str(ROOT / "packaging"))
    try:
        import freeze_config
    finally:
        sys.path.remove(str(ROOT / "packaging"))
    sources = {Path(source).resolve() for source, _ in freeze_config.resource_datas()}
    assert ANCHOR_PATH.resolve() in sources


def test_write_anchor_trusts_exactly_the_given_manifest(tmp_path: Path) -> None:
    manifest = _copy_models(tmp_path / "models")
    _edit_manifest(manifest, lambda m: m["thresholds"].update(referable=0.5))
    anchor = tmp_path / "trusted_models.json"
    write_anchor(manifest, anchor=anchor)
    (entry,) = load_anchor(anchor)
    assert entry.manifest_sha256 == sha256_of(manifest)
    raw = json.loads(manifest.read_text())
    assert find_trusted(entry.manifest_sha256, raw["sha256"],
                        raw.get("gate", {}).get("sha256"), anchor) == entry
    assert find_trusted(entry.manifest_sha256, "0" * 64, None, anchor) is None
    assert check_anchor(anchor, tmp_path / "models") == []
    _edit_manifest(manifest, lambda m: m["thresholds"].update(referable=0.6))
    assert check_anchor(anchor, tmp_path / "models") != []
    # The module's command line writes the same thing.
    done = subprocess.run([sys.executable, "-m", "retina_screen.trust", "--check"], cwd=ROOT,
                          capture_output=True, text=True, timeout=120, check=False)
    assert done.returncode == 0, done.stdout + done.stderr


# ---------------------------------------------------------------------------------------------
# Swapped model, edited manifest


def test_a_swapped_model_with_a_rewritten_manifest_is_refused(tmp_path: Path) -> None:
    manifest = _copy_models(tmp_path)
    _swap_model(manifest)
    with pytest.raises(ModelError, match="not a model shipped with this application"):
        GradingModel(manifest, threads=1, allow_unverified=False)
    accepted = GradingModel(manifest, threads=1, allow_unverified=True)
    assert not accepted.manifest.verified and not accepted.info.verified


def test_an_edited_threshold_is_refused(tmp_path: Path) -> None:
    manifest = _copy_models(tmp_path)
    _edit_manifest(manifest, lambda m: m["thresholds"].update(referable=0.99))
    with pytest.raises(ModelError, match="threshold"):
        GradingModel(manifest, threads=1, allow_unverified=False)


def _cli(home: Path, *args: str, **env: str) -> subprocess.CompletedProcess:
    environ = {k: v for k, v in os.environ.items() if not k.startswith("RETINA_SCREEN_")}
    environ.update(XDG_CONFIG_HOME=str(home / "config"), XDG_DATA_HOME=str(home / "data"), **env)
    return subprocess.run([sys.executable, "-m", "retina_screen", *args], cwd=ROOT, env=environ,
                          capture_output=True, text=True, timeout=300, check=False)


def test_cli_refuses_a_swapped_model_unless_allowed_and_then_says_so(tmp_path: Path,
                                                                     srahim: Path) -> None:
    manifest = _copy_models(tmp_path / "m")
    _swap_model(manifest)
    refused = _cli(tmp_path, "--model", str(manifest), "model", "info")
    assert refused.returncode == 1 and "not a model shipped" in refused.stderr, refused.stderr
    assert "(verified)" not in refused.stdout
    allowed = _cli(tmp_path, "--model", str(manifest), "model", "info",
                   RETINA_SCREEN_ALLOW_UNVERIFIED_MODEL="true")
    assert allowed.returncode == 0, allowed.stderr
    assert "(verified)" not in allowed.stdout and "UNVERIFIED MODEL" in allowed.stdout
    shipped = _cli(tmp_path, "model", "info")
    assert "(verified)" in shipped.stdout and "shipped with this application" in shipped.stdout
    photos = [str(srahim / "images" / f"{REFER_PATIENT}_{eye}.jpg") for eye in "LR"]
    refused = _cli(tmp_path, "--model", str(manifest), "screen", *photos)
    assert refused.returncode == 1
    assert not (tmp_path / "data" / "retina-screen" / "audit.sqlite").exists()  # nothing recorded
    screened = _cli(tmp_path, "--model", str(manifest), "screen", "--json", *photos,
                    RETINA_SCREEN_ALLOW_UNVERIFIED_MODEL="1")
    assert screened.returncode == 0, screened.stderr
    model = json.loads(screened.stdout)["model"]
    assert model["verified"] is False and model["manifest_sha256"] == sha256_of(manifest)
    text = _cli(tmp_path, "--model", str(manifest), "--allow-unverified-model", "screen",
                *photos)
    assert "WARNING: UNVERIFIED MODEL" in text.stdout, text.stdout + text.stderr


def _read_csv(path: Path) -> list[dict[str, str]]:
    with open(path, newline="", encoding="utf-8") as handle:
        return list(csv.DictReader(handle))


def _batch(srahim: Path, tmp: Path, manifest: Path, allow: bool):  # noqa: ANN202
    from retina_screen.batch import run_batch

    photos = tmp / "in"
    photos.mkdir(parents=True)
    for eye in "LR":
        shutil.copy(srahim / "images" / f"{REFER_PATIENT}_{eye}.jpg", photos)
    settings = load_settings(use_environment=False, use_file=False, overrides={
        "model": manifest, "allow_unverified_model": allow, "audit_db": tmp / "audit.sqlite",
        "audit_key": tmp / "config" / "audit.key", "log_dir": tmp / "logs"})
    summary = run_batch(photos, tmp / "out", settings, workers=1, reports=True)
    return settings, summary


def test_edited_threshold_allowed_is_flagged_on_every_result_report_and_audit_record(
        srahim: Path, tmp_path: Path) -> None:
    """Real photographs of a patient with referable DR in both eyes: the shipped model refers
    them and records its threshold and manifest hash; a manifest with its threshold raised to
    0.99, accepted through allow_unverified_model, is flagged in results.csv, patients.csv,
    the journal, the PDF report and the audit trail."""
    from pypdf import PdfReader

    from retina_screen.audit import verify

    shipped = Settings().model
    settings, summary = _batch(srahim, tmp_path / "shipped", shipped, allow=False)
    assert all(p.outcome.is_referral for p in summary.patients)
    rows = _read_csv(summary.results_csv)
    threshold = json.loads(shipped.read_text())["thresholds"]["referable"]
    assert {(r["model_verified"], float(r["referable_threshold"]), r["manifest_sha256"])
            for r in rows} == {("yes", threshold, sha256_of(shipped))}
    assert _read_csv(summary.patients_csv)[0]["model_verified"] == "yes"

    edited = _copy_models(tmp_path / "edited-model")
    _edit_manifest(edited, lambda m: m["thresholds"].update(referable=0.99))
    with pytest.raises(ModelError):
        _batch(srahim, tmp_path / "refused", edited, allow=False)
    assert not (tmp_path / "refused" / "out").exists()

    settings, summary = _batch(srahim, tmp_path / "edited", edited, allow=True)
    rows = _read_csv(summary.results_csv)
    assert len(rows) == 2
    assert {(r["model_verified"], r["referable_threshold"], r["manifest_sha256"]) for r in rows} \
        == {("no", "0.99", sha256_of(edited))}
    (patient,) = _read_csv(summary.patients_csv)
    assert patient["model_verified"] == "no"
    journal = [json.loads(line) for line in summary.journal.read_text().splitlines()]
    assert journal and all(r["model_verified"] is False and r["referable_threshold"] == 0.99
                           and r["manifest_sha256"] == sha256_of(edited) for r in journal)
    text = " ".join(page.extract_text() for page in
                    PdfReader(str(summary.out_dir / patient["report"])).pages)
    assert "UNVERIFIED MODEL" in " ".join(text.split())
    with sqlite3.connect(settings.audit_db) as connection:
        (payload,) = [json.loads(p) for (p,) in connection.execute("SELECT payload FROM records")]
    connection.close()
    assert payload["model_verified"] is False and payload["referable_threshold"] == 0.99
    assert payload["manifest_sha256"] == sha256_of(edited)
    assert "UNVERIFIED MODEL" in payload["model_warning"]
    assert verify(settings.audit_db, settings.audit_key).ok


def test_an_output_folder_refuses_results_of_another_manifest(srahim: Path,
                                                               tmp_path: Path) -> None:
    from retina_screen.batch import run_batch
    from retina_screen.errors import OutputError

    settings, summary = _batch(srahim, tmp_path, Settings().model, allow=False)
    edited = _copy_models(tmp_path / "edited-model")
    _edit_manifest(edited, lambda m: m["thresholds"].update(referable=0.99))
    with pytest.raises(OutputError, match="another model manifest"):
        run_batch(tmp_path / "in", summary.out_dir,
                  settings.replace(model=edited, allow_unverified_model=True), workers=1)


def test_an_output_folder_refuses_results_of_another_quality_gate(srahim: Path,
                                                                  tmp_path: Path) -> None:
    """Results checked by another quality gate version (e.g. before qg-4's dim-borderline rule)
    are not continued with this one: the folder says which version made them."""
    from retina_screen.batch import run_batch
    from retina_screen.errors import OutputError
    from retina_screen.quality import load_thresholds

    settings, summary = _batch(srahim, tmp_path, Settings().model, allow=False)
    run_file = summary.out_dir / "run.json"
    recorded = json.loads(run_file.read_text())
    assert recorded["quality_version"] == load_thresholds().version
    run_file.write_text(json.dumps({**recorded, "quality_version": "qg-3"}))
    with pytest.raises(OutputError, match=r"another version of the quality gate \(qg-3"):
        run_batch(tmp_path / "in", summary.out_dir, settings, workers=1)


def test_an_edited_quality_gate_is_marked_in_every_result(srahim: Path, tmp_path: Path) -> None:
    """The quality thresholds file edited in place (every limit loosened, its label "qg-29"
    kept): blurred referable eyes read "no referable DR" and every result still said the
    shipped gate (found 2026-12-02). The anchor now lists the thresholds' digest too, so such
    a file's version reads ``qg-29+modified-...``, the version every result, report and audit
    record carries and an output folder is bound to. A file of another label is another gate,
    recorded under its own label."""
    from retina_screen.engine import Screener
    from retina_screen.quality import THRESHOLDS_FILE, load_thresholds

    shipped = load_thresholds()
    assert "+modified" not in shipped.version and not check_anchor()
    raw = json.loads(THRESHOLDS_FILE.read_text(encoding="utf-8"))
    same = tmp_path / "same.json"
    same.write_text(json.dumps(raw, indent=1), encoding="utf-8")  # another layout, same gate
    assert load_thresholds(same).version == shipped.version
    for section in ("frame", "fundus", "quality"):
        for rule in raw[section]:
            rule["threshold"] = -1e9 if rule["kind"] == "min" else 1e9
    loose = tmp_path / "loose.json"
    loose.write_text(json.dumps(raw), encoding="utf-8")
    assert load_thresholds(loose).version.startswith(f"{shipped.version}+modified-")
    raw["version"] = "local-1"
    loose.write_text(json.dumps(raw), encoding="utf-8")
    assert load_thresholds(loose).version == "local-1"

    settings = load_settings(use_environment=False, use_file=False)
    result = Screener(settings, threads=1).screen_image(srahim / "images/Patient006_R.jpg")
    assert result.quality.thresholds_version == shipped.version
