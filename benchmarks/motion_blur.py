"""Motion blur and the quality gate's ``sharpness_balance``: the evidence for its threshold.

Usage: python benchmarks/motion_blur.py [--data ../shared/data] [--model models/dr_lite0.json]

Internal validation photographs only (APTOS, EyePACS raw, IDRiD; never ``srahim_dev`` or
``messidor2_dev``). For the photos the gate passes (every other check), it prints the
distribution of ``sharpness_balance`` (least over greatest directional sharpness) per source,
and how many each candidate threshold would refuse. Then every referable photo the model refers
undamaged is smeared (``degradation.motion_blur``: 0.5, 0.75, 1 and 1.5% of the width, the
direction turning by 45 degrees from photo to photo) and screened again: for each strength, how
many the gate refuses in all, how many the balance check alone catches, and how many read not
referable. docs/quality.md's qg-5 table comes from this script (about 6 minutes on two cores).
"""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "tests" / "safety"))

import degradation as d  # noqa: E402
from fault_screening import parse_arguments, screen, screener_for  # noqa: E402

from retina_screen.evaluation import evaluation_sets  # noqa: E402
from retina_screen.loading import load_image  # noqa: E402
from retina_screen.preprocess import DECODE_MAX_SIDE  # noqa: E402
from retina_screen.results import ImageResult, ImageStatus  # noqa: E402

STRENGTHS = (0.5, 0.75, 1.0, 1.5)
CANDIDATES = (0.6, 0.65, 0.7, 0.72, 0.75)
CHECK = "motion"


def balance_and_others(result: ImageResult) -> tuple[float, bool]:
    """(sharpness_balance, whether every other check passed)."""
    checks = result.quality.checks if result.quality else ()
    balance = next((c.value for c in checks if c.name == CHECK), np.nan)
    others = result.quality is not None and result.quality.is_fundus and all(
        c.passed for c in checks if c.name != CHECK)
    return balance, others


def main() -> int:
    args = parse_arguments(__doc__.splitlines()[0])
    screener = screener_for(args.model, dim_borderline=False)
    sets = evaluation_sets(args.data, sources=("aptos2019", "eyepacs_raw", "idrid"))
    print("| source | photos passing every other check | balance: 1st pct | 5th pct | median | "
          + " | ".join(f"refused at {t}" for t in CANDIDATES) + " |")
    print("|---|---|---|---|---|" + "---|" * len(CANDIDATES))
    referred: list[np.ndarray] = []
    for name, photos in sets.items():
        values = []
        for photo in photos:
            rgb = load_image(photo.path, max_side=DECODE_MAX_SIDE).pixels
            result = screen(screener, rgb)
            balance, others = balance_and_others(result)
            if not others:
                continue
            values.append(balance)
            if photo.referable and result.grading is not None and result.grading.referable:
                referred.append(rgb)
        v = np.array(values)
        print(f"| {name} | {len(v)} | {np.quantile(v, 0.01):.3f} | {np.quantile(v, 0.05):.3f} | "
              f"{np.median(v):.3f} | "
              + " | ".join(f"{(v < t).sum()} ({(v < t).mean():.1%})" for t in CANDIDATES) + " |",
              flush=True)
    threshold = screener.model.manifest.referable_threshold
    print(f"\n{len(referred)} referable photos referred undamaged; smeared:\n")
    print("| smear (% of width) | refused by the gate | caught by the balance check alone "
          "| gradable and not referable | balance: median |")
    print("|---|---|---|---|---|")
    for strength in STRENGTHS:
        refused = balance_only = missed = 0
        values = []
        for index, rgb in enumerate(referred):
            result = screen(screener, d.motion_blur(rgb, strength, 45.0 * (index % 4)))
            balance, others = balance_and_others(result)
            values.append(balance)
            if result.status is not ImageStatus.OK:
                refused += 1
                balance_only += others
            elif result.grading.p_referable < threshold:
                missed += 1
        print(f"| {strength} | {refused} | {balance_only} | {missed} | "
              f"{np.median(values):.3f} |", flush=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
