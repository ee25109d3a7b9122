"""The image quality gate: pure functions over the field-of-view crop.

Each measure is computed inside the field of view at a fixed working resolution
(``WORKING_SIDE``), so values do not depend on the camera's pixel count. Thresholds live in
``data/quality_thresholds.json`` (versioned, calibrated by
``python -m retina_screen.training.calibrate_quality`` on labelled DRIMDB and EyeQ data; see
``docs/quality.md``).
"""

from __future__ import annotations

import json
import logging
from collections.abc import Iterable
from dataclasses import dataclass, fields
from functools import lru_cache
from pathlib import Path

import cv2
import numpy as np

from .errors import ConfigError
from .fov import FieldOfView, FovCrop, channel_max, illuminated_mask
from .preprocess import SCREENING_CROP_SIDE
from .results import QualityCheck, QualityReport

WORKING_SIDE = SCREENING_CROP_SIDE  # the quality gate measures the model-input crop
log = logging.getLogger(__name__)

THRESHOLDS_FILE = Path(__file__).resolve().parent / "data" / "quality_thresholds.json"
#: Field of view across, in pixels as decoded, from which a photo is at camera resolution: its
#: sharpness at the working size then measures its focus, not an enlargement (qg-18).
CAMERA_FIELD = 400.0
#: ``camera_grain`` of a photo under ``CAMERA_FIELD`` (the largest grain 8-bit values can show).
NOT_MEASURED_GRAIN = 255.0
#: A JPEG file at camera resolution whose own and earlier quality both read at least this has
#: its compression accounted for by the file itself (qg-14, qg-15), and its blocks are not
#: held against it (``unexplained_block_edges``; docs/quality.md, qg-20).
MODERATE_JPEG_QUALITY = 70.0


@dataclass(frozen=True)
class QualityMeasures:
    """Raw measurements of one image (before thresholds)."""

    coverage: float  # share of the FOV circle that is illuminated and inside the frame
    centring: float  # FOV centre offset from the frame centre, in FOV radii
    dark_border: float  # share of the frame border that is dark
    redness: float  # mean R / mean(R+G+B) inside the FOV
    hue_spread: float  # share of FOV pixels whose hue is outside the fundus range (red-yellow)
    brightness: float  # mean of the max channel inside the FOV, 0-255
    saturated: float  # share of FOV pixels with a channel at >= 250
    dark_area: float  # share of the FOV darker than 25% of its median brightness
    unevenness: float  # coefficient of variation of the low-pass brightness across the FOV
    focus: float  # high-frequency energy of the green channel relative to its mean
    vessels: float  # mean of the strongest 5% black-hat (vessel) responses relative to mean
    chroma: float  # mean colour saturation inside the FOV, 0-255 (0 for a grey-scale image)
    #: Least-covered half of the FOV circle (left, right, upper, lower): share present.
    field_present: float = 1.0
    #: Mean red / mean green inside the FOV: a colour fundus photo is red-dominant (> 1);
    #: red-free (green-only) and monochrome exports are not (<= 1).
    red_green: float = 2.0
    #: Median green level of the retina, 0-255: the green channel carries the contrast of
    #: haemorrhages, microaneurysms and exudates, and is the first to sink into noise.
    green_level: float = 128.0
    #: Share of the central field (within 85% of the radius) whose low-pass brightness is below
    #: half the field's median: a shadow (eyelashes, eyelid, small pupil) over part of the field.
    shadowed: float = 0.0
    #: Share of the FOV covered by thin bright strokes of an unnatural colour (white, green,
    #: blue, cyan): text or overlay graphics burned into the retinal image.
    overlay: float = 0.0
    #: Fine detail of the green channel relative to its coarse detail (band 1-2 px over band
    #: 4-8 px at the working size): defocus removes the fine band first, whatever the photo's
    #: contrast, so a slightly defocused photo whose small lesions are gone is caught.
    sharpness: float = 1.0
    #: ``sharpness`` of a photo whose field of view is at least ``CAMERA_FIELD`` px across as
    #: decoded (a camera's photo or its full-size export), 1.0 (not measured) for a smaller
    #: one, whose sharpness at the working size is that of its enlargement (qg-18).
    camera_sharpness: float = 1.0
    #: Least over greatest of the sharpness taken along the rows, the columns and both
    #: diagonals: motion blur (the eye moving during the exposure) removes fine detail in one
    #: direction only, which the all-direction sharpness averages away. Each direction's
    #: fine-over-coarse ratio cancels how many vessels run that way, so a steady photo keeps
    #: the four alike (about 0.9) whatever its anatomy.
    sharpness_balance: float = 1.0
    #: Grain of the green channel in grey levels at the working size: the mean of the smaller
    #: 80% of the finest diagonal (2x2 Haar) details inside the field, where vessels and edges
    #: sit in the largest 20%. High sensor gain (a weak flash made up for in the camera) buries
    #: microaneurysms and small haemorrhages in grain.
    noise: float = 0.0
    #: ``noise`` of a photo at camera resolution (``CAMERA_FIELD``), ``NOT_MEASURED_GRAIN`` for
    #: a smaller one: a camera photo without any grain has been through noise reduction, which
    #: erases microaneurysms and dot haemorrhages with it.
    camera_grain: float = NOT_MEASURED_GRAIN
    #: How far apart, in pixels at the working size, the fine detail of the red and the green
    #: channels sits: the peak of their normalised cross-correlation, refined to a fraction of
    #: a pixel. A misaligned sensor or lateral chromatic aberration gives every vessel and
    #: lesion a coloured fringe, which reads as texture rather than as a lesion. Cameras' own
    #: offsets are a fraction of a pixel.
    channel_shift: float = 0.0
    #: Height of the strongest isolated secondary peak (2.5-13.5 px from the origin, at the
    #: working size) of the normalised autocorrelation of the green channel's finest detail,
    #: above the lowest point between it and the origin: a double image (a ghost or double
    #: exposure) repeats every vessel and lesion at one offset, at half the contrast. Vessels,
    #: blur and noise make correlation that falls away from the origin, not a second peak.
    double_image: float = 0.0
    #: How comb-like the green channel's histogram is inside the field: the total difference
    #: between the histogram smoothed over 5 and over 17 grey levels, relative to the pixel
    #: count (saturated levels and the outer 0.5% at each end left out). A photo saved with
    #: too few brightness levels (posterised: 16 per channel) piles its pixels on a few
    #: levels with empty ones between; a natural histogram is smooth at that scale.
    level_comb: float = 0.0
    #: How much the green channel alternates from row to row, against from column to column,
    #: in the photograph as decoded (before the crop is resampled): the mean absolute
    #: difference between each row and the mean of its two neighbours, over the same for
    #: columns, in a central square of the field. Interlaced rows (every other row displaced:
    #: a video frame's two fields out of step, or a line-scan fault) make every vessel and
    #: lesion a comb; natural detail has no such preference (about 0.6-1.35).
    interlace: float = 1.0
    #: Diameter of the field of view in the photograph as decoded, in pixels (a camera JPEG
    #: decoded at a reduced scale still has at least ``DECODE_MAX_SIDE`` of them across): a
    #: thumbnail or heavily downscaled export has too few pixels for microaneurysms and small
    #: haemorrhages, whatever the 512 px crop it is enlarged to.
    field_diameter: float = 1000.0
    #: JPEG blocks in the photograph as decoded: the mean luma step across the 8 px block
    #: boundaries (4 px for a photo decoded at half scale; the larger of the two) over the mean
    #: step elsewhere, in a central square of the field. Heavy compression leaves flat blocks
    #: with steps between them and wipes out the finest detail (microaneurysms); an
    #: uncompressed photo reads about 1, camera JPEGs up to about 2.7 (EyePACS), quality 40
    #: copies 2.4-8 (docs/quality.md, qg-12).
    block_edges: float = 1.0
    #: ``block_edges`` where the file does not account for them: 1.0 for a photo read from a
    #: JPEG file (or a DICOM file's JPEG frame) at camera resolution (``CAMERA_FIELD``) whose
    #: own and earlier quality both read at least ``MODERATE_JPEG_QUALITY``, whose compression
    #: hides no lesion there; ``block_edges`` for every other photo (lossless files, which may
    #: hold a decoded JPEG, smaller photos and harder-compressed files; qg-20).
    unexplained_block_edges: float = 1.0
    #: Fine detail at the centre of the field against a ring around it: the median absolute
    #: difference between the green channel and its blur (sigma 1.5 px at the working size)
    #: inside 0.3 field radii over the same between 0.45 and 0.8 radii. A smudge or smear over
    #: the centre of the lens blurs the macula, where the lesions that matter most lie, while
    #: the rest of the field stays sharp; clean photos read about 0.6-1.5.
    centre_detail: float = 1.0
    #: The quality the JPEG file was saved at, from its header's luminance quantisation table
    #: (IJG scale, 1-100; ``loading.jpeg_file_quality``); 100 for lossless formats and photos
    #: not read from a file. It sees compression whatever the decode scale, where
    #: ``block_edges`` cannot (a camera-size JPEG decoded at quarter scale; docs/quality.md, qg-14).
    jpeg_quality: float = 100.0
    #: The quality of an earlier, harder JPEG compression that the file's block means still show
    #: after a later save at a higher quality (``loading.earlier_jpeg_quality``): 100 where they
    #: show none, and for other formats and photos not read from a file. It sees a photo that
    #: was compressed hard and then saved again, where ``jpeg_quality`` reads the last save only
    #: (docs/quality.md, qg-15).
    earlier_jpeg_quality: float = 100.0
    #: The number of colours of the palette the file stores its pixels with (a palette PNG,
    #: BMP or TIFF, as image optimisers and GIF-like exports write them; at most 256 colours,
    #: whose dithering no pixel measure tells from grain); ``TRUE_COLOURS`` for files without
    #: a palette and photos not read from a file (docs/quality.md, qg-16).
    palette_colours: float = 16_777_216.0
    #: Texture between the vessels: the median absolute mid-scale detail of the green channel
    #: (the ``focus`` band: blurred by 1 px, minus that blurred by 4 px more) over the median
    #: absolute finest detail (the channel minus its 1 px blur), in the field's core. A retina
    #: has texture at every scale (choroid, nerve fibre layer); a drawing, a printed picture or
    #: a model eye has flat ground between its lines, and what fine detail it has is noise,
    #: whose energy sits in the finest scale (docs/quality.md, qg-24).
    texture: float = 10.0
    #: How far the retina's vessel tree reaches: the strongest 10% of the dark-line (black-hat)
    #: responses of the green channel in the field's core, the extent (longer side of the
    #: bounding box) of their largest connected piece, over the core's diameter. Vessels form
    #: one tree across most of the field; a planet's or a ball's spots and texture break up
    #: into short pieces (docs/quality.md, qg-25).
    vessel_tree: float = 1.0
    #: The largest illuminated region of the frame apart from the field of view, over the
    #: field's (``FieldOfView.other_field``): a second photograph in the same file reads about
    #: 1, a single photograph with burned-in text a few hundredths (docs/quality.md, qg-26).
    other_field: float = 0.0
    #: The frame's darkest corner over its centre (``FieldOfView.corner_light``): a photograph
    #: showing no edge of its field anywhere (every corner lit) may be a crop inside the field,
    #: part of the retina only (docs/quality.md, qg-27).
    corner_light: float = 0.0
    #: The least light-grey of the frame's four corners, in a frame with a dark surround of its
    #: own (``FieldOfView.light_surround``): a photograph on a page or in a screenshot
    #: (docs/quality.md, qg-28).
    light_surround: float = 0.0
    #: The photographs the file holds (``LoadedImage.photographs``: a DICOM file's frames, a
    #: TIFF file's full-resolution pages), of which only the first is screened (qg-29); 1 for
    #: photos not read from a file.
    photographs: float = 1.0
    #: Probability from the model's fundus gate (None when no gate model is used).
    p_fundus: float | None = None


#: ``palette_colours`` of a file without a palette: what 8-bit RGB can hold.
TRUE_COLOURS = 2 ** 24


def _uint8_median(values: np.ndarray) -> float:
    """``np.median`` of 8-bit ``values`` (not empty), from their histogram: the same value,
    without sorting them."""
    return _histogram_quantile(np.bincount(values, minlength=256), values.size, 0.5)


def _uint8_top_mean(values: np.ndarray, fraction: float) -> np.float32:
    """The float32 mean of the 8-bit ``values`` (not empty) at or above their k-th smallest,
    k = int(``fraction`` (n - 1)), as ``np.partition`` then ``np.mean`` in float32 give it
    (the sum of integers is exact in float32 while under 2**24), from their histogram."""
    counts = np.bincount(values, minlength=256)
    top = int(np.searchsorted(np.cumsum(counts), int(fraction * (values.size - 1)),
                              side="right"))
    kept = counts[top:]
    total = int((kept * np.arange(top, 256)).sum())
    return np.float32(float(np.float32(total)) / int(kept.sum()))


def _fov_mask(side: int, radius_fraction: float = 0.9) -> np.ndarray:
    mask = np.zeros((side, side), np.uint8)
    cv2.circle(mask, (side // 2, side // 2), int(side / 2 * radius_fraction), 1, -1)
    return mask.astype(bool)


@lru_cache(maxsize=4)
def _cached_mask(side: int) -> np.ndarray:
    return _fov_mask(side)


@dataclass(frozen=True)
class WorkingField:
    """A square FOV crop at the gate's working size and the regions its measures read."""

    image: np.ndarray  # RGB uint8, WORKING_SIDE square
    circle: np.ndarray  # the field-of-view circle (90% of the half side)
    inside: np.ndarray  # its lit part (the whole circle when under 5% of it is lit)
    core: np.ndarray  # ``inside`` away from its rim, whose edge would dominate detail measures


def working_field(crop_image: np.ndarray) -> WorkingField:
    """The crop (any size) resized to ``WORKING_SIDE`` and the gate's regions in it."""
    image = crop_image
    if image.shape[0] != WORKING_SIDE:
        interpolation = cv2.INTER_AREA if image.shape[0] > WORKING_SIDE else cv2.INTER_LINEAR
        image = cv2.resize(image, (WORKING_SIDE, WORKING_SIDE), interpolation=interpolation)
    circle = _cached_mask(WORKING_SIDE)
    lit = illuminated_mask(image) & circle
    inside = lit if lit.sum() > 0.05 * circle.sum() else circle
    core = cv2.erode(inside.astype(np.uint8), _SHARPNESS_EROSION).astype(bool)
    return WorkingField(image, circle, inside, core)


def uint8_quantile(values: np.ndarray, q: float) -> float:
    """``np.quantile(values, q)`` of 8-bit ``values`` (not empty), from their histogram."""
    return _histogram_quantile(np.bincount(values, minlength=256), values.size, q)


def measure(crop: FovCrop, p_fundus: float | None = None,
            jpeg_quality: float | None = None,
            earlier_jpeg_quality: float | None = None,
            palette_colours: int | None = None,
            photographs: int = 1) -> QualityMeasures:
    """All quality measures of a square FOV crop (any size; resized to WORKING_SIDE).

    ``p_fundus`` is the fundus gate's output for this crop, when the caller has one;
    ``jpeg_quality``, ``earlier_jpeg_quality``, ``palette_colours`` and ``photographs`` what
    the file says of its compression, of the palette it stores the pixels with and of how many
    photographs it holds (``LoadedImage``), when it was read from one.
    """
    field = working_field(crop.image)
    image, circle, inside, core = field.image, field.circle, field.inside, field.core
    fov: FieldOfView = crop.fov
    r, g, b, _ = cv2.mean(image, mask=inside.astype(np.uint8))
    total = max(r + g + b, 1e-3)

    hsv = cv2.cvtColor(image, cv2.COLOR_RGB2HSV)
    hue = hsv[..., 0][inside].astype(np.float32)  # 0-180 in OpenCV
    sat = hsv[..., 1][inside].astype(np.float32)
    # Fundus colour runs from red to yellow-orange (hue 0-35 or wrapping past 160); greyish
    # (low saturation) pixels are not counted against the image.
    coloured = sat > 40
    off_hue = coloured & ~((hue <= 35) | (hue >= 160))
    hue_spread = float(off_hue.mean())

    value8 = channel_max(image)
    value = value8.astype(np.float32)
    value_inside = value[inside]
    brightness = float(value_inside.mean())
    saturated = float((value8[inside] >= 250).mean())
    median = _uint8_median(value8[inside])
    dark_area = float((value[circle] < 0.25 * max(median, 1.0)).mean())
    # Low-pass brightness at 1/8 scale (same sigma relative to the image, far cheaper).
    small_side = WORKING_SIDE // 8
    small_value = cv2.resize(value, (small_side, small_side), interpolation=cv2.INTER_AREA)
    small_inside = cv2.resize(inside.astype(np.uint8), (small_side, small_side),
                              interpolation=cv2.INTER_NEAREST).astype(bool)
    if not small_inside.any():
        small_inside[:] = True
    low = cv2.GaussianBlur(small_value, (0, 0), small_side / 16)[small_inside]
    unevenness = float(low.std() / max(low.mean(), 1.0))

    green = image[..., 1].astype(np.float32)
    eroded = cv2.erode(inside.astype(np.uint8), np.ones((15, 15), np.uint8)).astype(bool)
    if eroded.sum() < 100:
        eroded = inside
    mean_green = max(float(green[eroded].mean()), 1.0)
    smooth = cv2.GaussianBlur(green, (0, 0), 1.0)
    detail = smooth - cv2.GaussianBlur(smooth, (0, 0), 4.0)
    focus = float(np.abs(detail[eroded]).mean() / mean_green * 100)
    kernel = cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (15, 15))
    # Morphology on 8-bit data is several times faster than on float.
    smooth8 = np.clip(smooth + 0.5, 0, 255).astype(np.uint8)
    blackhat_map = cv2.morphologyEx(smooth8, cv2.MORPH_BLACKHAT, kernel)
    blackhat = blackhat_map[eroded]
    vessels = (float(_uint8_top_mean(blackhat, 0.95) / mean_green * 100) if blackhat.size
               else 0.0)
    vessel_tree = _vessel_tree(blackhat_map, core)

    sharpness = _sharpness(green, smooth, inside, core)
    sharpness_balance = _sharpness_balance(green, inside, core)
    noise = _noise(green, core)
    channel_shift = _channel_shift(image[..., 0].astype(np.float32), green, smooth, core)
    double_image = _double_image(green, core)
    level_comb = _level_comb(image[..., 1], core)
    interlace = _row_alternation(crop.source, fov) if crop.source is not None else 1.0
    block_edges = _block_edges(crop.source, fov) if crop.source is not None else 1.0
    centre_detail = _centre_detail(green)
    texture = _texture(green, smooth, detail, core)
    red_green = float(r / max(g, 1e-3))
    green_level = _uint8_median(image[..., 1][inside])
    small_inner = _small_inner_mask(small_side) & small_inside
    if small_inner.sum() < 10:
        small_inner = small_inside
    low_full = cv2.GaussianBlur(small_value, (0, 0), small_side / 64)
    inner_values = low_full[small_inner]
    shadowed = float((inner_values < 0.5 * max(float(np.median(inner_values)), 1.0)).mean())
    overlay = _overlay_share(image, circle)

    field_diameter = float(2 * fov.radius)
    at_camera_resolution = field_diameter >= CAMERA_FIELD
    compression_read_from_file = (
        jpeg_quality is not None and at_camera_resolution
        and min(jpeg_quality, 100.0 if earlier_jpeg_quality is None else earlier_jpeg_quality)
        >= MODERATE_JPEG_QUALITY)
    centre_offset = np.hypot(fov.centre_x - fov.image_width / 2,
                             fov.centre_y - fov.image_height / 2)
    return QualityMeasures(
        coverage=float(fov.coverage),
        centring=float(centre_offset / max(fov.radius, 1.0)),
        dark_border=float(fov.dark_border_fraction),
        redness=float(r / total),
        hue_spread=hue_spread,
        brightness=brightness,
        saturated=saturated,
        dark_area=dark_area,
        unevenness=unevenness,
        focus=focus,
        vessels=vessels,
        chroma=float(sat.mean()) if sat.size else 0.0,
        p_fundus=p_fundus,
        field_present=float(fov.worst_half),
        red_green=red_green,
        green_level=green_level,
        shadowed=shadowed,
        overlay=overlay,
        sharpness=sharpness,
        camera_sharpness=sharpness if at_camera_resolution else 1.0,
        sharpness_balance=sharpness_balance,
        noise=noise,
        camera_grain=noise if at_camera_resolution else NOT_MEASURED_GRAIN,
        channel_shift=channel_shift,
        double_image=double_image,
        level_comb=level_comb,
        interlace=interlace,
        field_diameter=field_diameter,
        block_edges=block_edges,
        unexplained_block_edges=1.0 if compression_read_from_file else block_edges,
        centre_detail=centre_detail,
        jpeg_quality=100.0 if jpeg_quality is None else float(jpeg_quality),
        earlier_jpeg_quality=(100.0 if earlier_jpeg_quality is None
                              else float(earlier_jpeg_quality)),
        palette_colours=float(TRUE_COLOURS if palette_colours is None else palette_colours),
        texture=texture,
        vessel_tree=vessel_tree,
        other_field=float(fov.other_field),
        corner_light=float(fov.corner_light),
        light_surround=float(fov.light_surround),
        photographs=float(photographs),
    )


_SHARPNESS_EROSION = np.ones((25, 25), np.uint8)
#: Steps per grey level of the texture measure's detail, taken to 8 bits for a histogram
#: median (detail beyond 8 grey levels is counted as 8: only the medians matter).
_TEXTURE_STEPS = 32.0


def _vessel_tree(blackhat: np.ndarray, core: np.ndarray) -> float:
    """``QualityMeasures.vessel_tree``: the reach of the largest piece of strong dark lines."""
    values = blackhat[core]
    if values.size < 100:
        return 1.0
    level = uint8_quantile(values, 0.90)
    strong = ((blackhat > level) & core).astype(np.uint8)
    count, _, stats, _ = cv2.connectedComponentsWithStats(strong, connectivity=8)
    if count <= 1:
        return 0.0
    largest = 1 + int(np.argmax(stats[1:, cv2.CC_STAT_AREA]))
    extent = max(stats[largest, cv2.CC_STAT_WIDTH], stats[largest, cv2.CC_STAT_HEIGHT])
    return float(extent / (2 * np.sqrt(values.size / np.pi)))


def _texture(green: np.ndarray, smooth: np.ndarray, detail: np.ndarray,
             core: np.ndarray) -> float:
    """``QualityMeasures.texture``: median |mid-scale detail| over median |finest detail|."""
    if not core.any():
        return 10.0
    finest = cv2.convertScaleAbs(cv2.subtract(green, smooth), alpha=_TEXTURE_STEPS)
    middle = cv2.convertScaleAbs(detail, alpha=_TEXTURE_STEPS)
    return _uint8_median(middle[core]) / max(_uint8_median(finest[core]), 1.0)


def _sharpness(green: np.ndarray, smooth: np.ndarray, inside: np.ndarray,
               core: np.ndarray) -> float:
    """Mean band-pass energy at 1-2 px over that at 4-8 px, inside the field away from its rim
    (the rim's edge would dominate the coarse band). A ratio of two bands of one photo does not
    depend on its contrast or exposure, unlike an absolute focus measure. ``smooth`` is
    ``green`` blurred with sigma 1; the coarse band is taken at half size (sigma 2 and 4 there),
    five times cheaper than at full size and within 0.01 of it. ``core`` is ``inside`` eroded
    by ``_SHARPNESS_EROSION``."""
    if core.sum() < 100:
        core = inside
    fine = float(np.abs(smooth - cv2.GaussianBlur(green, (0, 0), 2.0))[core].mean())
    half = green.shape[0] // 2
    small = cv2.resize(green, (half, half), interpolation=cv2.INTER_AREA)
    small_core = cv2.resize(core.astype(np.uint8), (half, half),
                            interpolation=cv2.INTER_NEAREST).astype(bool)
    coarse_band = cv2.GaussianBlur(small, (0, 0), 2.0) - cv2.GaussianBlur(small, (0, 0), 4.0)
    coarse = float(np.abs(coarse_band)[small_core].mean())
    return fine / max(coarse, 1e-3)


_IDENTITY = np.ones((1, 1), np.float64)


@lru_cache(maxsize=8)
def _gaussian_kernel(sigma: float) -> np.ndarray:
    return cv2.getGaussianKernel(int(sigma * 8) | 1, sigma)


def _along(image: np.ndarray, sigma: float, axis: int) -> np.ndarray:
    """``image`` blurred along one axis only (0: along the rows, 1: along the columns)."""
    kernel = _gaussian_kernel(sigma)
    return (cv2.sepFilter2D(image, -1, kernel, _IDENTITY) if axis == 0
            else cv2.sepFilter2D(image, -1, _IDENTITY, kernel))


def _sharpness_balance(green: np.ndarray, inside: np.ndarray, core: np.ndarray) -> float:
    """Least over greatest directional sharpness (rows, columns, both diagonals).

    The same two bands as :func:`_sharpness` (1-2 px over 4-8 px, the coarse one at half
    size), each taken along one direction; the diagonals by turning the image 45 degrees."""
    side = green.shape[0]
    turn = cv2.getRotationMatrix2D((side / 2, side / 2), 45, 1.0)
    turned_inside = cv2.warpAffine(inside.astype(np.uint8), turn, (side, side),
                                   flags=cv2.INTER_NEAREST)
    turned_core = cv2.erode(turned_inside, _SHARPNESS_EROSION).astype(bool)
    ratios = []
    for image, field in ((green, core), (cv2.warpAffine(green, turn, (side, side)), turned_core)):
        if field.sum() < 100:
            return 1.0  # too little field to judge; the coverage checks speak for it
        half = side // 2
        small = cv2.resize(image, (half, half), interpolation=cv2.INTER_AREA)
        small_core = cv2.resize(field.astype(np.uint8), (half, half),
                                interpolation=cv2.INTER_NEAREST).astype(bool)
        for axis in (0, 1):
            fine = np.abs(_along(image, 1.0, axis) - _along(image, 2.0, axis))[field].mean()
            coarse = np.abs(_along(small, 2.0, axis) - _along(small, 4.0, axis))[small_core].mean()
            ratios.append(float(fine) / max(float(coarse), 1e-3))
    return min(ratios) / max(max(ratios), 1e-6)


def _noise(green: np.ndarray, core: np.ndarray) -> float:
    """Mean of the smaller 80% of the absolute 2x2 Haar diagonal details inside ``core``."""
    core = core[0::2, 0::2]
    even = green.shape[0] // 2 * 2
    g = green[:even, :even]
    diagonal = np.abs(g[0::2, 0::2] - g[0::2, 1::2] - g[1::2, 0::2] + g[1::2, 1::2]) / 2
    values = diagonal[core[:diagonal.shape[0], :diagonal.shape[1]]]
    if values.size < 100:
        return 0.0
    # The details are multiples of 1/2 (of 8-bit levels): the quantile and the mean from the
    # histogram of twice their values, exactly as np.quantile and np.mean give them, unsorted.
    counts = np.bincount((values * 2).astype(np.int64), minlength=511)
    limit = _histogram_quantile(counts, values.size, 0.8)  # of the doubled values
    kept = counts[:int(np.floor(limit)) + 1]
    doubled_sum = int((kept * np.arange(kept.size)).sum())
    return float(np.float32(doubled_sum / 2 / int(kept.sum())))


def _offset_correlation(moving: np.ndarray, fixed: np.ndarray, reach: int) -> np.ndarray:
    """Normalised cross-correlation of ``fixed``'s central square (a margin of 7/64 of the side
    left out, where the field's rim is) with ``moving`` displaced by up to ``reach`` pixels
    each way: a (2 reach + 1) square, its centre at no displacement."""
    side = fixed.shape[0]
    margin = side * 7 // 64
    template = np.ascontiguousarray(fixed[margin:side - margin, margin:side - margin])
    search = np.ascontiguousarray(
        moving[margin - reach:side - margin + reach, margin - reach:side - margin + reach])
    return np.nan_to_num(cv2.matchTemplate(search, template, cv2.TM_CCORR_NORMED))


_SHIFT_SEARCH = 4  # pixels each way at the working size
_SHIFT_BOX = (9, 9)  # the low-pass taken away from the sigma-1 detail (a box: cheap)


def _channel_shift(red: np.ndarray, green: np.ndarray, smooth_green: np.ndarray,
                   core: np.ndarray) -> float:
    """Distance in pixels between the red and green channels' fine detail (band sigma 1 to a
    9 px box) inside ``core``: the peak of their normalised cross-correlation within
    ``_SHIFT_SEARCH`` pixels each way over the central square of the field, refined by a
    parabola through the peak and its neighbours. ``smooth_green`` is ``green`` blurred with
    sigma 1. A red channel without detail (red-free export) gives 0: the colour check speaks."""
    if core.sum() < 100:
        return 0.0
    weight = core.astype(np.float32)
    red_band = (cv2.GaussianBlur(red, (0, 0), 1.0) - cv2.blur(red, _SHIFT_BOX)) * weight
    if float(np.abs(red_band).mean()) < 0.05:
        return 0.0
    green_band = (smooth_green - cv2.blur(green, _SHIFT_BOX)) * weight
    reach = _SHIFT_SEARCH
    score = _offset_correlation(red_band, green_band, reach)
    y, x = np.unravel_index(int(np.argmax(score)), score.shape)

    def refined(before: float, peak: float, after: float) -> float:
        curvature = before - 2 * peak + after
        return 0.0 if curvature >= 0 else 0.5 * (before - after) / curvature

    last = 2 * reach
    dx = x - reach + (refined(score[y, x - 1], score[y, x], score[y, x + 1]) if 0 < x < last else 0)
    dy = y - reach + (refined(score[y - 1, x], score[y, x], score[y + 1, x]) if 0 < y < last else 0)
    return float(np.hypot(dx, dy))


_ECHO_REACH = 14  # pixels each way at the working size
_ECHO_NEAREST = 2.5  # closer echoes merge with the origin's own peak (and are blur: motion)


@lru_cache(maxsize=1)
def _echo_geometry() -> tuple[np.ndarray, tuple[tuple[float, np.ndarray, np.ndarray], ...],
                              np.ndarray]:
    """Distances of the autocorrelation's offsets from the origin, the sampling grids of the
    points between each offset and the origin (at 1.5, 2, 2.5 ... px), and the offsets searched."""
    reach = _ECHO_REACH
    ys, xs = np.mgrid[-reach:reach + 1, -reach:reach + 1].astype(np.float32)
    distance = np.hypot(ys, xs)
    unit = np.maximum(distance, 1e-6)
    grids = tuple((float(step), (reach + xs * step / unit).astype(np.float32),
                   (reach + ys * step / unit).astype(np.float32))
                  for step in np.arange(1.5, reach - 0.9, 0.5))
    searched = (distance >= _ECHO_NEAREST) & (distance <= reach - 0.5)
    return distance, grids, searched


def _double_image(green: np.ndarray, core: np.ndarray) -> float:
    """Strongest isolated echo of the green channel's finest detail (band sigma 0.5 to a 3 px
    box, inside ``core``): the normalised autocorrelation over the central square of the field
    within ``_ECHO_REACH`` px, and at each offset its height above the lowest (non-negative)
    point on the way back to the origin."""
    if core.sum() < 100:
        return 0.0
    band = (cv2.GaussianBlur(green, (0, 0), 0.5) - cv2.blur(green, (3, 3))) * core
    correlation = _offset_correlation(band, band, _ECHO_REACH)
    distance, grids, searched = _echo_geometry()
    lowest = np.full(correlation.shape, np.inf, np.float32)
    for step, map_x, map_y in grids:
        between = cv2.remap(correlation, map_x, map_y, cv2.INTER_LINEAR)
        lowest = np.where(step <= distance - 1.0, np.minimum(lowest, between), lowest)
    echo = correlation - np.maximum(lowest, 0.0)
    return float(max(echo[searched].max(), 0.0))


_COMB_FINE = np.ones(5) / 5  # grey levels: flattens the gaps of a contrast stretch up to 5x
_COMB_COARSE = np.ones(17) / 17  # longer than the step between 16 levels (4 bits)


def _histogram_quantile(counts: np.ndarray, size: int, q: float) -> float:
    """``np.quantile(values, q)`` (linear, numpy's own interpolation formula) of integer
    ``values`` from their histogram ``counts``, without sorting them again."""
    cumulative = np.cumsum(counts)
    position = q * (size - 1)
    k = int(np.floor(position))
    lower = float(np.searchsorted(cumulative, k, side="right"))
    upper = float(np.searchsorted(cumulative, min(k + 1, size - 1), side="right"))
    t = position - k
    return lower + (upper - lower) * t if t < 0.5 else upper - (upper - lower) * (1 - t)


def _level_comb(green8: np.ndarray, core: np.ndarray) -> float:
    """Comb-likeness of the 8-bit green histogram inside ``core``: posterisation leaves a few
    crowded levels with empty ones between them, which the resampling to the working size only
    partly fills."""
    values = green8[core]
    if values.size < 100:
        return 0.0
    counts = np.bincount(values, minlength=256).astype(np.float64)
    low, high = (int(_histogram_quantile(counts, values.size, q)) for q in (0.005, 0.995))
    counts[:max(low, 1)] = 0  # the ends (and black and white clipping) are not levels used
    counts[min(high, 254) + 1:] = 0
    total = counts.sum()
    if total <= 0:
        return 0.0
    fine = np.convolve(counts, _COMB_FINE, mode="same")
    coarse = np.convolve(counts, _COMB_COARSE, mode="same")
    return float(np.abs(fine - coarse).sum() / total)


#: Largest side of the central square that ``_row_alternation`` reads (decoded pixels).
_ALTERNATION_WINDOW = 384


def _central_window(photo: np.ndarray, fov: FieldOfView, grid: int = 1) -> tuple[int, ...]:
    """(y0, y1, x0, x1) of a square of side 1.1 field radii (at most ``_ALTERNATION_WINDOW``)
    at the centre of the field, its top-left corner moved back onto a ``grid`` px grid."""
    half = int(min(0.55 * fov.radius, _ALTERNATION_WINDOW / 2))
    cx, cy = int(round(fov.centre_x)), int(round(fov.centre_y))
    y0, x0 = max(cy - half, 0) // grid * grid, max(cx - half, 0) // grid * grid
    return y0, min(cy + half, photo.shape[0]), x0, min(cx + half, photo.shape[1])


def _row_alternation(photo: np.ndarray, fov: FieldOfView) -> float:
    """Row-to-row over column-to-column second differences of the green channel, in the
    central window of the field (``_central_window``)."""
    y0, y1, x0, x1 = _central_window(photo, fov)
    if y1 - y0 < 8 or x1 - x0 < 8:
        return 1.0
    green = photo[y0:y1, x0:x1, 1].astype(np.float32)
    rows = float(np.abs(green[1:-1] - (green[:-2] + green[2:]) * 0.5).mean())
    columns = float(np.abs(green[:, 1:-1] - (green[:, :-2] + green[:, 2:]) * 0.5).mean())
    # A little grain on both keeps flat (dark or blank) centres near 1 instead of 0 / 0.
    return (rows + 0.05) / (columns + 0.05)


def _block_edges(photo: np.ndarray, fov: FieldOfView) -> float:
    """Mean absolute luma step across block boundaries over the mean step elsewhere (rows and
    columns averaged), for blocks of 8 and of 4 pixels, the larger; in the central window of
    the field, aligned to the decoded photo's 8 px grid, where a JPEG's blocks lie."""
    y0, y1, x0, x1 = _central_window(photo, fov, grid=8)
    if y1 - y0 < 32 or x1 - x0 < 32:
        return 1.0
    luma = cv2.cvtColor(np.ascontiguousarray(photo[y0:y1, x0:x1]),
                        cv2.COLOR_RGB2GRAY).astype(np.float32)
    # Step j lies between pixels j and j + 1 of the window, which starts on the grid.
    across_columns = np.abs(np.diff(luma, axis=1)).mean(axis=0)
    across_rows = np.abs(np.diff(luma, axis=0)).mean(axis=1)

    def ratio(steps: np.ndarray, block: int) -> float:
        boundary = np.arange(len(steps)) % block == block - 1
        # A little grain keeps flat (dark or blank) centres near 1 instead of 0 / 0.
        return float((steps[boundary].mean() + 0.05) / (steps[~boundary].mean() + 0.05))

    return max((ratio(across_columns, block) + ratio(across_rows, block)) / 2
               for block in (8, 4))


@lru_cache(maxsize=4)
def _centre_and_ring(side: int) -> tuple[np.ndarray, np.ndarray]:
    yy, xx = np.mgrid[:side, :side]
    r = np.hypot(xx - side / 2 + 0.5, yy - side / 2 + 0.5) / (side / 2)
    return r < 0.3, (r > 0.45) & (r < 0.8)


def _centre_detail(green: np.ndarray) -> float:
    """Median fine detail (green minus its blur, absolute) inside 0.3 field radii over the
    same in the ring from 0.45 to 0.8 radii."""
    centre, ring = _centre_and_ring(green.shape[0])
    detail = np.abs(green - cv2.GaussianBlur(green, (0, 0), 1.5))
    return float(np.median(detail[centre]) / max(float(np.median(detail[ring])), 1e-3))


@lru_cache(maxsize=4)
def _small_inner_mask(side: int) -> np.ndarray:
    return _fov_mask(side, 0.85)


_STROKE_KERNEL = cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (9, 9))


def _overlay_share(image: np.ndarray, circle: np.ndarray) -> float:
    """Share of the FOV covered by thin strokes of a colour the retina never has.

    Text and graphics are drawn in white, green, cyan or blue: bright in the blue (and green)
    channel. The retina is red to yellow, its blue channel dark; even the optic disc and
    exudates stay far below a white stroke in blue. A white top-hat of the blue channel keeps
    only thin bright strokes (not the large optic disc); green-over-red pixels catch coloured
    text. Yellow or red text cannot be told from exudates or haemorrhages by colour and is not
    detected.
    """
    red = image[..., 0].astype(np.int16)
    green = image[..., 1].astype(np.int16)
    blue = image[..., 2]
    strokes = cv2.morphologyEx(blue, cv2.MORPH_TOPHAT, _STROKE_KERNEL) > 80
    coloured = ((green - red) > 40) | ((blue.astype(np.int16) - red) > 40)
    flagged = (strokes | coloured) & circle
    return float(flagged.sum() / max(int(circle.sum()), 1))


@dataclass(frozen=True)
class Rule:
    """One check: ``measure`` must be >= (``kind`` "min") or <= ("max") ``threshold``.

    ``requires`` names earlier checks whose measure this one assumes (the overlay check assumes
    a retina's own colours): the rule is evaluated only where each of them was evaluated and
    passed. It is skipped only on photos those checks refuse, so it never makes one gradable.
    A quality rule may require a fundus rule (all fundus rules come first).
    """

    check: str
    measure: str
    kind: str
    threshold: float
    reason: str
    requires: tuple[str, ...] = ()


@dataclass(frozen=True)
class BorderlineRule:
    """A gradable photograph of marginal quality whose grade is just below the referral threshold.

    Some damage passes the gate's limits yet lowers the lesions' contrast or detail, and with it
    the model's P(referable) (darkening: ``dim_borderline``; a small, downscaled copy:
    ``small_borderline``; lifted mid-tones: ``bright_borderline``): on such a photograph a
    grade just below the threshold cannot rule referable DR out. The photograph is *marginal*
    when any measure of ``below`` (measure -> level, above the gate's own limit) is not
    reached, or any measure of ``above`` reaches its level; a marginal photograph with
    P(referable) in ``[threshold - margin, threshold)`` is sent back (``reason``) instead of
    reading "no referable DR". A margin of 1 takes every grade below the threshold (a photo
    that may show only part of the retina: ``partial_field``).
    """

    check: str
    below: tuple[tuple[str, float], ...]
    margin: float
    reason: str
    above: tuple[tuple[str, float], ...] = ()

    def marginal(self, measures: QualityMeasures) -> bool:
        """Whether the photograph's measures put it in the rule's marginal range."""
        return (any(getattr(measures, name) < level for name, level in self.below)
                or any(getattr(measures, name) >= level for name, level in self.above))


@dataclass(frozen=True)
class Thresholds:
    version: str
    fundus_rules: tuple[Rule, ...]
    quality_rules: tuple[Rule, ...]
    borderline: tuple[BorderlineRule, ...] = ()
    #: What the file holds: one photograph's frame, not a layout of several or a photograph on
    #: a page (qg-26, qg-28). Checked first; where one fails, only these are reported.
    frame_rules: tuple[Rule, ...] = ()

    def borderline_rule(self, check: str) -> BorderlineRule | None:
        """The borderline rule of that check name, if the thresholds have one."""
        return next((rule for rule in self.borderline if rule.check == check), None)


_MEASURE_NAMES = frozenset(f.name for f in fields(QualityMeasures))


def _checked_rule(item: dict, where: str) -> Rule:
    try:
        requires = item.get("requires", [])
        if not isinstance(requires, list):
            raise TypeError("'requires' must be a list of check names")
        rule = Rule(check=str(item["check"]), measure=str(item["measure"]), kind=str(item["kind"]),
                    threshold=float(item["threshold"]), reason=str(item["reason"]),
                    requires=tuple(str(name) for name in requires))
    except (KeyError, TypeError, ValueError) as exc:
        raise ConfigError(f"quality thresholds: a rule in {where} is incomplete ({exc})") from exc
    if rule.measure not in _MEASURE_NAMES:
        raise ConfigError(f"quality thresholds: rule {rule.check!r} uses an unknown measure "
                          f"{rule.measure!r}")
    if rule.kind not in ("min", "max"):
        raise ConfigError(f"quality thresholds: rule {rule.check!r} has kind {rule.kind!r} "
                          "(expected 'min' or 'max')")
    return rule


def load_thresholds(path: Path = THRESHOLDS_FILE) -> Thresholds:
    """The versioned quality-gate thresholds, checked when loaded.

    Every rule must name a measure the gate computes, so a mistyped name in an edited file
    stops the application at start-up (:class:`ConfigError`) instead of failing each photo."""
    try:
        raw = json.loads(Path(path).read_text(encoding="utf-8"))
        fundus, quality, version = raw["fundus"], raw["quality"], str(raw["version"])
        frame = raw.get("frame", [])
    except (OSError, ValueError, KeyError, TypeError) as exc:
        raise ConfigError(
            f"quality thresholds file {Path(path).name} is unreadable ({exc})") from exc
    frame_rules = tuple(_checked_rule(item, "frame") for item in frame)
    if any(rule.requires for rule in frame_rules):
        raise ConfigError("quality thresholds: the frame rules are checked first and cannot "
                          "require other checks")
    fundus_rules = tuple(_checked_rule(item, "fundus") for item in fundus)
    quality_rules = tuple(_checked_rule(item, "quality") for item in quality)
    for rules, before in ((fundus_rules, ()), (quality_rules, fundus_rules)):
        for index, rule in enumerate(rules):
            earlier = {r.check for r in (*before, *rules[:index])}
            missing = [name for name in rule.requires if name not in earlier]
            if missing:
                raise ConfigError(f"quality thresholds: rule {rule.check!r} requires "
                                  f"{', '.join(missing)}, which no earlier rule checks")
    borderline = raw.get("borderline", [])
    if not isinstance(borderline, list):
        raise ConfigError("quality thresholds: borderline must be a list of rules")
    return Thresholds(_checked_version(version, raw), fundus_rules, quality_rules,
                      tuple(_checked_borderline(item) for item in borderline), frame_rules)


def _checked_version(version: str, raw: dict) -> str:
    """The thresholds' version as results record it: the file's own label, marked
    ``+modified-<sha256 prefix>`` when the build's trust anchor knows that label with other
    content. An edited file that kept its label ("qg-29", every limit loosened) was recorded as
    the shipped gate everywhere (found 2026-12-02); now its results, reports and audit records
    say it, and an output folder of the shipped gate's results refuses them."""
    from .trust import anchored_thresholds_sha256, thresholds_digest

    anchored = anchored_thresholds_sha256(version)
    digest = thresholds_digest(raw)
    if anchored is None or anchored == digest:
        return version
    log.warning("the quality gate's thresholds file says %s but differs from the one this "
                "build ships: its results are marked as from a modified gate", version)
    return version + "+modified-" + digest[:8]


def _checked_borderline(item: dict) -> BorderlineRule:
    try:
        rule = BorderlineRule(
            str(item["check"]),
            tuple((str(k), float(v)) for k, v in item.get("below", {}).items()),
            float(item["margin"]), str(item["reason"]),
            tuple((str(k), float(v)) for k, v in item.get("above", {}).items()))
    except (KeyError, TypeError, ValueError, AttributeError) as exc:
        raise ConfigError(f"quality thresholds: a borderline rule is incomplete ({exc})") from exc
    unknown = [name for name, _ in rule.below + rule.above if name not in _MEASURE_NAMES]
    if unknown or not (rule.below or rule.above):
        raise ConfigError(f"quality thresholds: borderline rule {rule.check} needs known "
                          f"measures in 'below' or 'above' (unknown: "
                          f"{', '.join(unknown) or 'none given'})")
    if not 0.0 < rule.margin <= 1.0:
        raise ConfigError(f"quality thresholds: borderline rule {rule.check} margin "
                          f"{rule.margin} is not between 0 and 1 (1: any grade below the "
                          "threshold)")
    return rule


GATE_REASON = "not a fundus photograph: load a colour retinal photograph"


def _evaluate(rule: Rule, measures: QualityMeasures) -> QualityCheck:
    value = float(getattr(measures, rule.measure))
    passed = value >= rule.threshold if rule.kind == "min" else value <= rule.threshold
    return QualityCheck(rule.check, round(value, 4), rule.threshold, passed,
                        "" if passed else rule.reason)


def _evaluate_in_order(rules: Iterable[Rule], measures: QualityMeasures,
                       earlier: Iterable[QualityCheck] = ()) -> list[QualityCheck]:
    """Each rule's check, in order; a rule whose ``requires`` were not all evaluated (here or
    among the ``earlier`` checks) and passed is skipped (no check)."""
    earlier = list(earlier)
    evaluated = {c.name for c in earlier}
    not_passed = {c.name for c in earlier if not c.passed}
    checks: list[QualityCheck] = []
    for rule in rules:
        if any(name not in evaluated or name in not_passed for name in rule.requires):
            not_passed.add(rule.check)
            continue
        check = _evaluate(rule, measures)
        evaluated.add(rule.check)
        if not check.passed:
            not_passed.add(rule.check)
        checks.append(check)
    return checks


def assess(measures: QualityMeasures, thresholds: Thresholds,
           gate_threshold: float | None = None) -> QualityReport:
    """Apply the thresholds: the frame checks first, then the fundus checks (including the
    model's fundus gate when ``measures.p_fundus`` and ``gate_threshold`` are given), then the
    quality checks. A file that fails a frame check (several photographs in one file, a
    photograph on a light page) is reported by those checks and the fundus verdict alone: the
    quality measures would read the layout, and name faults (off-centre, cut off) that are not
    the photograph's."""
    frame_checks = [_evaluate(rule, measures) for rule in thresholds.frame_rules]
    rules = list(thresholds.fundus_rules)
    if measures.p_fundus is not None and gate_threshold is not None:
        rules.insert(0, Rule("fundus:model", "p_fundus", "min", gate_threshold, GATE_REASON))
    fundus_checks = _evaluate_in_order(rules, measures)
    is_fundus = all(c.passed for c in fundus_checks)
    fundus = QualityCheck(
        "fundus", float(sum(c.passed for c in fundus_checks)), float(len(fundus_checks)),
        is_fundus, "" if is_fundus else GATE_REASON,
    )
    if not all(check.passed for check in frame_checks):
        # Several photographs in one file, or one on a page: the quality measures would read
        # the layout (off-centre, cut off, ...), not the retina. Whether it is a fundus
        # photograph at all is still said.
        checks = [*frame_checks, fundus, *([] if is_fundus else fundus_checks)]
        return QualityReport(tuple(checks), is_fundus, thresholds.version)
    checks = [*frame_checks, fundus]
    quality_checks: list[QualityCheck] = []
    seen: set[str] = set()
    for check in _evaluate_in_order(thresholds.quality_rules, measures, fundus_checks):
        # Report each kind of problem once (e.g. two exposure rules).
        if not check.passed and check.name in seen:
            continue
        if not check.passed:
            seen.add(check.name)
        quality_checks.append(check)
    if is_fundus:
        checks.extend(quality_checks)
    else:
        checks.extend(fundus_checks)
        # A badly blurred or exposed fundus photo can also fail the fundus gate: name the
        # quality problems too, so the operator knows that a retake may be all it needs.
        checks.extend(c for c in quality_checks if not c.passed)
    return QualityReport(tuple(checks), is_fundus, thresholds.version)


def borderline_check(measures: QualityMeasures, p_referable: float,
                     referable_threshold: float, rule: BorderlineRule) -> QualityCheck | None:
    """A borderline rule's check of a gradable photograph (None when it is not marginal).

    Its value is P(referable) and its threshold the lower edge of the borderline band; it fails
    when P(referable) lies in ``[referable_threshold - rule.margin, referable_threshold)``.
    """
    if not rule.marginal(measures):
        return None
    low = referable_threshold - rule.margin
    borderline = low <= p_referable < referable_threshold
    return QualityCheck(rule.check, round(p_referable, 4), round(low, 4), not borderline,
                        rule.reason if borderline else "")


def with_check(report: QualityReport, check: QualityCheck) -> QualityReport:
    """``report`` with one more check."""
    return QualityReport(report.checks + (check,), report.is_fundus, report.thresholds_version)
