"""The evidence for the gate's three measures of what the frame holds (docs/quality.md,
qg-26 to qg-28), all read by the field-of-view detector (``retina_screen.fov.find_fov``).

Usage: python benchmarks/frame_measures.py [--data ../shared/data]

- ``other_field`` (qg-26, ``one_photograph``: refused above 0.25): the largest lit region of
  the frame apart from the field, over the field's. Highest values of every source, then
  layouts made of ``srahim_dev`` pairs (``degradation.layouts``: side by side, on a white
  gap, stacked, a grid of four), as a layout or report export would give them.
- ``light_surround`` (qg-28, ``light_surround``: refused above 0.5): the least light-grey
  corner of a frame that holds a dark surround of its own. Highest values of every source, then
  ``srahim_dev`` photographs on light backgrounds (``degradation.on_light_backgrounds``: white
  and grey margins, a thin white frame, a viewer's grey window).
- ``corner_light`` (qg-27, ``partial_field``: above the level, no grade below the referral
  threshold is accepted): the frame's darkest corner over its centre. Highest values of every
  source, how many photographs of each reach each candidate level, then crops inside the field
  of the referable ``srahim_dev`` eyes (``degradation.inside_field``: squares of 0.6 and 0.7
  of the field's radius on each side of its centre: zoomed in, or the black border cut away).

Every photograph is decoded as the application decodes it. About 4 minutes on two cores (most
of it decoding 12,000 files).
"""

from __future__ import annotations

import argparse
import csv
import sys
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests" / "safety"))

from degradation import inside_field, layouts, on_light_backgrounds  # noqa: E402

from retina_screen.fov import FieldOfView, find_fov  # noqa: E402
from retina_screen.loading import load_image  # noqa: E402
from retina_screen.preprocess import DECODE_MAX_SIDE  # noqa: E402

SOURCES = ("srahim_dev", "messidor2_dev", "idrid", "drimdb", "eyepacs_raw", "aptos2019",
           "eyepacs_equalised")
SUFFIXES = {".jpg", ".jpeg", ".png", ".tif", ".tiff", ".bmp"}
#: The candidate levels of ``corner_light`` in the rule written before the run (qg-27).
CORNER_LEVELS = (0.2, 0.3, 0.4, 0.5)


def _fov(path: Path) -> FieldOfView:
    return find_fov(load_image(path, max_side=DECODE_MAX_SIDE).pixels)


def _top(values: list[tuple[float, str]]) -> str:
    return ", ".join(f"{value:.3f} ({name})" for value, name in sorted(values, reverse=True)[:3])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", type=Path, default=Path("../shared/data"))
    parser.add_argument("--no-sources", action="store_true",
                        help="only the layouts, backgrounds and crops (seconds, not minutes)")
    args = parser.parse_args()
    if not args.no_sources:
        _sources(args.data)
    _layouts_and_crops(args.data)


def _sources(data: Path) -> None:
    levels = " | ".join(f"corner_light >= {level}" for level in CORNER_LEVELS)
    print(f"| source | photographs | highest other_field | highest corner_light | {levels} | "
          "highest light_surround |")
    print("|---|---|---|---|" + "---|" * len(CORNER_LEVELS) + "---|")
    for source in SOURCES:
        files = sorted(p for p in (data / source).rglob("*") if p.suffix.lower() in SUFFIXES)
        fovs = [(_fov(p), p.name) for p in files]
        other = [(fov.other_field, name) for fov, name in fovs]
        corner = [(fov.corner_light, name) for fov, name in fovs]
        light = [(fov.light_surround, name) for fov, name in fovs]
        counts = " | ".join(str(sum(value >= level for value, _ in corner))
                            for level in CORNER_LEVELS)
        print(f"| {source} | {len(fovs)} | {_top(other)} | {_top(corner)} | {counts} | "
              f"{_top(light)} |")


def _layouts_and_crops(data: Path) -> None:
    srahim = data / "srahim_dev"
    with open(srahim / "labels.csv", newline="") as handle:
        rows = list(csv.DictReader(handle))
    print("\nLayouts of srahim_dev pairs (right eye first): other_field")
    for patient in sorted({row["patient"] for row in rows})[:8]:
        right, left = (load_image(srahim / "images" / f"{patient}_{eye}.jpg",
                                  max_side=DECODE_MAX_SIDE).pixels for eye in ("R", "L"))
        readings = {name: find_fov(rgb).other_field for name, rgb in layouts(right, left).items()}
        print(patient, ", ".join(f"{name} {value:.3f}" for name, value in readings.items()))
    print("\nThe same right eyes on light backgrounds: light_surround")
    for patient in sorted({row["patient"] for row in rows})[:8]:
        right = load_image(srahim / "images" / f"{patient}_R.jpg", max_side=DECODE_MAX_SIDE).pixels
        readings = {name: find_fov(rgb).light_surround
                    for name, rgb in on_light_backgrounds(right).items()}
        print(patient, ", ".join(f"{name} {value:.3f}" for name, value in readings.items()))
    print("\nCrops inside the field of the referable srahim_dev eyes: corner_light")
    for fraction in (0.6, 0.7):
        readings = [find_fov(inside_field(load_image(srahim / row["file"],
                                                    max_side=DECODE_MAX_SIDE).pixels,
                                         fraction)).corner_light
                    for row in rows if row["referable"] == "1"]
        counts = ", ".join(f">= {level}: {sum(value >= level for value in readings)}"
                           for level in CORNER_LEVELS)
        print(f"{fraction} of the radius: {len(readings)} crops, lowest {min(readings):.3f}, "
              f"median {float(np.median(readings)):.3f}; {counts}")


if __name__ == "__main__":
    main()
