"""The evidence for the one-photograph check (docs/quality.md, qg-26).

Usage: python benchmarks/one_photograph.py [--data ../shared/data]

Reads ``FieldOfView.other_field`` (the largest lit region of the frame apart from the field of
view, over the field's) for every photograph of the shared data, decoded as the application
decodes it, and prints the highest values of each source; then for layouts made of
``srahim_dev`` pairs (side by side, on a white gap, stacked, a grid of four), which a
layout or report export would give. The check refuses values above 0.25.

About 3 minutes on two cores (most of it decoding 12,000 files).
"""

from __future__ import annotations

import argparse
import csv
from pathlib import Path

import numpy as np

from retina_screen.fov import find_fov
from retina_screen.loading import load_image
from retina_screen.preprocess import DECODE_MAX_SIDE

SOURCES = ("srahim_dev", "messidor2_dev", "idrid", "drimdb", "eyepacs_raw", "aptos2019",
           "eyepacs_equalised")
SUFFIXES = {".jpg", ".jpeg", ".png", ".tif", ".tiff", ".bmp"}


def _other_field(path: Path) -> float:
    return find_fov(load_image(path, max_side=DECODE_MAX_SIDE).pixels).other_field


def _layouts(right: np.ndarray, left: np.ndarray) -> dict[str, np.ndarray]:
    white = np.full((right.shape[0], 40, 3), 255, np.uint8)
    pair = np.concatenate([right, left], axis=1)
    return {"side by side": pair,
            "on a white gap": np.concatenate([right, white, left], axis=1),
            "stacked": np.concatenate([right, left], axis=0),
            "a grid of four": np.concatenate([pair, pair[:, ::-1]], axis=0)}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", type=Path, default=Path("../shared/data"))
    args = parser.parse_args()
    print("| source | photographs | highest other_field (next ones) |")
    print("|---|---|---|")
    for source in SOURCES:
        files = sorted(p for p in (args.data / source).rglob("*") if p.suffix.lower() in SUFFIXES)
        values = sorted(((_other_field(p), p.name) for p in files), reverse=True)
        top = ", ".join(f"{value:.3f} ({name})" for value, name in values[:3])
        print(f"| {source} | {len(values)} | {top} |")
    srahim = args.data / "srahim_dev"
    with open(srahim / "labels.csv", newline="") as handle:
        patients = sorted({row["patient"] for row in csv.DictReader(handle)})[:8]
    print("\nLayouts of srahim_dev pairs (right eye first): other_field")
    for patient in patients:
        right, left = (load_image(srahim / "images" / f"{patient}_{eye}.jpg",
                                  max_side=DECODE_MAX_SIDE).pixels for eye in ("R", "L"))
        readings = {name: find_fov(rgb).other_field for name, rgb in _layouts(right, left).items()}
        print(patient, ", ".join(f"{name} {value:.3f}" for name, value in readings.items()))


if __name__ == "__main__":
    main()
