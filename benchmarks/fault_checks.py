"""The evidence for the thresholds of the quality gate's fault checks (motion blur, noise,
channel registration, double image, posterisation, interlaced rows, resolution, compression,
smudge, file quality, earlier compression, palette, texture, vessel tree, and qg-3's sharpness
re-checked).

Usage: python benchmarks/fault_checks.py --check motion|noise|registration|double_image|
       posterisation|interlace|resolution|compression|smudge|file_quality|earlier_compression|
       palette|sharpness|camera_sharpness|camera_grain|colour_balance|
       colour_hue|texture|vessel_tree
       [--data ../shared/data] [--model models/dr_lite0.json]

Internal validation photographs only (APTOS, EyePACS raw, IDRiD; never ``srahim_dev`` or
``messidor2_dev``). For the photos the gate passes (every other check), it prints the
distribution of the check's measure per source and how many each candidate threshold would
refuse. Then every referable photo the model refers undamaged is damaged at several strengths
and screened again with the check switched off, so that each candidate can be judged: how many
photos it leaves to the grader (every other check passed, the measure within the candidate)
that read not referable. docs/quality.md's qg-5, qg-6 and qg-7 tables come from this script
(about 5 minutes per check on two cores).

- ``motion`` (``sharpness_balance``, kind min): a straight smear of 0.5-1.5% of the width
  (``degradation.motion_blur``), the direction turning by 45 degrees from photo to photo.
- ``noise`` (``noise``, kind max): Gaussian sensor noise of 4-16 grey levels
  (``degradation.sensor_noise``), then JPEG quality 85 as a camera writes it.
- ``registration`` (``channel_shift``, kind max): the red channel moved by 0.1-0.35% of the
  width and the blue as far the other way (``degradation.channel_misregistration``), the
  direction turning by 45 degrees from photo to photo.
- ``double_image`` (``double_image``, kind max): the photo averaged with itself moved by
  0.5-1.5% of the width (``degradation.double_exposure``), the direction turning by 45 degrees
  from photo to photo.
- ``posterisation`` (``level_comb``, kind max): the photo saved with 6, 5, 4 and 3 bits per
  channel (``degradation.posterise``; the strength is the number of bits), then JPEG quality
  90.
- ``interlace`` (``interlace``, kind max): every other row moved sideways by 1-4 pixels of the
  decoded photo (``degradation.interlace``), then JPEG quality 90.
- ``compression`` (``block_edges``, kind max): the photo as decoded saved as JPEG at quality
  50, 40, 30 and 20 (``degradation.jpeg``; the strength is the quality).
- ``smudge`` (``centre_detail``, kind min): the central disc of 0.3 of the height blurred with
  a sigma of 0.6-2% of the width and blended in softly (``degradation.smudge``; the strength
  is the sigma in percent).
- ``file_quality`` (``jpeg_quality``, kind min): photos decoded at 768 px or more (the
  camera-resolution sources) enlarged to a 3872 px long side, saved as JPEG at quality 40, 30,
  20, 15 and 10, and loaded from those bytes as the engine loads a file (quarter-scale
  decode; ``camera_size_jpeg``). The clean photos' values come from their own files' headers.
- ``earlier_compression`` (``earlier_jpeg_quality``, kind min): as ``file_quality``, then the
  file decoded and saved again at quality 95, same size (``degradation.resaved_jpeg``), and
  loaded from those bytes as the engine loads a file.
- ``palette`` (``palette_colours``, kind min): the photo as decoded saved as a palette PNG of
  256, 128, 64 and 16 colours (``degradation.palette_png``; the strength is the number of
  colours), and loaded from those bytes as the engine loads a file.
- ``sharpness`` (``sharpness``, kind min; qg-3's measure, re-checked for qg-18): a Gaussian
  blur of 0.2-0.4% of the long side (``degradation.defocus``; the strength is the percent).
- ``camera_sharpness`` (``camera_sharpness``, kind min; qg-18): the same, for the
  sharpness of photos at camera resolution only (a field of view of 400 px or more).
- ``camera_grain`` (``camera_grain``, kind min; qg-19 candidate): non-local-means noise
  reduction (OpenCV ``fastNlMeansDenoisingColored``, h 3-10; the strength is h) of photos at
  camera resolution.
- ``colour_balance`` (``redness``, kind min; qg-23): a grey-world white balance blended with
  the original at 100%, 75%, 50% and 25% (``degradation.grey_world``; the strength is the
  share).
- ``colour_hue`` (``hue_spread``, kind max; qg-23's second rule): each colour channel
  equalised on its own over the whole frame (``degradation.channels_equalised``), blended
  with the original at 100%, 75%, 50% and 25%.
- ``texture`` (``texture``, kind min; qg-24): the check's cost, not its target: sensor noise
  of 4-16 grey levels then JPEG 85, as the ``noise`` check's damage (noise fills the finest
  scale, where a drawing's only detail is). Its target, drawings of a fundus
  (``safety_helpers.drawn_fundus``: 16 drawings at noise 1.5, 3 and 4.5, saved as PNG and as
  JPEG 92), is screened through the application's file path in a third table.
- ``vessel_tree`` (``vessel_tree``, kind min; qg-25): the check's cost: a defocus of 0.2-0.4%
  of the side (``degradation.defocus``, qg-3's damage), which fades the vessels. Its target,
  textured orange discs without vessels (``safety_helpers.textured_disc``: 16 discs at noise
  1.5 and 3, saved as PNG and as JPEG 92), is screened through the application's file path in
  a third table.
- ``resolution`` (``field_diameter``, kind min): the photo downscaled so that its long side is
  384, 320, 256 or 192 px (``degradation.downscale``; larger photos only), then JPEG 90.
"""

from __future__ import annotations

import math
import sys
from collections.abc import Callable
from dataclasses import dataclass, replace
from pathlib import Path

import cv2
import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "tests" / "safety"))

import degradation as d  # noqa: E402
from fault_screening import argument_parser, screener_for  # noqa: E402

from retina_screen.evaluation import evaluation_sets  # noqa: E402
from retina_screen.loading import LoadedImage, load_image, load_image_bytes  # noqa: E402
from retina_screen.preprocess import DECODE_MAX_SIDE  # noqa: E402
from retina_screen.quality import Rule  # noqa: E402
from retina_screen.results import Eye, ImageResult, ImageStatus, QualityCheck  # noqa: E402


def camera_size_jpeg(rgb: np.ndarray, quality: int,
                     resaved_at: int | None = None) -> LoadedImage | None:
    """The photo as a camera-size JPEG file saved at ``quality`` (``degradation``), and then
    saved again at ``resaved_at`` if given, loaded from its bytes as the engine loads a file;
    None for a photo decoded under ``DECODE_MAX_SIDE`` (an export, not a camera-resolution
    photo)."""
    if max(rgb.shape[:2]) < DECODE_MAX_SIDE:
        return None
    data = d.camera_size_jpeg(rgb, quality)
    if resaved_at is not None:
        data = d.resaved_jpeg(data, resaved_at)
    return load_image_bytes(data, max_side=DECODE_MAX_SIDE)


@dataclass(frozen=True)
class FaultCheck:
    measure: str  # the quality measure its rule reads (a rule's check name can be shared)
    kind: str  # "min": refused below the threshold; "max": above it
    candidates: tuple[float, ...]
    strengths: tuple[float, ...]
    #: (photo, strength, photo index) -> the damaged photo, as pixels or as loaded from a
    #: file's bytes; None where the damage does not apply to that photo
    damage: Callable[[np.ndarray, float, int], np.ndarray | LoadedImage | None]


CHECKS = {
    "motion": FaultCheck("sharpness_balance", "min", (0.6, 0.65, 0.7, 0.72, 0.75),
                         (0.5, 0.75, 1.0, 1.5),
                         lambda rgb, s, i: d.motion_blur(rgb, s, 45.0 * (i % 4))),
    "noise": FaultCheck("noise", "max", (0.8, 1.0, 1.2, 1.5, 2.0), (4.0, 8.0, 12.0, 16.0),
                        lambda rgb, s, i: d.jpeg(d.sensor_noise(rgb, s, seed=i), 85)),
    "registration": FaultCheck("channel_shift", "max", (0.4, 0.5, 0.6, 0.8, 1.0),
                               (0.1, 0.15, 0.25, 0.35),
                               lambda rgb, s, i: d.channel_misregistration(rgb, s,
                                                                           45.0 * (i % 4))),
    "double_image": FaultCheck("double_image", "max", (0.1, 0.12, 0.15, 0.2, 0.25),
                               (0.5, 0.75, 1.0, 1.5),
                               lambda rgb, s, i: d.double_exposure(rgb, s, 45.0 * (i % 4))),
    "posterisation": FaultCheck("level_comb", "max", (0.4, 0.45, 0.5, 0.6, 0.7), (6, 5, 4, 3),
                                lambda rgb, s, i: d.jpeg(d.posterise(rgb, int(s)), 90)),
    "interlace": FaultCheck("interlace", "max", (1.4, 1.5, 1.6, 1.8, 2.0), (1, 2, 3, 4),
                            lambda rgb, s, i: d.jpeg(d.interlace(rgb, int(s)), 90)),
    "smudge": FaultCheck("centre_detail", "min", (0.45, 0.5, 0.55, 0.6, 0.65), (0.6, 0.9, 1.2, 2.0),
                         lambda rgb, s, i: d.smudge(rgb, 0.3, s / 100)),
    "compression": FaultCheck("block_edges", "max", (2.0, 2.3, 2.6, 3.0, 3.5), (50, 40, 30, 20),
                              lambda rgb, s, i: d.jpeg(rgb, int(s))),
    "file_quality": FaultCheck("jpeg_quality", "min", (20.0, 25.0, 30.0, 35.0, 40.0),
                               (40, 30, 20, 15, 10),
                               lambda rgb, s, i: camera_size_jpeg(rgb, int(s))),
    "earlier_compression": FaultCheck("earlier_jpeg_quality", "min", (20.0, 25.0, 30.0, 35.0, 40.0),
                                      (40, 30, 20, 15, 10),
                                      lambda rgb, s, i: camera_size_jpeg(rgb, int(s), 95)),
    "palette": FaultCheck("palette_colours", "min", (17.0, 65.0, 129.0, 257.0, 4097.0),
                          (256, 128, 64, 16),
                          lambda rgb, s, i: load_image_bytes(d.palette_png(rgb, int(s)))),
    "sharpness": FaultCheck("sharpness", "min", (0.27, 0.35, 0.40, 0.45, 0.50),
                            (0.2, 0.25, 0.3, 0.35, 0.4),
                            lambda rgb, s, i: d.defocus(rgb, s)),
    "camera_sharpness": FaultCheck("camera_sharpness", "min", (0.35, 0.40, 0.45, 0.50),
                                   (0.2, 0.25, 0.3, 0.35, 0.4),
                                   lambda rgb, s, i: d.defocus(rgb, s)),
    "camera_grain": FaultCheck("camera_grain", "min", (0.10, 0.12, 0.14, 0.16, 0.18),
                               (3, 5, 7, 10),
                               lambda rgb, s, i: cv2.fastNlMeansDenoisingColored(
                                   rgb, None, s, s, 7, 21)),
    "colour_balance": FaultCheck("redness", "min", (0.34, 0.35, 0.36, 0.37, 0.38),
                                 (1.0, 0.75, 0.5, 0.25),
                                 lambda rgb, s, i: d.grey_world(rgb, s)),
    "colour_hue": FaultCheck("hue_spread", "max", (0.06, 0.08, 0.10, 0.12, 0.15),
                             (1.0, 0.75, 0.5, 0.25),
                             lambda rgb, s, i: d.channels_equalised(rgb, s)),
    "texture": FaultCheck("texture", "min", (0.65, 0.70, 0.75, 0.80, 0.85), (4.0, 8.0, 12.0, 16.0),
                          lambda rgb, s, i: d.jpeg(d.sensor_noise(rgb, s, seed=i), 85)),
    "vessel_tree": FaultCheck("vessel_tree", "min", (0.15, 0.20, 0.25, 0.30), (0.2, 0.3, 0.4),
                              lambda rgb, s, i: d.defocus(rgb, s)),
    "resolution": FaultCheck("field_diameter", "min", (160.0, 180.0, 200.0, 220.0, 240.0),
                             (384, 320, 256, 192),
                             lambda rgb, s, i: d.jpeg(d.downscale(rgb, int(s)), 90)),
}


def palette_files(data: Path) -> str:
    """How many of the shared data's photos store their pixels with a palette, of how many."""
    from PIL import Image

    photos = palette = 0
    for path in sorted(data.rglob("*")):
        if path.suffix.lower() not in (".jpg", ".jpeg", ".png", ".tif", ".tiff", ".bmp"):
            continue
        with Image.open(path) as header:
            photos += 1
            palette += header.mode in ("P", "PA", "1")
    return f"{palette} of {photos}"


def the_rule(screener, measure: str) -> Rule:  # noqa: ANN001
    """The gate's quality rule that reads ``measure``."""
    (rule,) = [r for r in screener.thresholds.quality_rules if r.measure == measure]
    return rule


def without_check(screener, measure: str) -> None:  # noqa: ANN001
    """Switch the rule that reads ``measure`` off in ``screener`` (it can never refuse), so
    that every damaged photo the other checks pass is graded and each candidate threshold can
    be judged."""
    thresholds = screener.thresholds
    rules = tuple(replace(rule, threshold=-math.inf if rule.kind == "min" else math.inf)
                  if rule.measure == measure else rule for rule in thresholds.quality_rules)
    screener.thresholds = replace(thresholds, quality_rules=rules)


def value_and_others(result: ImageResult, rule: Rule) -> tuple[float, bool]:
    """(the value of ``rule``'s check, switched off or not, whether every other check
    passed)."""
    def ours(check: QualityCheck) -> bool:
        return check.name == rule.check and check.threshold in (rule.threshold, math.inf,
                                                                 -math.inf)

    checks = result.quality.checks if result.quality else ()
    value = next((c.value for c in checks if ours(c)), np.nan)
    others = result.quality is not None and result.quality.is_fundus and all(
        c.passed for c in checks if not ours(c))
    return value, others


def main() -> int:
    parser = argument_parser(__doc__.splitlines()[0])
    parser.add_argument("--check", choices=sorted(CHECKS), required=True)
    args = parser.parse_args()
    spec = CHECKS[args.check]
    screener = screener_for(args.model, borderline_rules=False)
    rule = the_rule(screener, spec.measure)

    def refused(v: np.ndarray, t: float) -> np.ndarray:
        return v < t if spec.kind == "min" else v > t

    if args.check == "palette":
        print(f"photos of {args.data} stored with a palette: {palette_files(args.data)}\n")
    sets = evaluation_sets(args.data, sources=("aptos2019", "eyepacs_raw", "idrid"))
    print(f"| source | photos passing every other check | {args.check}: 1st pct | 5th pct | "
          "median | 95th pct | 99th pct | "
          + " | ".join(f"refused at {t}" for t in spec.candidates) + " |")
    print("|---|---|---|---|---|---|---|" + "---|" * len(spec.candidates))
    referred: list[np.ndarray] = []
    for name, photos in sets.items():
        values = []
        for photo in photos:
            loaded = load_image(photo.path, max_side=DECODE_MAX_SIDE)
            rgb = loaded.pixels
            result = screener.screen_in_memory(loaded, Eye.LEFT)
            value, others = value_and_others(result, rule)
            if not others:
                continue
            values.append(value)
            if photo.referable and result.grading is not None and result.grading.referable:
                referred.append(rgb)
        v = np.array(values)
        quantiles = " | ".join(f"{np.quantile(v, q):.3f}" for q in (0.01, 0.05, 0.5, 0.95, 0.99))
        print(f"| {name} | {len(v)} | {quantiles} | "
              + " | ".join(f"{refused(v, t).sum()} ({refused(v, t).mean():.1%})"
                           for t in spec.candidates) + " |", flush=True)
    threshold = screener.model.manifest.referable_threshold
    without_check(screener, spec.measure)
    print(f"\n{len(referred)} referable photos referred undamaged; damaged, then screened with "
          f"the {args.check} check off. Per candidate: refused by the gate / gradable and not "
          "referable (missed):\n")
    print(f"| strength | photos damaged | {args.check}: median | missed without the check | "
          + " | ".join(f"at {t}" for t in spec.candidates) + " |")
    print("|---|---|---|---|" + "---|" * len(spec.candidates))
    for strength in spec.strengths:
        values, others, missed = [], [], []
        for index, rgb in enumerate(referred):
            damaged = spec.damage(rgb, strength, index)
            if damaged is None:
                continue
            result = screener.screen_in_memory(damaged, Eye.LEFT)
            value, passed_others = value_and_others(result, rule)
            values.append(value)
            others.append(passed_others and result.status is ImageStatus.OK)
            missed.append(result.grading is not None
                          and result.grading.p_referable < threshold)
        v, gradable, low = np.array(values), np.array(others), np.array(missed)
        cells = []
        for t in spec.candidates:
            kept = gradable & ~refused(v, t)
            cells.append(f"{(~kept).sum()} / {(kept & low).sum()}")
        print(f"| {strength} | {len(v)} | {np.median(v):.3f} | {(gradable & low).sum()} | "
              + " | ".join(cells) + " |", flush=True)
    if args.check == "texture":
        look_alikes_table(screener, rule, spec.candidates, "drawings of a fundus",
                          "drawn_fundus", (1.5, 3.0, 4.5))
    if args.check == "vessel_tree":
        look_alikes_table(screener, rule, spec.candidates, "textured discs without vessels",
                          "textured_disc", (1.5, 3.0))
    return 0


def look_alikes_table(screener, rule: Rule, candidates: tuple[float, ...], what: str,  # noqa: ANN001
                      maker: str, noises: tuple[float, ...]) -> None:
    """A check's target: images that are not retinas (``safety_helpers.<maker>``: 16 seeds
    at each noise), saved as PNG and JPEG 92 and screened as the application screens a file,
    with the check off; per candidate, how many are still graded."""
    import tempfile

    import safety_helpers

    make = getattr(safety_helpers, maker)
    rows = []
    with tempfile.TemporaryDirectory() as folder:
        for seed in range(16):
            for noise in noises:
                rgb = make(seed, noise)
                for suffix, options in ((".png", []), (".jpg", [cv2.IMWRITE_JPEG_QUALITY, 92])):
                    path = Path(folder) / f"{maker}{seed}_{noise}{suffix}"
                    cv2.imwrite(str(path), rgb[..., ::-1], options)
                    result = screener.screen_image(path, Eye.LEFT, keep_display=False)
                    value, others = value_and_others(result, rule)
                    rows.append((value, others and result.status is ImageStatus.OK,
                                 result.grading is not None and not result.grading.referable))
    v = np.array([r[0] for r in rows])
    graded = np.array([r[1] for r in rows])
    not_referable = np.array([r[2] for r in rows])
    print(f"\n{len(rows)} {what} (16 x noise {noises} x PNG, JPEG 92), "
          f"screened with the {rule.check} check off: {graded.sum()} graded, "
          f"{(graded & not_referable).sum()} of them not referable; {rule.measure} of the graded "
          f"ones {np.nanmin(v[graded]) if graded.any() else np.nan:.3f}-"
          f"{np.nanmax(v[graded]) if graded.any() else np.nan:.3f}.\n")
    print(f"| candidate | {what}: still graded | of them not referable |")
    print("|---|---|---|")
    for t in candidates:
        kept = graded & ~(v < t)
        print(f"| {t} | {kept.sum()} | {(kept & not_referable).sum()} |", flush=True)


if __name__ == "__main__":
    raise SystemExit(main())
