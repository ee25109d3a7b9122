"""One model-input path: the app, the training cache, threshold choice and evaluation agree.

The engine (used by ``screen``, ``batch``, ``evaluate`` and the export's threshold choice) and
the training pipeline (cache, then ``training_input``) must hand the network the same input for
the same photograph. Checked on real photographs of every source.
"""

from __future__ import annotations

import csv
from pathlib import Path

import numpy as np
import pytest

from retina_screen.evaluation import evaluation_sets, screen_set
from retina_screen.loading import load_image
from retina_screen.preprocess import DECODE_MAX_SIDE, PreprocessSpec, model_input, preprocess_photo
from retina_screen.training.cache import LOSSLESS, CacheRecord, decode, encode_photo
from retina_screen.training.inputs import (
    DAMAGE_KINDS,
    camera_damage,
    distillation_pair,
    random_geometry,
    training_input,
)

SOURCES = ("aptos2019", "eyepacs_equalised", "eyepacs_raw", "idrid", "srahim_dev",
           "messidor2_dev")


def _photos(data_dir: Path, source: str, count: int = 3) -> list[Path]:
    with open(data_dir / source / "labels.csv", newline="") as handle:
        rows = list(csv.DictReader(handle))
    step = max(1, len(rows) // count)
    return [data_dir / source / rows[i * step]["file"] for i in range(count)]


@pytest.fixture()
def captured_inputs(screener, monkeypatch: pytest.MonkeyPatch) -> list[np.ndarray]:
    """The arrays the engine hands to the grading network."""
    seen: list[np.ndarray] = []
    original = screener.model.predict

    def spy(batch: np.ndarray):  # noqa: ANN202
        seen.append(batch.copy())
        return original(batch)

    monkeypatch.setattr(screener.model, "predict", spy)
    return seen


@pytest.mark.parametrize("source", SOURCES)
def test_app_and_training_give_the_network_the_same_input(screener, data_dir: Path,
                                                          captured_inputs: list, source: str
                                                          ) -> None:
    spec = screener.model.spec
    for path in _photos(data_dir, source):
        captured_inputs.clear()
        result = screener.screen_image(path, keep_display=False)
        if not captured_inputs:  # ungradable: the network never ran, nothing to compare
            assert result.grading is None
            continue
        record = CacheRecord(source, path.stem, path.stem, 0, "train",
                             encode_photo(path, LOSSLESS))
        trained_on = training_input(record, spec)
        assert trained_on.shape == (3, spec.size, spec.size)
        np.testing.assert_allclose(captured_inputs[0][0], trained_on, atol=1e-5)


def test_default_lossy_cache_stays_close_to_the_app(screener, data_dir: Path) -> None:
    """The shipped training cache is WebP quality 92: its noise is far below the augmentation."""
    spec = screener.model.spec
    differences = []
    for source in SOURCES:
        for path in _photos(data_dir, source, 2):
            loaded_input, _ = preprocess_photo(
                load_image(path, max_side=DECODE_MAX_SIDE).pixels, spec)
            record = CacheRecord(source, path.stem, path.stem, 0, "train", encode_photo(path))
            differences.append(float(np.abs(loaded_input - training_input(record, spec)).mean()))
    assert max(differences) < 0.04  # in normalised units (the input spans -1..1)


def test_evaluation_and_threshold_choice_screen_through_the_engine(screener, data_dir: Path,
                                                                   captured_inputs: list) -> None:
    photos = evaluation_sets(data_dir, external_only=True)["messidor2_dev"][:3]
    results = screen_set(screener, photos)
    graded = [r for r in results if r.grading is not None]
    assert len(captured_inputs) == len(graded) > 0
    unpatched_predict = type(screener.model).predict
    for photo, result, batch in zip([p for p, r in zip(photos, results, strict=True)
                                     if r.grading is not None], graded, captured_inputs,
                                    strict=True):
        expected, _ = preprocess_photo(load_image(photo.path, max_side=DECODE_MAX_SIDE).pixels,
                                       screener.model.spec)
        np.testing.assert_array_equal(batch[0], expected)
        probabilities, _ = unpatched_predict(screener.model, batch)
        assert abs(result.grading.p_referable - float(probabilities[0, 2:].sum())) < 1e-6


def test_model_input_resizes_any_crop_to_the_model_size() -> None:
    spec = PreprocessSpec(size=448)
    crop = np.full((512, 512, 3), 90, np.uint8)
    assert model_input(crop, spec).shape == (3, 448, 448)
    assert model_input(crop[:256, :256], spec).shape == (3, 448, 448)


def _exposed(crop: np.ndarray, factor: float) -> np.ndarray:
    return np.clip(crop.astype(np.float32) * factor, 0, 255).astype(np.uint8)


def _contrast(model_in: np.ndarray) -> float:
    """Spread of the model input over the field (the grey outside it is exactly 0)."""
    inside = np.abs(model_in).sum(axis=0) > 0
    return float(model_in[:, inside].std())


@pytest.mark.parametrize("factor", [0.5, 0.7, 1.4])
def test_v2_input_keeps_its_contrast_for_an_under_or_over_exposed_photo(data_dir: Path,
                                                                        factor: float) -> None:
    """fov-ben-graham-v2 scales lesion contrast by the retina's own exposure: a photo taken at
    half, 0.7x or 1.4x the exposure gives the network the contrast of the original, where
    v1 gives it proportionally less (or more, up to clipping)."""
    v1 = PreprocessSpec(size=448, preprocessing_id="fov-ben-graham-v1")
    v2 = PreprocessSpec(size=448, preprocessing_id="fov-ben-graham-v2")
    for path in _photos(data_dir, "srahim_dev", 2) + _photos(data_dir, "idrid", 2):
        crop = preprocess_photo(load_image(path, max_side=DECODE_MAX_SIDE).pixels, v2)[1].image
        changed = _exposed(crop, factor)
        v1_ratio = _contrast(model_input(changed, v1)) / _contrast(model_input(crop, v1))
        v2_ratio = _contrast(model_input(changed, v2)) / _contrast(model_input(crop, v2))
        assert abs(v2_ratio - 1) < 0.15, (path.name, v2_ratio)  # v1: about 0.5 at half
        assert abs(v2_ratio - 1) < 0.5 * abs(v1_ratio - 1), (path.name, v1_ratio, v2_ratio)


def test_the_quarter_size_local_mean_stays_within_two_levels_of_the_full_size_one(
        data_dir: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Step 2's local mean is computed at a quarter of the size for speed: on real photographs
    of every source the normalised crop stays within 2 grey levels of the full-size
    computation's (mean well under one level), so the network sees what it was trained and
    calibrated on."""
    from retina_screen import preprocess

    crops = [preprocess.screening_crop(load_image(path, max_side=DECODE_MAX_SIDE).pixels).image
             for source in SOURCES for path in _photos(data_dir, source, count=2)]
    fast = [preprocess.local_colour_normalise(crop).astype(int) for crop in crops]
    monkeypatch.setattr(preprocess, "_SMALL_BLUR_FACTOR", 1)  # the full-size computation
    full = [preprocess.local_colour_normalise(crop).astype(int) for crop in crops]
    differences = np.concatenate([np.abs(a - b).ravel() for a, b in zip(fast, full, strict=True)])
    assert all((a != b).any() for a, b in zip(fast, full, strict=True))  # the fast path ran
    assert differences.max() <= 2 and differences.mean() < 0.2
    tensor = preprocess.model_input(crops[0], PreprocessSpec(size=512))
    assert tensor.flags.c_contiguous and tensor.shape == (3, 512, 512)


def test_the_compact_cache_for_a_gpu_machine_stays_close_to_the_app(screener,
                                                                     data_dir: Path) -> None:
    """``cache --compact`` (what travels to a lent GPU) stores the 224-256 px sources at 224 px
    and re-encodes the rest; decoding gives the 512 px crop back, and the model input stays
    within the augmentation's own JPEG noise of the application's."""
    from retina_screen.training.cache import HIGH_RESOLUTION_SOURCES, compact_record, decode

    spec = screener.model.spec
    for source in ("aptos2019", "eyepacs_equalised", "eyepacs_raw", "idrid"):
        for path in _photos(data_dir, source, 2):
            record = CacheRecord(source, path.stem, path.stem, 0, "train", encode_photo(path))
            compact = compact_record(record, 224, 85, 70)
            assert len(compact.webp) < len(record.webp) / (1.5 if source in
                                                          HIGH_RESOLUTION_SOURCES else 3)
            assert decode(compact).shape == decode(record).shape == (512, 512, 3)
            app_input, _ = preprocess_photo(
                load_image(path, max_side=DECODE_MAX_SIDE).pixels, spec)
            difference = float(np.abs(app_input - training_input(compact, spec)).mean())
            # Measured: 0.03-0.04 (high resolution), 0.04-0.08 (the noisy equalised exports).
            bound = 0.05 if source in HIGH_RESOLUTION_SOURCES else 0.1
            assert difference < bound, (source, difference)


def test_distillation_pair_is_one_geometry_clean_and_damaged(data_dir: Path) -> None:
    """Self-distillation's two views of a photo: the clean one is the photo in a random
    geometry through the one model-input path, the damaged one the same geometry with camera
    faults (same vessels in the same places, different pixels), and undamaged draws give the
    clean input twice."""
    spec = PreprocessSpec(size=512, preprocessing_id="fov-ben-graham-v1")
    for path in _photos(data_dir, "idrid", 2) + _photos(data_dir, "srahim_dev", 2):
        record = CacheRecord("idrid", path.stem, path.stem, 0, "train",
                             encode_photo(path, LOSSLESS))
        same = distillation_pair(record, spec, np.random.default_rng(1), undamaged_share=1.0)
        np.testing.assert_array_equal(same[0], same[1])
        geometry = random_geometry(decode(record), np.random.default_rng(1))
        np.testing.assert_allclose(same[0], model_input(np.ascontiguousarray(geometry), spec),
                                   atol=1e-6)
        for seed in range(4):
            clean, damaged = distillation_pair(record, spec, np.random.default_rng(seed),
                                               undamaged_share=0.0)
            assert clean.shape == damaged.shape == (3, 512, 512)
            assert np.abs(clean - damaged).mean() > 1e-3, (path.name, seed)
            # The same anatomy in the same place: the green channels still correlate.
            correlation = np.corrcoef(clean[1].ravel(), damaged[1].ravel())[0, 1]
            assert correlation > 0.5, (path.name, seed, correlation)


@pytest.mark.parametrize("kind", range(DAMAGE_KINDS))
def test_every_camera_damage_changes_the_retina_only(data_dir: Path, kind: int) -> None:
    path = _photos(data_dir, "srahim_dev", 1)[0]
    crop = preprocess_photo(load_image(path, max_side=DECODE_MAX_SIDE).pixels,
                            PreprocessSpec(size=512))[1].image
    damaged = camera_damage(crop, np.random.default_rng(kind), kind)
    assert damaged.shape == crop.shape and damaged.dtype == np.uint8
    surround = crop.max(axis=2) <= 20
    assert surround.any() and not damaged[surround].any()
    assert np.abs(damaged.astype(int) - crop)[~surround].mean() > 0.2, kind
