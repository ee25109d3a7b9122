"""The quality gate's sharpness measure (qg-3) on real photographs, sharp and defocused.

Usage: python benchmarks/sharpness.py [--data ../shared/data] [--sources aptos2019,idrid]

For every photo of each source (decoded as the app decodes it), and for IDRiD photos blurred by
0.5% of the image side, prints how many fall below candidate thresholds. docs/quality.md's qg-3
table comes from this script.
"""

from __future__ import annotations

import argparse
import csv
from pathlib import Path

import cv2
import numpy as np

from retina_screen.loading import load_image
from retina_screen.preprocess import DECODE_MAX_SIDE, screening_crop
from retina_screen.quality import measure

ROOT = Path(__file__).resolve().parents[1]
CANDIDATES = (0.26, 0.27, 0.28, 0.30)


def sharpness(rgb: np.ndarray) -> float:
    return measure(screening_crop(rgb)).sharpness


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", type=Path, default=ROOT.parent / "shared" / "data")
    parser.add_argument("--sources", default="aptos2019,eyepacs_raw,idrid")
    args = parser.parse_args()
    for source in args.sources.split(","):
        with open(args.data / source / "labels.csv", newline="") as handle:
            rows = list(csv.DictReader(handle))
        sharp, blurred = [], []
        for index, row in enumerate(rows):
            rgb = load_image(args.data / source / row["file"], max_side=DECODE_MAX_SIDE).pixels
            sharp.append(sharpness(rgb))
            if source == "idrid" and index % 2 == 0:
                sigma = 0.005 * max(rgb.shape[:2])
                blurred.append(sharpness(cv2.GaussianBlur(rgb, (0, 0), sigma)))
        for label, values in ((source, sharp), (f"{source} blurred 0.5%", blurred)):
            if values:
                array = np.asarray(values)
                counts = "  ".join(f"<{t:.2f}: {(array < t).sum()}" for t in CANDIDATES)
                print(f"{label:28s} {len(array):5d}  min {array.min():.3f}  {counts}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
