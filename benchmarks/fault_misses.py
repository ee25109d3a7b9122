"""Per-eye misses of a model under camera faults, on the referable srahim_dev eyes.

Usage: python benchmarks/fault_misses.py [--model models/dr_lite0.json] [--data ../shared/data]
       [--probe]

For each fault of the safety suite (``tests/safety/degradation.py``) applied to every referable
``srahim_dev`` photograph, prints how many are graded not referable (misses), which eyes with
their P(referable), and how many the quality gate refuses and for what. ``--probe`` runs the
faults outside the suite instead (``PROBE_FAULTS``: the qg-6 and qg-7 faults and the known gaps
after qg-7 in docs/quality.md). A model that is not in the trust anchor (e.g. a trial under
``runs/``) is screened as unverified. The figures for the model 2.1 trial
(docs/model_trials.md) come from this script.
"""

from __future__ import annotations

import csv
import sys
from collections import Counter
from pathlib import Path

import cv2
import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "tests" / "safety"))

import degradation as d  # noqa: E402
from fault_screening import argument_parser, screener_for  # noqa: E402

from retina_screen.loading import load_image  # noqa: E402
from retina_screen.preprocess import DECODE_MAX_SIDE  # noqa: E402
from retina_screen.results import Eye, ImageStatus  # noqa: E402

FAULTS = {
    "none": lambda rgb: rgb,
    "exposure x0.5": lambda rgb: d.scale_exposure(rgb, 0.5),
    "exposure x0.7": lambda rgb: d.scale_exposure(rgb, 0.7),
    "exposure x1.5": lambda rgb: d.scale_exposure(rgb, 1.5),
    "eyelash shadow 60% over 35%": lambda rgb: d.eyelash_shadow(rgb, 0.6, 0.35),
    "field cropped to 0.85 radius": lambda rgb: d.crop_field(rgb, 0.85),
    "gamma 1.6 + jpeg 40": lambda rgb: d.jpeg(d.gamma(rgb, 1.6), 40),
}



def _posterised(rgb: np.ndarray, bits: int) -> np.ndarray:
    step = 256 >> bits
    return (rgb // step * step + step // 2).astype(np.uint8)


def _banded(rgb: np.ndarray, levels: float) -> np.ndarray:
    rows = np.random.default_rng(5).normal(0.0, levels, (rgb.shape[0], 1, 1))
    return np.clip(rgb.astype(np.float32) + rows, 0, 255).astype(np.uint8)


def _gains(rgb: np.ndarray, red: float, green: float, blue: float) -> np.ndarray:
    """A colour cast: each channel scaled (a wrong white balance)."""
    return np.clip(rgb * np.array([red, green, blue], np.float32), 0, 255).astype(np.uint8)


def _saturation(rgb: np.ndarray, factor: float) -> np.ndarray:
    hsv = cv2.cvtColor(rgb, cv2.COLOR_RGB2HSV).astype(np.float32)
    hsv[..., 1] = np.clip(hsv[..., 1] * factor, 0, 255)
    return cv2.cvtColor(hsv.astype(np.uint8), cv2.COLOR_HSV2RGB)


def _glare(rgb: np.ndarray, radius: float, strength: float) -> np.ndarray:
    """A bright soft spot off the centre (a corneal reflex), ``radius`` of the height."""
    height, width = rgb.shape[:2]
    yy, xx = np.ogrid[:height, :width]
    spot = np.exp(-((xx - 0.62 * width) ** 2 + (yy - 0.45 * height) ** 2)
                  / (2 * (radius * height) ** 2))
    return np.clip(rgb + strength * spot[..., None], 0, 255).astype(np.uint8)


def _vignetting(rgb: np.ndarray, depth: float) -> np.ndarray:
    height, width = rgb.shape[:2]
    yy, xx = np.ogrid[:height, :width]
    r = np.hypot(xx - width / 2, yy - height / 2) / (height / 2)
    return np.clip(rgb * (1 - depth * r ** 2)[..., None], 0, 255).astype(np.uint8)


def _sharpened(rgb: np.ndarray, amount: float) -> np.ndarray:
    return cv2.addWeighted(rgb, 1 + amount, cv2.GaussianBlur(rgb, (0, 0), 2.0), -amount, 0)


#: Faults outside the safety suite, as probed on 2026-11-30 (sizes in pixels are at the
#: photos' 800 px decode; a gamma below 1 lifts the mid-tones, as a photo gamma-encoded twice).
PROBE_FAULTS = {
    "none": lambda rgb: rgb,
    "red and blue 3 px apart each way": lambda rgb: d.channel_misregistration(
        rgb, 300 / rgb.shape[1], 0.0),
    "double image 6 px": lambda rgb: d.double_exposure(rgb, 600 / rgb.shape[1], 0.0),
    "double image 10 px vertical": lambda rgb: d.double_exposure(rgb, 1000 / rgb.shape[1], 90.0),
    "red and blue 3 px apart + jpeg 40": lambda rgb: d.jpeg(d.channel_misregistration(
        rgb, 300 / rgb.shape[1], 0.0), 40),
    "double image 6 px + jpeg 40": lambda rgb: d.jpeg(d.double_exposure(
        rgb, 600 / rgb.shape[1], 0.0), 40),
    "gamma 0.75": lambda rgb: d.gamma(rgb, 0.75),
    "gamma 0.6": lambda rgb: d.gamma(rgb, 0.6),
    "gamma 0.45": lambda rgb: d.gamma(rgb, 0.45),
    "posterised 4 bits": lambda rgb: _posterised(rgb, 4),
    "posterised 4 bits + jpeg 90": lambda rgb: d.jpeg(_posterised(rgb, 4), 90),
    "posterised 5 bits": lambda rgb: _posterised(rgb, 5),
    "smudge over the centre": lambda rgb: d.smudge(rgb, 0.25, 0.012),
    "strong smudge over the centre": lambda rgb: d.smudge(rgb, 0.35, 0.02),
    "interlaced rows 2 px": lambda rgb: d.interlace(rgb, 2),
    "row banding 6 levels": lambda rgb: _banded(rgb, 6.0),
    "red and blue swapped": lambda rgb: np.ascontiguousarray(rgb[..., ::-1]),
    # Added after qg-12 (docs/quality.md, known gaps after qg-12).
    "rotated 90": lambda rgb: np.ascontiguousarray(np.rot90(rgb)),
    "rotated 180": lambda rgb: np.ascontiguousarray(rgb[::-1, ::-1]),
    "warm cast (red x1.25, blue x0.8)": lambda rgb: _gains(rgb, 1.25, 1.0, 0.8),
    "cool cast (red x0.8, blue x1.25)": lambda rgb: _gains(rgb, 0.8, 1.0, 1.25),
    "green cast (x1.2)": lambda rgb: _gains(rgb, 1.0, 1.2, 1.0),
    "contrast x0.7": lambda rgb: d.contrast(rgb, 0.7),
    "contrast x0.5": lambda rgb: d.contrast(rgb, 0.5),
    "desaturated x0.5": lambda rgb: _saturation(rgb, 0.5),
    "saturated x1.5": lambda rgb: _saturation(rgb, 1.5),
    "glare spot": lambda rgb: _glare(rgb, 0.15, 120.0),
    "vignetting 0.5": lambda rgb: _vignetting(rgb, 0.5),
    "over-sharpened 1.5": lambda rgb: _sharpened(rgb, 1.5),
    "jpeg 95, upscaled x2": lambda rgb: cv2.resize(d.jpeg(rgb, 95), None, fx=2, fy=2,
                                                   interpolation=cv2.INTER_CUBIC),
    "median filter 3 px": lambda rgb: cv2.medianBlur(rgb, 3),
    "edge-preserving denoise": lambda rgb: cv2.bilateralFilter(rgb, 7, 40, 7),
}


def main() -> int:
    parser = argument_parser(__doc__.splitlines()[0])
    parser.add_argument("--probe", action="store_true", help="the faults outside the suite")
    args = parser.parse_args()
    screener = screener_for(args.model)
    root = args.data / "srahim_dev"
    with open(root / "labels.csv", newline="") as handle:
        rows = [r for r in csv.DictReader(handle) if r["referable"] == "1"]
    photos = [load_image(root / r["file"], max_side=DECODE_MAX_SIDE).pixels for r in rows]
    for name, fault in (PROBE_FAULTS if args.probe else FAULTS).items():
        missed, ungradable, reasons = [], 0, Counter()
        for row, rgb in zip(rows, photos, strict=True):
            result = screener.screen_in_memory(fault(rgb), Eye.LEFT)
            if result.status is not ImageStatus.OK:
                ungradable += 1
                reasons.update(c.name for c in result.quality.checks if not c.passed)
            elif not result.grading.referable:
                missed.append(f"{row['image']} {result.grading.p_referable:.2f}")
        print(f"{name:30s} misses {len(missed)}/{len(photos)} {missed}, refused by the gate "
              f"{ungradable} {dict(reasons)}", flush=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
