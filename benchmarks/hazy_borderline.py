"""How far haze lowers P(referable): evidence for the hazy-borderline rule (qg-21).

Usage: python benchmarks/hazy_borderline.py [--data ../shared/data] [--model models/dr_lite0.json]
       [--measure haze_floor]

Internal validation photographs only (APTOS, EyePACS raw, IDRiD; never ``srahim_dev`` or
``messidor2_dev``): every referable photo that the model refers undamaged is hazed (media
opacity: a veil of scattered light of 0.2, 0.3 and 0.4, the first two also with a slight blur,
and a yellowed lens) and screened again without the borderline rules. For the hazed photos that
still pass the gate it prints, for each candidate measure (``vessels``, the contrast check's
vessel contrast, and ``focus``), how many fell below the referral threshold and how far
P(referable) fell, by bins of the measure; then, for each candidate level L, the share that fell
below L against the share at and above L, and what a rule at L would cost: the undamaged
internal validation photos below L, and those of them graded inside the band the margin gives
(about 6 minutes on two cores).

The rule (docs/quality.md, qg-21, written down before the first run): a (measure, level) is
justified only if the share that fell below L is at least three times the share at and above
L, and at most 15% of the gradable undamaged photos are below L. The margin is the 95th
percentile of the fall of P(referable) below L, rounded up to 0.01, at most 0.22. Among the
pairs that meet both, the one sending back the fewest undamaged photos is taken. Both belong to
the model: re-run this after any model change.

``--measure haze_floor`` (the rule's second form, written after the first run): the same for
the veil measure ``haze_floor``, which haze raises: "below L" reads "at or above L", and the
candidate levels are the undamaged gradable photos' 85th, 90th, 95th, 97.5th and 99th
percentiles of it.
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
    argument_parser,
    damaged_grades,
    gradable_internal_photos,
    print_fall_table,
    referred_internal_photos,
    screener_for,
)

from retina_screen.loading import LoadedImage  # noqa: E402
from retina_screen.results import Eye, ImageResult, ImageStatus  # noqa: E402

HAZES = {
    **{f"veil {v}": partial(d.media_opacity, veil=v) for v in (0.2, 0.3, 0.4)},
    "veil 0.2 + blur 0.1%": partial(d.media_opacity, veil=0.2, blur_percent=0.1),
    "veil 0.3 + blur 0.15%": partial(d.media_opacity, veil=0.3, blur_percent=0.15),
    "yellowed lens": d.yellowed_lens,
}
#: (check name, its threshold in the gate) -> the candidate measure it reads.
MEASURES = {"vessels": ("contrast", 12.0), "focus": ("focus", 1.0)}
BINS = {"vessels": (12.0, 14.0, 16.0, 18.0, 20.0, 24.0, 30.0, 1000.0),
        "focus": (1.0, 1.25, 1.5, 1.75, 2.0, 2.5, 3.0, 1000.0)}
CANDIDATES = {"vessels": (14.0, 16.0, 18.0, 20.0, 22.0),
              "focus": (1.25, 1.5, 1.75, 2.0, 2.25)}
MAX_MARGIN = 0.22


def measured(result: ImageResult) -> tuple[float, float]:
    """(vessels, focus) as the gate measured them."""
    return tuple(next(c.value for c in result.quality.checks
                      if c.name == name and c.threshold == limit)
                 for name, limit in MEASURES.values())


def haze_floor(crop: np.ndarray) -> float:
    """The veil measure of the second form (not part of the gate: no level met the rule): the
    green channel's 2nd percentile over its median inside the field away from its rim (the
    gate's own field mask and core, at its working size): how far the darkest retina (vessels
    on the disc, the fovea) is lifted towards the rest, as scattered light lifts it."""
    from retina_screen.quality import uint8_quantile, working_field

    field = working_field(crop)
    values = field.image[..., 1][field.core]
    if values.size < 100:
        return 0.0
    return uint8_quantile(values, 0.02) / max(uint8_quantile(values, 0.5), 1.0)


def haze_floor_rule(screener, data_dir: Path) -> int:  # noqa: ANN001
    """The second form: ``haze_floor``, levels from the undamaged photos' percentiles."""
    threshold = screener.model.manifest.referable_threshold

    def floor_of(rgb: np.ndarray) -> float:
        return haze_floor(screener.quality_gate(LoadedImage.from_pixels(rgb))[0].image)

    rows = []  # (haze_floor, P undamaged, P hazed) of the hazed copies still gradable
    for rgb, plain in referred_internal_photos(screener, data_dir):
        for haze in HAZES.values():
            hazed = haze(rgb)
            result = screener.screen_in_memory(hazed, Eye.LEFT)
            if result.status is ImageStatus.OK:
                rows.append((floor_of(hazed), plain.grading.p_referable,
                             result.grading.p_referable))
    data = np.array(rows)
    clean = []
    for rgb, result in gradable_internal_photos(screener, data_dir):
        clean.append((floor_of(rgb), result.grading.p_referable))
    undamaged = np.array(clean)
    levels = np.quantile(undamaged[:, 0], (0.85, 0.9, 0.95, 0.975, 0.99))
    print(f"\n{len(data)} hazed photos still gradable; threshold {threshold:.4f}; "
          f"{len(undamaged)} undamaged photos gradable; haze_floor of the hazed: median "
          f"{np.median(data[:, 0]):.3f}, undamaged median {np.median(undamaged[:, 0]):.3f}\n")
    bins = (0.0, *levels, 1.01)

    def undamaged_share(low: float, high: float) -> str:
        return f"{((undamaged[:, 0] >= low) & (undamaged[:, 0] < high)).mean():.1%}"

    print_fall_table(data, bins, threshold, "haze_floor", edges=".3f",
                     extra=("undamaged photos", undamaged_share))
    print()
    results = []
    for share, level in zip((85, 90, 95, 97.5, 99), levels, strict=True):
        above = data[:, 0] >= level
        fell_above = (data[above, 2] < threshold).mean() if above.any() else 0.0
        fell_below = (data[~above, 2] < threshold).mean() if (~above).any() else 0.0
        margin = (min(MAX_MARGIN, math.ceil(np.quantile(data[above, 1] - data[above, 2], 0.95)
                                            * 100) / 100) if above.any() else 0.0)
        hazy = undamaged[:, 0] >= level
        in_band = hazy & (undamaged[:, 1] >= threshold - margin) & (undamaged[:, 1] < threshold)
        caught = above & (data[:, 2] < threshold) & (data[:, 2] >= threshold - margin)
        meets = above.any() and fell_above >= 3 * fell_below and hazy.mean() <= 0.15
        results.append((meets, in_band.sum(), level, margin))
        print(f"L {level:.3f} (undamaged {share}th percentile): fell at and above "
              f"{fell_above:.1%} ({above.sum()} photos), below {fell_below:.1%} "
              f"({(~above).sum()}); undamaged at and above {hazy.mean():.1%}; margin "
              f"{margin:.2f}: undamaged refused {in_band.sum()}, hazed falls inside the band "
              f"{caught.sum()} of {(above & (data[:, 2] < threshold)).sum()}; "
              f"{'meets' if meets else 'fails'} the rule")
    chosen = sorted((cost, level, margin) for meets, cost, level, margin in results if meets)
    print("\nchosen:", f"haze_floor at or above {chosen[0][1]:.3f}, margin {chosen[0][2]:.2f}"
          if chosen else "none (the gap stays open)")
    return 0


def main() -> int:
    parser = argument_parser(__doc__.splitlines()[0])
    parser.add_argument("--measure", choices=("vessels-focus", "haze_floor"),
                        default="vessels-focus")
    args = parser.parse_args()
    screener = screener_for(args.model, borderline_rules=False)
    if args.measure == "haze_floor":
        return haze_floor_rule(screener, args.data)
    threshold = screener.model.manifest.referable_threshold
    # damaged_grades keeps one number per photo: the index of its (vessels, focus) here.
    measures: list[tuple[float, float]] = []

    def remembered(result: ImageResult) -> int:
        measures.append(measured(result))
        return len(measures) - 1

    rows = damaged_grades(screener, args.data, HAZES.values(), remembered)
    # (vessels, focus, P undamaged, P hazed)
    data_all = np.array([(*measures[int(index)], p0, p1) for index, p0, p1 in rows])
    clean = []  # (vessels, focus, P) of every gradable undamaged internal validation photo
    for _, result in gradable_internal_photos(screener, args.data):
        clean.append((*measured(result), result.grading.p_referable))
    undamaged_all = np.array(clean)
    print(f"\n{len(data_all)} hazed photos still gradable; threshold {threshold:.4f}; "
          f"{len(undamaged_all)} undamaged photos gradable")
    results = []
    for column, measure in enumerate(MEASURES):
        data = data_all[:, [column, 2, 3]]
        undamaged = undamaged_all[:, [column, 2]]

        def undamaged_share(low: float, high: float, undamaged=undamaged) -> str:
            return f"{((undamaged[:, 0] >= low) & (undamaged[:, 0] < high)).mean():.1%}"

        print()
        print_fall_table(data, BINS[measure], threshold, measure, edges=".2f",
                         extra=("undamaged photos", undamaged_share))
        print()
        for level in CANDIDATES[measure]:
            below = data[:, 0] < level
            fell_below = (data[below, 2] < threshold).mean() if below.any() else 0.0
            fell_above = (data[~below, 2] < threshold).mean() if (~below).any() else 0.0
            margin = (min(MAX_MARGIN, math.ceil(np.quantile(data[below, 1] - data[below, 2],
                                                            0.95) * 100) / 100)
                      if below.any() else 0.0)
            hazy = undamaged[:, 0] < level
            in_band = (hazy & (undamaged[:, 1] >= threshold - margin)
                       & (undamaged[:, 1] < threshold))
            caught = below & (data[:, 2] < threshold) & (data[:, 2] >= threshold - margin)
            meets = fell_below >= 3 * fell_above and hazy.mean() <= 0.15 and below.any()
            results.append((meets, in_band.sum(), measure, level, margin))
            print(f"{measure} L {level:.2f}: fell below {fell_below:.1%} ({below.sum()} photos), "
                  f"at and above {fell_above:.1%} ({(~below).sum()}); undamaged below "
                  f"{hazy.mean():.1%}; margin {margin:.2f}: undamaged refused {in_band.sum()}, "
                  f"hazed falls inside the band {caught.sum()} of "
                  f"{(below & (data[:, 2] < threshold)).sum()}; "
                  f"{'meets' if meets else 'fails'} the rule")
    chosen = sorted((cost, measure, level, margin) for meets, cost, measure, level, margin
                    in results if meets)
    print("\nchosen:", f"{chosen[0][1]} below {chosen[0][2]}, margin {chosen[0][3]:.2f}"
          if chosen else "none (the gap stays open)")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
