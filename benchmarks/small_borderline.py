"""How far a smaller photograph lowers P(referable): the evidence for the quality gate's
small-borderline rule (qg-11).

Usage: python benchmarks/small_borderline.py [--data ../shared/data] [--model models/dr_lite0.json]

Internal validation photographs only (APTOS, EyePACS raw, IDRiD; never ``srahim_dev`` or
``messidor2_dev``): every referable photo that the model refers undamaged is downscaled so
that its long side is 768, 640, 512, 448, 384, 320, 288 and 256 px (``degradation.downscale``;
a photo already smaller is left as it is), saved as JPEG 90 (also at its own size, the
reference), and screened again without the borderline rules. For the copies that still pass
the gate, it prints, by field-of-view diameter as decoded (the gate's ``field_diameter``), how
many fell below the referral threshold and how far P(referable) fell. docs/quality.md's qg-11
table and the rule's numbers come from this script (about 8 minutes on two cores); re-run it
after any model change.
"""

from __future__ import annotations

import sys
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

LONG_SIDES = (None, 768, 640, 512, 448, 384, 320, 288, 256)  # None: the photo's own size
BINS = (200, 240, 280, 320, 400, 480, 600, np.inf)
CANDIDATES = (240, 280, 320, 400, 480)
REFERENCE_FROM = 600  # photos this large (camera resolution) give the reference share


def field_diameter(result: ImageResult) -> float:
    (value,) = [c.value for c in result.quality.checks if c.name == "resolution"]
    return float(value)


def main() -> int:
    args = parse_arguments(__doc__.splitlines()[0])
    screener = screener_for(args.model, borderline_rules=False)
    threshold = screener.model.manifest.referable_threshold

    def copy(long_side: int | None):  # noqa: ANN202
        """The photo saved as JPEG 90 at ``long_side`` (None: its own size; no copy where that
        would not be smaller, as the reference row has the photo)."""
        def damage(rgb: np.ndarray) -> np.ndarray | None:
            if long_side is not None and long_side >= max(rgb.shape[:2]):
                return None
            return d.jpeg(rgb if long_side is None else d.downscale(rgb, long_side), 90)
        return damage

    # (field diameter, P undamaged, P of the copy)
    data = damaged_grades(screener, args.data, [copy(s) for s in LONG_SIDES], field_diameter)
    fell = data[:, 2] < threshold
    print(f"\n{len(data)} copies still gradable; threshold {threshold:.4f}\n")
    print_fall_table(data, BINS, threshold, "field diameter (px)")
    reference = fell[data[:, 0] >= REFERENCE_FROM].mean()
    limit = max(2 * reference, 0.02)
    print(f"\nreference share (diameter >= {REFERENCE_FROM} px): {reference:.1%}; limit per bin "
          f"{limit:.1%}")
    for candidate in CANDIDATES:
        bins_above = [(low, high) for low, high in zip(BINS[:-1], BINS[1:], strict=True)
                      if low >= candidate]
        shares = [fell[(data[:, 0] >= low) & (data[:, 0] < high)].mean() for low, high in bins_above
                  if ((data[:, 0] >= low) & (data[:, 0] < high)).any()]
        below = data[:, 0] < candidate
        fall = data[below, 1] - data[below, 2]
        print(f"D = {candidate}: worst bin at or above {max(shares):.1%} "
              f"({'meets' if max(shares) <= limit else 'fails'} the limit); below D "
              f"{below.sum()} copies, {fell[below].sum()} fell "
              f"({fell[below].mean() if below.any() else 0:.1%}), 95th percentile of the fall "
              f"{np.quantile(fall, 0.95) if below.any() else float('nan'):.3f}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
