"""The evidence for ``likeness.COPY_LIKENESS_MIN`` (docs/decisions.md, "One eye's photograph
given for both eyes, as a copy or a mirror image").

Usage: python benchmarks/copy_likeness.py [--data ../shared/data] [--model models/dr_lite0.json]

1. Two different eyes: every EyePACS raw patient (internal data) whose right and left
   photographs both pass the quality gate; the distribution of their ``copy_likeness`` and how
   many pairs reach each candidate limit. The rule: the lowest candidate that no pair reaches,
   0.05 or more above the highest pair.
2. The same for ``srahim_dev`` (external check, looked at after the choice, never to choose).
3. Copies: internal validation photographs (APTOS, EyePACS raw, IDRiD) that pass the gate,
   every 4th, each copied in ten ways; a copy counts where it also passes the gate; the
   share found at each candidate.

About 5 minutes on two cores.
"""

from __future__ import annotations

import argparse
import csv
import logging
from collections.abc import Callable
from pathlib import Path

import cv2
import numpy as np

from retina_screen.engine import Screener
from retina_screen.labels import read_labels, record_split
from retina_screen.likeness import COPY_LIKENESS_MIN, copy_likeness, photo_signature
from retina_screen.loading import LoadedImage, load_image, load_image_bytes
from retina_screen.preprocess import DECODE_MAX_SIDE
from retina_screen.settings import load_settings

CANDIDATES = (0.60, 0.65, 0.70, 0.75, 0.80)


def _encoded(rgb: np.ndarray, extension: str, params: list[int]) -> np.ndarray:
    """``rgb`` saved with OpenCV and loaded back as the application loads a file."""
    ok, data = cv2.imencode(extension, cv2.cvtColor(rgb, cv2.COLOR_RGB2BGR), params)
    assert ok
    return load_image_bytes(data.tobytes(), max_side=DECODE_MAX_SIDE).pixels


def _jpeg(rgb: np.ndarray, quality: int) -> np.ndarray:
    return _encoded(rgb, ".jpg", [cv2.IMWRITE_JPEG_QUALITY, quality])


def _half(rgb: np.ndarray) -> np.ndarray:
    return cv2.resize(rgb, (rgb.shape[1] // 2, rgb.shape[0] // 2), interpolation=cv2.INTER_AREA)


def _gamma(rgb: np.ndarray, gamma: float) -> np.ndarray:
    table = np.clip(255.0 * (np.arange(256) / 255.0) ** gamma + 0.5, 0, 255).astype(np.uint8)
    return table[rgb]


def _central(rgb: np.ndarray, share: float) -> np.ndarray:
    height, width = rgb.shape[:2]
    top, left = int(height * (1 - share) / 2), int(width * (1 - share) / 2)
    return np.ascontiguousarray(rgb[top:height - top, left:width - left])


COPIES: dict[str, Callable[[np.ndarray], np.ndarray]] = {
    "JPEG 60": lambda rgb: _jpeg(rgb, 60),
    "PNG": lambda rgb: _encoded(rgb, ".png", []),
    "half size + JPEG 75": lambda rgb: _jpeg(_half(rgb), 75),
    "mirrored": lambda rgb: np.ascontiguousarray(rgb[:, ::-1]),
    "mirrored + JPEG 70": lambda rgb: _jpeg(np.ascontiguousarray(rgb[:, ::-1]), 70),
    "gamma 0.8 + JPEG 85": lambda rgb: _jpeg(_gamma(rgb, 0.8), 85),
    "turned half a turn + JPEG 85": lambda rgb: _jpeg(np.ascontiguousarray(rgb[::-1, ::-1]), 85),
    "flipped upside down": lambda rgb: np.ascontiguousarray(rgb[::-1]),
    "central 90% of the frame": lambda rgb: _central(rgb, 0.9),
    "central 80% of the frame": lambda rgb: _central(rgb, 0.8),
}


class Gate:
    """The screening crop's signature of a photograph that passes the quality gate, else None."""

    def __init__(self, screener: Screener) -> None:
        self.screener = screener

    def signature(self, rgb: np.ndarray) -> np.ndarray | None:
        crop, _, report = self.screener.quality_gate(LoadedImage.from_pixels(rgb))
        return photo_signature(crop.image) if report.gradable else None


def _both_eyes(data: Path, source: str) -> list[tuple[Path, Path]]:
    eyes: dict[str, dict[str, Path]] = {}
    with open(data / source / "labels.csv", newline="") as handle:
        for row in csv.DictReader(handle):
            side = row["eye"][:1].upper()
            eyes.setdefault(row["patient"], {})[side] = data / source / row["file"]
    return [(pair["R"], pair["L"]) for _, pair in sorted(eyes.items())
            if "R" in pair and "L" in pair]


def _pairs_table(gate: Gate, pairs: list[tuple[Path, Path]], name: str) -> None:
    values = []
    for right, left in pairs:
        first = gate.signature(load_image(right, max_side=DECODE_MAX_SIDE).pixels)
        second = gate.signature(load_image(left, max_side=DECODE_MAX_SIDE).pixels) \
            if first is not None else None
        if first is not None and second is not None:
            values.append(copy_likeness(first, second))
    likeness = np.array(values)
    reached = " | ".join(str(int((likeness >= c).sum())) for c in CANDIDATES)
    print(f"| {name} | {len(pairs)} | {likeness.size} | {likeness.max():.3f} | "
          f"{np.quantile(likeness, 0.99):.3f} | {np.median(likeness):.3f} | {reached} |")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--data", type=Path, default=Path("../shared/data"))
    parser.add_argument("--model", type=Path, default=None)
    args = parser.parse_args()
    logging.basicConfig(level=logging.WARNING)
    overrides = {"model": args.model} if args.model else {}
    settings = load_settings(use_environment=False, use_file=False, overrides=overrides)
    gate = Gate(Screener(settings))

    print("Two different eyes of one patient, both passing the gate: copy_likeness")
    print()
    print("| set | patients with both eyes | both gradable | highest | 99th percentile | median | "
          + " | ".join(f"reach {c:.2f}" for c in CANDIDATES) + " |")
    print("|---|---|---|---|---|---|" + "---|" * len(CANDIDATES))
    _pairs_table(gate, _both_eyes(args.data, "eyepacs_raw"), "EyePACS raw (internal: chooses)")
    _pairs_table(gate, _both_eyes(args.data, "srahim_dev"), "srahim_dev (external check)")

    found: dict[str, list[float]] = {name: [] for name in COPIES}
    photos = 0
    for source in ("aptos2019", "eyepacs_raw", "idrid"):
        rows = [r for r in read_labels(args.data, source) if record_split(source, r) == "val"]
        for row in rows[::4]:
            rgb = load_image(args.data / source / row["file"], max_side=DECODE_MAX_SIDE).pixels
            original = gate.signature(rgb)
            if original is None:
                continue
            photos += 1
            for name, copy in COPIES.items():
                signature = gate.signature(copy(rgb))
                if signature is not None:
                    found[name].append(copy_likeness(original, signature))
    print()
    print(f"Copies of {photos} internal validation photographs that pass the gate (the copy "
          "passing too): found at each candidate")
    print()
    print("| copy | copies gradable | lowest | 1st percentile | median | "
          + " | ".join(f"found at {c:.2f}" for c in CANDIDATES) + " |")
    print("|---|---|---|---|---|" + "---|" * len(CANDIDATES))
    for name, values in found.items():
        likeness = np.array(values)
        shares = " | ".join(f"{(likeness >= c).mean():.0%}" for c in CANDIDATES)
        print(f"| {name} | {likeness.size} | {likeness.min():.3f} | "
              f"{np.quantile(likeness, 0.01):.3f} | {np.median(likeness):.3f} | {shares} |")
    print()
    print(f"(the shipped limit: {COPY_LIKENESS_MIN})")


if __name__ == "__main__":
    main()
