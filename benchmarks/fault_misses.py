"""Per-eye misses of a model under camera faults, on the referable srahim_dev eyes.

Usage: python benchmarks/fault_misses.py [--model models/dr_lite0.json] [--data ../shared/data]

For each fault of the safety suite (``tests/safety/degradation.py``) applied to every referable
``srahim_dev`` photograph, prints how many are graded not referable (misses) and how many the
quality gate refuses. A model that is not in the trust anchor (e.g. a trial under ``runs/``) is
screened as unverified. The README's figures for the model 2.1 trial come from this script.
"""

from __future__ import annotations

import csv
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "tests" / "safety"))

import degradation as d  # noqa: E402
from fault_screening import parse_arguments, screen, screener_for  # noqa: E402

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


def main() -> int:
    args = parse_arguments(__doc__.splitlines()[0])
    screener = screener_for(args.model)
    root = args.data / "srahim_dev"
    with open(root / "labels.csv", newline="") as handle:
        rows = [r for r in csv.DictReader(handle) if r["referable"] == "1"]
    photos = [load_image(root / r["file"], max_side=DECODE_MAX_SIDE).pixels for r in rows]
    for name, fault in FAULTS.items():
        missed = ungradable = 0
        for rgb in photos:
            result = screen(screener, fault(rgb))
            if result.status is not ImageStatus.OK:
                ungradable += 1
            elif not result.grading.referable:
                missed += 1
        print(f"{name:30s} misses {missed}/{len(photos)}, refused by the gate {ungradable}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
