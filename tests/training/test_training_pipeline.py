"""The training side, end to end on real photographs: cache, training (resumable, and the
GPU machine's script run here on the CPU), export from a float16 checkpoint with the threshold
rule, and the re-packaging of the shipped model (``export --keep-calibration``).

These need PyTorch (the ``train`` extra). CI installs it and sets
``RETINA_SCREEN_REQUIRE_TRAINING``, so there a missing PyTorch fails instead of skipping.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

if os.environ.get("RETINA_SCREEN_REQUIRE_TRAINING"):
    import torch  # noqa: F401 - fail loudly where the training tests must run
else:
    pytest.importorskip("torch", reason="PyTorch (the train extra) is not installed")

from retina_screen.inference import GradingModel  # noqa: E402
from retina_screen.labels import TRAINING_SOURCES  # noqa: E402
from retina_screen.loading import load_image  # noqa: E402
from retina_screen.preprocess import DECODE_MAX_SIDE, preprocess_photo  # noqa: E402

ROOT = Path(__file__).resolve().parents[2]
MODELS = ROOT / "models"
#: Small enough for a CI run on two cores (seconds per epoch), large enough to be the network.
SIZE = 128
TINY_RUN = ["--size", str(SIZE), "--batch", "4", "--epoch-samples", "8", "--workers", "0",
            "--freeze-blocks", "12", "--val-per-source", "2"]


def _python(*args: str, cwd: Path = ROOT, timeout: int = 600,
            env: dict | None = None) -> subprocess.CompletedProcess:
    result = subprocess.run([sys.executable, *args], cwd=cwd, capture_output=True, text=True,
                            timeout=timeout, env=env)
    assert result.returncode == 0, result.stderr[-3000:]
    return result


@pytest.fixture(scope="module")
def tiny_cache(data_dir: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A training cache of 16 real photographs, built by the cache's own code: per training
    source one referable and one non-referable photograph in each split."""
    from dataclasses import replace

    from retina_screen.labels import read_labels
    from retina_screen.training.cache import encode_photo, label_records

    labelled = label_records(data_dir)
    chosen = [next(r for r in labelled if r.source == source and r.split == split
                   and r.referable == referable)
              for source in TRAINING_SOURCES for split in ("train", "val")
              for referable in (True, False)]
    files = {(source, row["image"]): row["file"] for source in TRAINING_SOURCES
             for row in read_labels(data_dir, source)}
    records = [replace(r, webp=encode_photo(data_dir / r.source / files[(r.source, r.image)]))
               for r in chosen]
    from retina_screen.training.cache import write_cache

    out = tmp_path_factory.mktemp("cache") / "cache.pkl"
    write_cache(records, out)
    return out


def _history(run: Path) -> list[dict]:
    return json.loads((run / "history.json").read_text())


def test_training_reports_its_speed_and_resumes_from_its_checkpoint(tiny_cache: Path,
                                                                   tmp_path: Path) -> None:
    """One epoch from the shipped weights, then the run is treated as a 2-epoch run stopped
    after its first epoch (as a session that ran out of time): the same command continues it
    at the second epoch and keeps the first epoch's record."""
    import torch

    run = tmp_path / "run"
    command = ["-m", "retina_screen.training.train", "--cache", str(tiny_cache), "--out",
               str(run), "--init-onnx", str(MODELS / "dr_lite0.onnx"), "--epochs", "1",
               *TINY_RUN]
    first = _python(*command)
    assert "images/s" in first.stderr
    history = _history(run)
    assert [h["epoch"] for h in history] == [0]
    assert history[0]["images_per_s"] > 0 and history[0]["seconds"] > 0
    assert {"best_fp16.pt", "epoch01_fp16.pt", "last.pt"} <= {p.name for p in run.iterdir()}

    state = torch.load(run / "last.pt", weights_only=False)
    state["epochs"] = 2  # the schedule had two epochs; the session stopped after the first
    torch.save(state, run / "last.pt")
    second = _python(*command)
    assert "resumed at epoch 1" in second.stderr
    resumed = _history(run)
    assert [h["epoch"] for h in resumed] == [0, 1]
    assert resumed[0] == history[0]
    assert (run / "epoch02_fp16.pt").is_file()


def test_self_distillation_starts_as_its_teacher_and_records_how_far_it_moved(
        tiny_cache: Path, data_dir: Path, tmp_path: Path) -> None:
    """``--distill-from``: no grade labels, the loss is the KL divergence from the teacher on
    the clean view to the student on the damaged view. With a learning rate of 0 the student
    stays the teacher (its validation P(referable) moves by nothing); with one it learns
    (a positive loss) and the history says how far it moved. ``export --calibration-from``
    then keeps the teacher's temperature and threshold, with the student's own validation
    figures."""
    teacher = str(MODELS / "dr_lite0.onnx")
    common = ["-m", "retina_screen.training.train", "--cache", str(tiny_cache), "--init-onnx",
              teacher, "--distill-from", teacher, "--epochs", "1", *TINY_RUN]
    still = tmp_path / "still"
    result = _python(*common, "--out", str(still), "--lr", "0")
    assert "no grade labels" in result.stderr
    shift = _history(still)[0]["teacher_p_referable_shift"]
    assert shift["max"] < 1e-5, shift
    moving = tmp_path / "moving"
    _python(*common, "--out", str(moving), "--lr", "1e-3")
    history = _history(moving)[0]
    assert history["loss"] > 0 and np.isfinite(history["loss"])
    assert history["teacher_p_referable_shift"]["max"] > 1e-4

    exported = tmp_path / "export" / "dr_lite0.onnx"
    exported.parent.mkdir()
    shutil.copy(MODELS / "dr_lite0.json", exported.with_suffix(".json"))  # its gate section
    shutil.copy(MODELS / "fundus_gate.onnx", exported.parent)
    result = _python("-m", "retina_screen.training.export", "--checkpoint",
                     str(moving / "epoch01_fp16.pt"), "--size", str(SIZE), "--data",
                     str(data_dir), "--out", str(exported), "--max-photos", "12",
                     "--calibration-from", str(MODELS / "dr_lite0.json"))
    shipped = json.loads((MODELS / "dr_lite0.json").read_text())
    manifest = json.loads(exported.with_suffix(".json").read_text())
    assert manifest["thresholds"] == shipped["thresholds"]
    assert manifest["calibration"]["temperature"] == shipped["calibration"]["temperature"]
    assert "distilled from" in manifest["calibration_from"]
    assert manifest["validation_at_threshold"] != shipped["validation_at_threshold"]
    assert "threshold 0.3330 kept" in result.stderr


def test_gpu_script_runs_here_and_its_weights_export_with_the_threshold_rule(
        tiny_cache: Path, data_dir: Path, tmp_path: Path) -> None:
    """``gpu_run.sh`` as on a lent GPU machine (here on the CPU, with this machine's missing
    GPU tools ignored), then ``export --checkpoint`` of its float16 weights: temperature and a
    per-patient threshold chosen on real internal validation photographs, and a model the
    application loads only as unverified (it is not a shipped model)."""
    machine = tmp_path / "machine"  # what the GPU machine holds: the tree, a compact cache
    (machine / ".gpu").mkdir(parents=True)
    shutil.copy(tiny_cache, machine / ".gpu" / "cache_compact.pkl")
    (machine / "models").symlink_to(MODELS)
    env = dict(os.environ, PYTHONPATH=str(ROOT),
               PATH=f"{Path(sys.executable).parent}{os.pathsep}{os.environ['PATH']}")
    out = tmp_path / "gpu_out"
    result = subprocess.run(
        ["bash", str(ROOT / "retina_screen" / "training" / "gpu_run.sh"), str(out), "1",
         *TINY_RUN, "--epochs", "2"], cwd=machine, env=env, capture_output=True, text=True,
        timeout=600)
    assert result.returncode == 0, result.stdout[-2000:] + result.stderr[-2000:]
    assert {"best_fp16.pt", "history.json", "train.log", "last_epoch_fp16.pt"} <= {
        p.name for p in out.iterdir()}
    assert len(json.loads((out / "history.json").read_text())) == 2  # fitted to the budget

    exported = tmp_path / "export" / "dr_lite0.onnx"
    exported.parent.mkdir()
    shutil.copy(MODELS / "dr_lite0.json", exported.with_suffix(".json"))  # its gate section
    shutil.copy(MODELS / "fundus_gate.onnx", exported.parent)
    result = _python("-m", "retina_screen.training.export", "--checkpoint",
                     str(out / "best_fp16.pt"), "--size", str(SIZE), "--data", str(data_dir),
                     "--out", str(exported), "--max-photos", "24", "--version", "0.0.1-test")
    printed = json.loads(result.stdout[result.stdout.index("{"):])
    manifest = json.loads(exported.with_suffix(".json").read_text())
    assert manifest["input"]["size"] == SIZE and manifest["version"] == "0.0.1-test"
    assert manifest["thresholds"]["referable"] == round(printed["threshold"], 6)
    assert 0.4 <= manifest["calibration"]["temperature"] <= 4.0
    validation = manifest["validation_at_threshold"]
    # The rule: averaged over the sources with both referable and non-referable patients
    # (a defined patient AUC; here APTOS and EyePACS raw), patient-level specificity at the
    # chosen threshold is at least 87.5%.
    specificities = [v["patient_specificity"] for v in validation.values()
                     if np.isfinite(v["patient_auc"])]
    assert len(specificities) >= 2 and np.mean(specificities) >= 0.875
    from retina_screen.errors import ModelError

    with pytest.raises(ModelError, match="not a model shipped"):
        GradingModel(exported.with_suffix(".json"), allow_unverified=False)
    model = GradingModel(exported.with_suffix(".json"), allow_unverified=True)
    assert model.manifest.gate is not None and not model.manifest.verified


def test_keep_calibration_repackages_the_shipped_model_exactly(data_dir: Path,
                                                              tmp_path: Path) -> None:
    """The shipped weights, read back out of the ONNX file into the training network and
    exported again with the shipped calibration (the 2.3.2 command of the README): the export
    checks itself on internal validation photographs, and external photographs it never saw
    get the shipped model's grade probabilities."""
    exported = tmp_path / "dr_lite0.onnx"
    shipped = json.loads((MODELS / "dr_lite0.json").read_text())
    _python("-m", "retina_screen.training.export", "--weights-onnx",
            str(MODELS / "dr_lite0.onnx"), "--size", str(shipped["input"]["size"]),
            "--data", str(data_dir), "--out", str(exported), "--version", shipped["version"],
            "--keep-calibration", str(MODELS / "dr_lite0.json"))
    manifest = json.loads(exported.with_suffix(".json").read_text())
    assert manifest["thresholds"] == shipped["thresholds"]
    assert manifest["calibration"]["temperature"] == shipped["calibration"]["temperature"]
    assert manifest["test_time_views"] == shipped["test_time_views"]
    new = GradingModel(exported.with_suffix(".json"), allow_unverified=True)
    old = GradingModel(MODELS / "dr_lite0.json")
    photos = sorted((data_dir / "srahim_dev" / "images").glob("*.jpg"))[:3] + sorted(
        (data_dir / "messidor2_dev").rglob("*.jp*g"))[:3]
    assert len(photos) == 6
    for photo in photos:
        x = preprocess_photo(load_image(photo, max_side=DECODE_MAX_SIDE).pixels, old.spec)[0]
        assert np.abs(new.predict(x[None])[0] - old.predict(x[None])[0]).max() < 1e-4


def test_head_refit_on_one_source_fits_its_training_photos_only(data_dir: Path,
                                                                 tmp_path: Path) -> None:
    """``training.head --fit-sources idrid``: the new head is fitted on IDRiD's training
    photographs alone (four real photos of each grade), while the validation AUCs are still
    reported for every head source; its pooled features are kept with the photos they belong
    to, so a rerun on the same photos reuses them and an unknown source is refused."""
    from dataclasses import replace

    from retina_screen.labels import read_labels
    from retina_screen.training.cache import encode_photo, label_records, write_cache
    from retina_screen.training.head import HEAD_SOURCES

    labelled = label_records(data_dir)
    fit = [r for grade in range(5) for r in [r for r in labelled if r.source == "idrid"
                                             and r.split == "train" and r.grade == grade][:4]]
    validation = [next(r for r in labelled if r.source == source and r.split == "val"
                       and r.referable == referable)
                  for source in HEAD_SOURCES for referable in (True, False)]
    others_training = [next(r for r in labelled if r.source == source and r.split == "train")
                       for source in HEAD_SOURCES if source != "idrid"]
    files = {(source, row["image"]): row["file"] for source in HEAD_SOURCES
             for row in read_labels(data_dir, source)}
    cache = tmp_path / "cache.pkl"
    write_cache([replace(r, webp=encode_photo(data_dir / r.source / files[(r.source, r.image)]))
                 for r in fit + validation + others_training], cache)
    out = tmp_path / "head"
    command = ["-m", "retina_screen.training.head", "--weights-onnx",
               str(MODELS / "dr_lite0.onnx"), "--cache", str(cache), "--size", str(SIZE),
               "--pooling", "mean", "--fit-sources", "idrid", "--out", str(out)]
    _python(*command)
    report = json.loads((out / "head.json").read_text())
    assert report["fit_sources"] == ["idrid"] and report["train_photos"] == len(fit) == 20
    assert set(report["validation_auc"]) == set(HEAD_SOURCES)
    assert all(np.isfinite(v) for v in report["validation_auc"].values())
    import torch

    state = torch.load(out / "weights.pt", weights_only=True)
    assert tuple(state["head.weight"].shape) == (5, 1280)
    stored = np.load(out / "pooled_features.npz")
    assert len(stored["keys"]) == len(fit) + len(validation)  # other sources' training: none
    written = (out / "pooled_features.npz").stat().st_mtime_ns
    _python(*command)
    assert (out / "pooled_features.npz").stat().st_mtime_ns == written
    refused = subprocess.run([sys.executable, *command[:-4], "--fit-sources", "messidor2_dev",
                              "--out", str(out)], cwd=ROOT, capture_output=True, text=True)
    assert refused.returncode == 2 and "--fit-sources must name" in refused.stderr
