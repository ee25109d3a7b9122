"""How far brightening lowers P(referable): evidence for the bright-borderline rule (qg-17).

Usage: python benchmarks/bright_borderline.py [--data ../shared/data] [--model models/dr_lite0.json]

Internal validation photographs only (APTOS, EyePACS raw, IDRiD; never ``srahim_dev`` or
``messidor2_dev``): every referable photo that the model refers undamaged is brightened (lifted
mid-tones, gamma 0.8, 0.65, 0.5, 0.4, as a double gamma encoding or a viewer's brightening
does; exposure x1.25, x1.5) and screened again without the borderline rules. For the
brightened photos that still pass the gate it prints, by the retina's median green level, how
many fell below the referral threshold and how far P(referable) fell; then, for each candidate
level L, the share that fell at and above L against the share between 50 and L, and what a rule
at L would cost: the undamaged internal validation photos at or above L, and those of them
graded inside the band the margin gives (about 5 minutes on two cores).

The rule (docs/quality.md, qg-17, written down before the first run): a level L is justified
only if the share that fell at and above L is at least three times the share between 50 and L,
and at most 15% of the gradable undamaged photos are at or above L. The margin is the 95th
percentile of the fall of P(referable) at and above L, rounded up to 0.01, at most 0.22 (the
dim rule's). Both belong to the model: re-run this after any model change.
"""

from __future__ import annotations

import math
import sys
from functools import partial
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "tests" / "safety"))

import degradation as d  # noqa: E402
from fault_screening import (  # noqa: E402
    damaged_grades,
    gradable_internal_photos,
    parse_arguments,
    print_fall_table,
    screener_for,
)

from retina_screen.results import ImageResult  # noqa: E402

BRIGHTENINGS = {
    **{f"gamma {g}": partial(d.gamma, value=g) for g in (0.8, 0.65, 0.5, 0.4)},
    **{f"exposure x{f}": partial(d.scale_exposure, factor=f) for f in (1.25, 1.5)},
}
GREEN_LIMIT = 25.0  # the gate's own minimum green level (qg-3)
BINS = (25.0, 50.0, 70.0, 90.0, 110.0, 130.0, 150.0, 256.0)
CANDIDATES = (90.0, 100.0, 110.0, 120.0, 130.0)
MAX_MARGIN = 0.22


def green_level(result: ImageResult) -> float:
    """The retina's median green level, as the gate measured it."""
    return next(c.value for c in result.quality.checks
                if c.name == "exposure" and c.threshold == GREEN_LIMIT)


def main() -> int:
    args = parse_arguments(__doc__.splitlines()[0])
    screener = screener_for(args.model, borderline_rules=False)
    threshold = screener.model.manifest.referable_threshold
    # (green level, P undamaged, P brightened)
    data = damaged_grades(screener, args.data, BRIGHTENINGS.values(), green_level)
    clean = []  # (green level, P) of every gradable undamaged internal validation photo
    for _, result in gradable_internal_photos(screener, args.data):
        clean.append((green_level(result), result.grading.p_referable))
    undamaged = np.array(clean)
    print(f"\n{len(data)} brightened photos still gradable; threshold {threshold:.4f}; "
          f"{len(undamaged)} undamaged photos gradable\n")

    def undamaged_share(low: float, high: float) -> str:
        return f"{((undamaged[:, 0] >= low) & (undamaged[:, 0] < high)).mean():.1%}"

    print_fall_table(data, BINS, threshold, "green level",
                     extra=("undamaged photos", undamaged_share))
    print()
    for level in CANDIDATES:
        above = data[:, 0] >= level
        middle = (data[:, 0] >= 50.0) & ~above
        fell_above = (data[above, 2] < threshold).mean()
        fell_middle = (data[middle, 2] < threshold).mean()
        margin = min(MAX_MARGIN, math.ceil(np.quantile(data[above, 1] - data[above, 2], 0.95)
                                           * 100) / 100)
        bright = undamaged[:, 0] >= level
        in_band = bright & (undamaged[:, 1] >= threshold - margin) & (undamaged[:, 1] < threshold)
        caught = above & (data[:, 2] < threshold) & (data[:, 2] >= threshold - margin)
        meets = fell_above >= 3 * fell_middle and bright.mean() <= 0.15
        print(f"L {level:.0f}: fell at and above {fell_above:.1%} ({above.sum()} photos), "
              f"50-L {fell_middle:.1%} ({middle.sum()}); undamaged at and above "
              f"{bright.mean():.1%}; margin {margin:.2f}: undamaged refused {in_band.sum()}, "
              f"brightened falls inside the band {caught.sum()} of "
              f"{(above & (data[:, 2] < threshold)).sum()}; "
              f"{'meets' if meets else 'fails'} the rule")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
