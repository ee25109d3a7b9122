"""The evidence for the optic-disc side check (docs/decisions.md, "Two photographs of one eye
given for both eyes").

Usage: python benchmarks/disc_side.py [--data ../shared/data] [--model models/dr_lite0.json]

For every patient of EyePACS raw (internal data, where the detector's settings were chosen),
``srahim_dev`` and ``messidor2_dev`` (external checks: two eyes of one examination, its
``group``) whose two photographs both pass the quality gate, as the application screens them:

- false alarms: the two eyes' photographs show the disc on the same side (the patient would
  read "images insufficient");
- found: the two eyes' photographs show the disc on opposite sides, so that the right eye's
  photograph given with a mirror image (or another photograph) of the right eye for the left
  would be found: the share of pairs where both are decided and opposite;
- where the eye is known, how many photographs show the disc on the side the usual
  orientation puts it (right eye: right) and how many the other (an inverting camera);
- the frame check (``decision.frames_differ``): pairs whose two frames read as two cameras'.

About 3 minutes on two cores.
"""

from __future__ import annotations

import argparse
import csv
import logging
from collections import defaultdict
from pathlib import Path

from retina_screen.decision import frames_differ
from retina_screen.engine import Screener
from retina_screen.loading import load_image
from retina_screen.preprocess import DECODE_MAX_SIDE
from retina_screen.results import Eye, ImageStatus
from retina_screen.settings import load_settings

SOURCES = (("eyepacs_raw", "internal: the settings were chosen here"),
           ("srahim_dev", "external check"), ("messidor2_dev", "external check"))


def _pairs(data: Path, source: str) -> dict[str, list[dict]]:
    with open(data / source / "labels.csv", newline="") as handle:
        rows = list(csv.DictReader(handle))
    patients: dict[str, list[dict]] = defaultdict(list)
    for row in rows:
        patients[row.get("patient") or row["group"]].append(row)
    return {key: members for key, members in patients.items() if len(members) == 2}


def _eye(row: dict) -> Eye:
    return {"r": Eye.RIGHT, "l": Eye.LEFT}.get(row.get("eye", "")[:1].lower(), Eye.UNKNOWN)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--data", type=Path, default=Path("../shared/data"))
    parser.add_argument("--model", type=Path, default=None)
    args = parser.parse_args()
    logging.basicConfig(level=logging.WARNING)
    overrides = {"model": args.model} if args.model else {}
    screener = Screener(load_settings(use_environment=False, use_file=False, overrides=overrides))
    for source, role in SOURCES:
        graded = 0
        same, opposite, cameras = [], 0, []
        usual = inverted = 0
        pairs = _pairs(args.data, source)
        for key, members in sorted(pairs.items()):
            results = [screener.screen_in_memory(
                load_image(args.data / source / row["file"], max_side=DECODE_MAX_SIDE),
                _eye(row)) for row in members]
            if not all(r.status is ImageStatus.OK for r in results):
                continue
            graded += 1
            if frames_differ(results):
                cameras.append(key)
            sides = [r.disc_side for r in results]
            if sides[0] * sides[1] > 0:
                same.append(key)
            elif sides[0] * sides[1] < 0:
                opposite += 1
            for result in results:
                expected = {Eye.RIGHT: 1, Eye.LEFT: -1}.get(result.eye, 0)
                usual += result.disc_side * expected > 0
                inverted += result.disc_side * expected < 0
        print(f"{source} ({role}): {len(pairs)} pairs, {graded} with both photographs gradable")
        print(f"  same side (false alarms): {len(same)} ({100 * len(same) / max(graded, 1):.1f}%)"
              f"{': ' + ', '.join(same) if same else ''}")
        print(f"  opposite sides (a photograph of the other eye would be found): {opposite} "
              f"({100 * opposite / max(graded, 1):.1f}%)")
        print(f"  frames of two cameras (false alarms of the frame check): {len(cameras)}"
              f"{': ' + ', '.join(cameras) if cameras else ''}")
        if usual or inverted:
            print(f"  photographs with the disc on its eye's usual side: {usual}, "
                  f"on the other (an inverting camera): {inverted}")


if __name__ == "__main__":
    main()
