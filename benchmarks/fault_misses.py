"""Per-eye misses of a model under camera faults, on the referable srahim_dev eyes.

Usage: python benchmarks/fault_misses.py [--model models/dr_lite0.json] [--data ../shared/data]
       [--probe]

For each fault of the safety suite (``tests/safety/degradation.py``) applied to every referable
``srahim_dev`` photograph, prints how many are graded not referable (misses), which eyes with
their P(referable), and how many the quality gate refuses and for what. ``--probe`` runs the
faults outside the suite instead (``PROBE_FAULTS``: the qg-6 and qg-7 faults and the known gaps
after qg-7 in docs/quality.md). A model that is not in the trust anchor (e.g. a trial under
``runs/``) is screened as unverified. The README's figures for the model 2.1 trial come from
this script.
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
from fault_screening import argument_parser, screen, screener_for  # noqa: E402

from retina_screen.loading import load_image  # noqa: E402
from retina_screen.preprocess import DECODE_MAX_SIDE  # noqa: E402
from retina_screen.results import ImageStatus  # noqa: E402

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


def _smudged(rgb: np.ndarray, radius: float, sigma: float) -> np.ndarray:
    """A soft patch over the centre of the lens: the central ``radius`` (of the height) blurred
    with ``sigma`` (of the width), blended in softly."""
    height, width = rgb.shape[:2]
    blurred = cv2.GaussianBlur(rgb, (0, 0), sigma * width)
    mask = np.zeros((height, width), np.float32)
    cv2.circle(mask, (width // 2, height // 2), int(radius * height), 1.0, -1)
    mask = cv2.GaussianBlur(mask, (0, 0), 0.05 * height)[..., None]
    return (rgb * (1 - mask) + blurred * mask).astype(np.uint8)


def _banded(rgb: np.ndarray, levels: float) -> np.ndarray:
    rows = np.random.default_rng(5).normal(0.0, levels, (rgb.shape[0], 1, 1))
    return np.clip(rgb.astype(np.float32) + rows, 0, 255).astype(np.uint8)


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
    "smudge over the centre": lambda rgb: _smudged(rgb, 0.25, 0.012),
    "strong smudge over the centre": lambda rgb: _smudged(rgb, 0.35, 0.02),
    "interlaced rows 2 px": lambda rgb: d.interlace(rgb, 2),
    "row banding 6 levels": lambda rgb: _banded(rgb, 6.0),
    "red and blue swapped": lambda rgb: np.ascontiguousarray(rgb[..., ::-1]),
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
            result = screen(screener, fault(rgb))
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
