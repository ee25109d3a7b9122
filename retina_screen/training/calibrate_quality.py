"""Measure the quality gate on labelled data, and report its agreement with the labels.

Usage::

    python -m retina_screen.training.calibrate_quality --data ../shared/data --out runs/quality.csv

Computes every quality measure (see :mod:`retina_screen.quality`) for DRIMDB (good / bad /
outlier), the EyeQ-labelled EyePACS raw photos (0 good, 1 usable, 2 reject), ``srahim_dev`` and
ordinary non-retinal photos from scikit-image's ``data`` module (when installed), then prints
the gate's agreement with the labels using the shipped thresholds. The thresholds in
``retina_screen/data/quality_thresholds.json`` were chosen from these measurements.
"""

from __future__ import annotations

import argparse
import csv
import dataclasses
from pathlib import Path

import numpy as np

from ..engine import Screener
from ..loading import LoadedImage, load_image
from ..preprocess import DECODE_MAX_SIDE
from ..settings import load_settings


def labelled_images(data: Path) -> list[tuple[str, str, Path | np.ndarray]]:
    """(source, label, path or RGB array); label is good / bad / outlier."""
    items: list[tuple[str, str, Path | np.ndarray]] = []
    with open(data / "drimdb" / "labels.csv", newline="") as handle:
        for row in csv.DictReader(handle):
            items.append(("drimdb", row["quality"], data / "drimdb" / row["file"]))
    with open(data / "eyepacs_raw" / "labels.csv", newline="") as handle:
        for row in csv.DictReader(handle):
            if row["eyeq_quality"] != "":
                label = {"0": "good", "1": "usable", "2": "bad"}[row["eyeq_quality"]]
                items.append(("eyepacs_raw", label, data / "eyepacs_raw" / row["file"]))
    with open(data / "srahim_dev" / "labels.csv", newline="") as handle:
        for row in csv.DictReader(handle):
            items.append(("srahim_dev", "good", data / "srahim_dev" / row["file"]))
    try:
        from skimage import data as skdata

        for name in ("astronaut", "chelsea", "coffee", "rocket", "retina", "hubble_deep_field",
                     "immunohistochemistry", "colorwheel", "cat", "logo", "motorcycle_left",
                     "lily", "camera", "moon", "page", "text", "clock", "horse", "grass",
                     "gravel", "brick", "coins", "eagle"):
            loader = getattr(skdata, name, None)
            if loader is None:
                continue
            try:
                image = np.asarray(loader())
            except Exception:  # some need optional downloads; skip those
                continue
            label = "good" if name == "retina" else "outlier"
            items.append(("skimage", label + ":" + name, image))
    except ImportError:
        pass
    return items


def loaded(image: Path | np.ndarray) -> LoadedImage:
    """A labelled photo loaded as the application loads it (a file), or an array held in
    memory (the scikit-image photos)."""
    if isinstance(image, Path):
        return load_image(image, max_side=DECODE_MAX_SIDE)
    from ..loading import _to_rgb_uint8

    return LoadedImage.from_pixels(_to_rgb_uint8(image, bgr=False), "PNG")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--data", type=Path, default=Path("../shared/data"))
    parser.add_argument("--out", type=Path, default=Path("runs/quality.csv"))
    parser.add_argument("--model", type=Path, default=Path("models/dr_lite0.json"))
    args = parser.parse_args()
    # The application's own gate: the same decoding, screening crop and measures.
    screener = Screener(load_settings(overrides={"model": args.model}))
    rows = []
    for source, label, image in labelled_images(args.data):
        _, measures, report = screener.quality_gate(loaded(image))
        verdict = ("not_fundus" if not report.is_fundus
                   else "gradable" if report.gradable else "ungradable")
        rows.append({"source": source, "label": label,
                     "name": image.name if isinstance(image, Path) else label,
                     "verdict": verdict, "reasons": "; ".join(report.reasons),
                     **dataclasses.asdict(measures)})
    args.out.parent.mkdir(parents=True, exist_ok=True)
    with open(args.out, "w", newline="") as handle:
        writer = csv.DictWriter(handle, fieldnames=list(rows[0]))
        writer.writeheader()
        writer.writerows(rows)
    print_agreement(rows)


def print_agreement(rows: list[dict]) -> None:
    """Agreement of the gate with the labels, per source ('usable' counts as gradable)."""
    print(f"{'source':12s} {'n':>4s} {'accuracy':>8s} {'sens(ungradable)':>16s} "
          f"{'spec':>6s} {'outliers->not fundus':>20s}")
    for source in sorted({r["source"] for r in rows}):
        sel = [r for r in rows if r["source"] == source]
        truth_bad = np.array([r["label"].split(":")[0] in ("bad", "outlier") for r in sel])
        flagged = np.array([r["verdict"] != "gradable" for r in sel])
        outliers = [r for r in sel if r["label"].startswith("outlier")]
        accuracy = float((truth_bad == flagged).mean())
        sens = float(flagged[truth_bad].mean()) if truth_bad.any() else float("nan")
        spec = float((~flagged[~truth_bad]).mean()) if (~truth_bad).any() else float("nan")
        out = (f"{sum(r['verdict'] == 'not_fundus' for r in outliers)}/{len(outliers)}"
               if outliers else "-")
        print(f"{source:12s} {len(sel):4d} {accuracy:8.3f} {sens:16.3f} {spec:6.3f} {out:>20s}")


if __name__ == "__main__":
    main()
