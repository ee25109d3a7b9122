"""What the fault benchmarks share: a screener for a (possibly unverified) model, and the
referable internal photographs it refers undamaged. A damaged photograph held in memory is
screened through the application's own pipeline with ``Screener.screen_in_memory``."""

from __future__ import annotations

import argparse
from collections.abc import Callable
from pathlib import Path

from retina_screen.engine import Screener
from retina_screen.inference import GradingModel
from retina_screen.results import Eye
from retina_screen.settings import load_settings

ROOT = Path(__file__).resolve().parents[1]


def argument_parser(description: str) -> argparse.ArgumentParser:
    """A parser with ``--data`` (the shared data folder) and ``--model`` (a manifest, trial
    models too), for a benchmark to add its own options to."""
    parser = argparse.ArgumentParser(description=description)
    parser.add_argument("--data", type=Path, default=ROOT.parent / "shared" / "data")
    parser.add_argument("--model", type=Path, default=ROOT / "models" / "dr_lite0.json")
    return parser


def parse_arguments(description: str) -> argparse.Namespace:
    """``--data`` and ``--model`` only."""
    return argument_parser(description).parse_args()


def screener_for(model: Path, borderline_rules: bool = True) -> Screener:
    """The application's screener with default settings; a model outside the trust anchor
    (e.g. a trial under ``runs/``) is screened as unverified."""
    settings = load_settings(use_environment=False, use_file=False, overrides={"model": model})
    return Screener(settings, model=GradingModel(model, allow_unverified=True),
                    borderline_rules=borderline_rules)


def referred_internal_photos(screener: Screener, data: Path):  # noqa: ANN201 - a generator
    """(decoded RGB, its result) for every referable internal validation photograph (APTOS,
    EyePACS raw, IDRiD; never the external checks) that ``screener`` refers undamaged; prints
    the count per source."""
    from retina_screen.evaluation import evaluation_sets
    from retina_screen.loading import load_image
    from retina_screen.preprocess import DECODE_MAX_SIDE
    from retina_screen.results import ImageStatus

    sets = evaluation_sets(data, sources=("aptos2019", "eyepacs_raw", "idrid"))
    for name, photos in sets.items():
        referred = 0
        for photo in photos:
            if not photo.referable:
                continue
            rgb = load_image(photo.path, max_side=DECODE_MAX_SIDE).pixels
            plain = screener.screen_in_memory(rgb, Eye.LEFT)
            if plain.status is ImageStatus.OK and plain.grading.referable:
                referred += 1
                yield rgb, plain
        print(f"{name}: {referred} referable photos referred undamaged", flush=True)


def gradable_internal_photos(screener: Screener, data: Path):  # noqa: ANN201 - a generator
    """(decoded RGB, its result) for every internal validation photograph (APTOS, EyePACS raw,
    IDRiD; never the external checks) that ``screener`` finds gradable undamaged: the cost
    side of the borderline benchmarks."""
    from retina_screen.evaluation import evaluation_sets
    from retina_screen.loading import load_image
    from retina_screen.preprocess import DECODE_MAX_SIDE
    from retina_screen.results import ImageStatus

    for photos in evaluation_sets(data, sources=("aptos2019", "eyepacs_raw", "idrid")).values():
        for photo in photos:
            rgb = load_image(photo.path, max_side=DECODE_MAX_SIDE).pixels
            result = screener.screen_in_memory(rgb, Eye.LEFT)
            if result.status is ImageStatus.OK:
                yield rgb, result


def print_fall_table(data, bins, threshold: float, measure: str, edges: str = ".0f",  # noqa: ANN001
                     extra: tuple[str, Callable[[float, float], str]] | None = None) -> None:
    """The borderline benchmarks' table: ``data`` rows (the measure, P(referable) undamaged, P
    damaged) of the damaged photos still gradable, by bins of the measure (``edges`` formats
    a bin's edges): how many fell below ``threshold`` and how far P fell. ``extra`` adds a
    column: its heading and (low, high) -> its cell."""
    import numpy as np

    heading = f" {extra[0]} |" if extra else ""
    print(f"| {measure} | photos | fell below the threshold | fall of P: median | 90th | 95th "
          f"| lowest P of those that fell |{heading}")
    print("|---|---|---|---|---|---|---|" + ("---|" if extra else ""))
    for low, high in zip(bins[:-1], bins[1:], strict=True):
        chosen = (data[:, 0] >= low) & (data[:, 0] < high)
        if not chosen.any():
            continue
        fall = data[chosen, 1] - data[chosen, 2]
        fell = data[chosen, 2] < threshold
        lowest = f"{data[chosen, 2][fell].min():.2f}" if fell.any() else "-"
        cell = f" {extra[1](low, high)} |" if extra else ""
        print(f"| {low:{edges}}-{high:{edges}} | {chosen.sum()} | {fell.sum()} ({fell.mean():.1%}) "
              f"| {np.median(fall):.3f} | {np.quantile(fall, 0.9):.3f} "
              f"| {np.quantile(fall, 0.95):.3f} | {lowest} |{cell}")


def damaged_grades(screener: Screener, data: Path, damages, measure):  # noqa: ANN001, ANN201
    """Rows (``measure`` of the damaged photo's result, P(referable) undamaged, P damaged) as
    an array, for every referred internal referable photo under each of ``damages`` (photo ->
    damaged photo, or None where it does not apply) that still passes the gate."""
    import numpy as np

    from retina_screen.results import ImageStatus

    rows = []
    for rgb, plain in referred_internal_photos(screener, data):
        for damage in damages:
            damaged = damage(rgb)
            if damaged is None:
                continue
            result = screener.screen_in_memory(damaged, Eye.LEFT)
            if result.status is ImageStatus.OK:
                rows.append((measure(result), plain.grading.p_referable,
                             result.grading.p_referable))
    return np.array(rows)
