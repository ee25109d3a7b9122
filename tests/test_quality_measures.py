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


def _crops(data_dir: Path, per_source: int = 4) -> list[np.ndarray]:
    crops = []
    for source in ("srahim_dev", "messidor2_dev", "idrid", "aptos2019", "drimdb"):
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
