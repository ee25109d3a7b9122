"""Histogram-equalised photographs under the shipped gate and model (docs/quality.md, qg-22
and qg-27).

Usage: python benchmarks/equalised_blends.py [--data ../shared/data]

Each referable ``srahim_dev`` eye, its brightness histogram equalised (``degradation.equalised``:
a viewer's auto-contrast) and blended with the original at 1.0, 0.75, 0.5 and 0.25, then saved
as JPEG 90, screened in memory: how many read not referable (hidden), how many the
``partial_field`` rule sends back, and the frame's darkest corner (``corner_light``). About 2
minutes on two cores.
"""

from __future__ import annotations

import argparse
import csv
import sys
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests" / "safety"))

import degradation as d  # noqa: E402
from safety_helpers import real_rgb  # noqa: E402

from retina_screen.engine import Screener  # noqa: E402
from retina_screen.fov import find_fov  # noqa: E402
from retina_screen.results import ImageStatus  # noqa: E402
from retina_screen.settings import load_settings  # noqa: E402


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", type=Path, default=Path("../shared/data"))
    args = parser.parse_args()
    screener = Screener(load_settings())
    srahim = args.data / "srahim_dev"
    with open(srahim / "labels.csv", newline="") as handle:
        rows = [row for row in csv.DictReader(handle) if row["referable"] == "1"]
    photos = [(row["image"], real_rgb(srahim / row["file"])) for row in rows]

    def hidden(result) -> bool:  # noqa: ANN001 - ImageResult
        return result.status is ImageStatus.OK and not result.grading.referable

    missed = sorted(name for name, rgb in photos if hidden(screener.screen_in_memory(rgb)))
    print(f"{len(photos)} referable eyes; read not referable undamaged: {missed}")
    for share in (1.0, 0.75, 0.5, 0.25):
        lost, sent_back, corners = [], 0, []
        for name, rgb in photos:
            damaged = d.jpeg(d.equalised(rgb, share), 90)
            corners.append(find_fov(damaged).corner_light)
            result = screener.screen_in_memory(damaged)
            check = result.quality.check("partial_field")
            sent_back += check is not None and not check.passed
            if hidden(result):
                lost.append(name)
        print(f"share {share}: hidden {len(lost)} {lost}; sent back by partial_field "
              f"{sent_back}; corner_light lowest {min(corners):.3f}, median "
              f"{float(np.median(corners)):.3f}")


if __name__ == "__main__":
    main()
