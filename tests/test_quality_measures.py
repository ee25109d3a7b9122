"""The quality measures' order statistics, computed from histograms for speed, are numpy's own
values on real photographs (the gate's thresholds were chosen with numpy's)."""

from __future__ import annotations

import csv
from pathlib import Path

import cv2
import numpy as np

from retina_screen import quality
from retina_screen.loading import load_image
from retina_screen.preprocess import DECODE_MAX_SIDE, screening_crop


def _crops(data_dir: Path, per_source: int = 4,
           sources: tuple[str, ...] = ("srahim_dev", "messidor2_dev", "idrid", "aptos2019",
                                       "drimdb")) -> list[np.ndarray]:
    crops = []
    for source in sources:
        with open(data_dir / source / "labels.csv", newline="") as handle:
            rows = list(csv.DictReader(handle))[:per_source]
        crops += [screening_crop(load_image(data_dir / source / r["file"],
                                            max_side=DECODE_MAX_SIDE).pixels).image
                  for r in rows]
    return crops


def test_histogram_statistics_equal_numpys_on_real_photos(data_dir: Path) -> None:
    """Medians of 8-bit values (odd and even counts), the float32 mean of the top 5% of the
    vessel response and the noise measure's 80% quantile and mean: bit for bit numpy's."""
    circle = quality._fov_mask(quality.WORKING_SIDE)
    core = cv2.erode(circle.astype(np.uint8), np.ones((25, 25), np.uint8)).astype(bool)
    kernel = cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (15, 15))
    for image in _crops(data_dir):
        for channel in range(3):
            values = image[..., channel][circle]
            for part in (values, values[:-1]):
                assert quality._uint8_median(part) == float(np.median(part))
        blackhat = cv2.morphologyEx(image[..., 1], cv2.MORPH_BLACKHAT, kernel)[core]
        k = int(0.95 * (blackhat.size - 1))
        as_float = blackhat.astype(np.float32)
        top = np.partition(as_float, k)[k]
        assert quality._uint8_top_mean(blackhat, 0.95) == as_float[as_float >= top].mean()
        green = image[..., 1].astype(np.float32)
        g = green[:green.shape[0] // 2 * 2, :green.shape[1] // 2 * 2]
        diagonal = np.abs(g[0::2, 0::2] - g[0::2, 1::2] - g[1::2, 0::2] + g[1::2, 1::2]) / 2
        details = diagonal[core[0::2, 0::2]]
        expected = float(np.mean(details[details <= np.quantile(details, 0.8)]))
        assert quality._noise(green, core) == expected


def test_camera_measures_read_camera_resolution_photos_only(
        data_dir: Path) -> None:
    """qg-18's and qg-19's limits read the sharpness and the grain of photos whose field of
    view is at least CAMERA_FIELD px across as decoded; an APTOS-size export (its detail at the
    working size is that of its enlargement) is not measured."""
    path = data_dir / "srahim_dev" / "images" / "Patient278_R.jpg"
    rgb = load_image(path, max_side=DECODE_MAX_SIDE).pixels
    full = quality.measure(screening_crop(rgb))
    assert full.field_diameter >= quality.CAMERA_FIELD
    assert full.camera_sharpness == full.sharpness < 1.0
    assert full.camera_grain == full.noise
    small_rgb = cv2.resize(rgb, (rgb.shape[1] * 224 // rgb.shape[0], 224),
                           interpolation=cv2.INTER_AREA)
    small = quality.measure(screening_crop(small_rgb))
    assert small.field_diameter < quality.CAMERA_FIELD
    assert small.camera_sharpness == 1.0 and small.sharpness < 1.0
    assert small.camera_grain == quality.NOT_MEASURED_GRAIN != small.noise


def test_tone_flatness_reads_an_equalised_brightness_histogram(data_dir: Path) -> None:
    """qg-22's measure is the largest distance between the brightness's cumulative histogram
    and the line from its 1st to its 99th percentile (numpy's quantiles and counts give the
    same value); gradable photos of four sources read well above the gate's limit, and their
    histogram-equalised copies (a viewer's auto-contrast) read lower, most of them far lower.
    (DRIMDB's first rows are its ungradable photos: left out.)"""
    def equalised(rgb: np.ndarray) -> np.ndarray:
        hsv = cv2.cvtColor(rgb, cv2.COLOR_RGB2HSV)
        hsv[..., 2] = cv2.equalizeHist(hsv[..., 2])
        return cv2.cvtColor(hsv, cv2.COLOR_HSV2RGB)

    limit = next(r.threshold for r in quality.load_thresholds().quality_rules
                 if r.measure == "tone_flatness")
    lowered = []
    for crop in _crops(data_dir, sources=("srahim_dev", "messidor2_dev", "idrid", "aptos2019")):
        brightness = crop.max(axis=2)[quality._cached_mask(quality.WORKING_SIDE)]
        low, high = np.quantile(brightness, (0.01, 0.99))
        levels = np.arange(int(np.ceil(low)), int(np.floor(high)) + 1)
        cumulative = np.searchsorted(np.sort(brightness), levels, side="right") / brightness.size
        expected = np.abs(cumulative - (0.01 + 0.98 * (levels - low) / (high - low))).max()
        assert abs(quality._tone_flatness(brightness) - expected) < 1e-9
        assert expected > limit + 0.02
        flattened = equalised(crop)[quality._cached_mask(quality.WORKING_SIDE)].max(axis=1)
        lowered.append(quality._tone_flatness(flattened) / expected)
    assert max(lowered) < 0.9 and float(np.median(lowered)) < 0.5, lowered
