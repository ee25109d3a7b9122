"""How far darkening lowers P(referable): the evidence for the quality gate's dim-borderline rule.

Usage: python benchmarks/dim_borderline.py [--data ../shared/data] [--model models/dr_lite0.json]

Internal validation photographs only (APTOS, EyePACS raw, IDRiD; never ``srahim_dev`` or
``messidor2_dev``): every referable photo that the model refers undamaged is darkened (exposure
x0.85, x0.7, x0.55, x0.45 and gamma 1.3, 1.6, 2.0) and screened again without the rule. For the
darkened photos that still pass the gate, it prints, by exposure headroom (how far the photo's
brightness and green level are above the gate's limits, as a fraction of the limit), how many
fell below the referral threshold and how far P(referable) fell. docs/quality.md's qg-4 table
comes from this script (about 4 minutes on two cores).

The rule derived from it (``data/quality_thresholds.json``, borderline rule ``dim_borderline``): a
photo is *dim* below the headroom under which the share of referred photos that fall below the
threshold stays well above that of well-exposed photos (headroom above 1); for model 2.3.0 that
is 0.75 (brightness 105, green level 43.75). The margin is the 95th percentile of the fall of
P(referable) below that level, rounded up to 0.01. Both belong to the model: re-run this after
any model change.
"""

from __future__ import annotations

import sys
from functools import partial
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "tests" / "safety"))

import degradation as d  # noqa: E402
from fault_screening import (  # noqa: E402
    damaged_grades,
    parse_arguments,
    print_fall_table,
    screener_for,
)

from retina_screen.results import ImageResult  # noqa: E402

DARKENINGS = {
    **{f"exposure x{f}": partial(d.scale_exposure, factor=f) for f in (0.85, 0.7, 0.55, 0.45)},
    **{f"gamma {g}": partial(d.gamma, value=g) for g in (1.3, 1.6, 2.0)},
}
EXPOSURE_LIMITS = {"brightness": 60.0, "green_level": 25.0}  # the gate's own minimums (qg-3)
BINS = (0.0, 0.1, 0.2, 0.35, 0.5, 0.75, 1.0, 1.5, np.inf)


def headroom(result: ImageResult) -> float:
    """min over the exposure limits of (value - limit) / limit."""
    values = {(c.name, c.threshold): c.value for c in result.quality.checks}
    return min((values[("exposure", limit)] - limit) / limit
               for limit in EXPOSURE_LIMITS.values())


def main() -> int:
    args = parse_arguments(__doc__.splitlines()[0])
    screener = screener_for(args.model, borderline_rules=False)
    threshold = screener.model.manifest.referable_threshold
    # (headroom, P undamaged, P darkened)
    data = damaged_grades(screener, args.data, DARKENINGS.values(), headroom)
    print(f"\n{len(data)} darkened photos still gradable; threshold {threshold:.4f}\n")
    print_fall_table(data, BINS, threshold, "exposure headroom", edges=".2f")
    for level in (0.35, 0.5, 0.75, 1.0):
        chosen = data[:, 0] < level
        fall = data[chosen, 1] - data[chosen, 2]
        above = data[~chosen, 2] < threshold
        print(f"headroom < {level}: {chosen.sum()} photos, {(data[chosen, 2] < threshold).sum()} "
              f"fell below ({(data[chosen, 2] < threshold).mean():.1%}; above it {above.mean():.1%}"
              f"), 95th percentile of the fall {np.quantile(fall, 0.95):.3f}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
