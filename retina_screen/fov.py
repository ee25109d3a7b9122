"""Field of view (FOV) detection: find the circular retinal image inside a fundus photograph.

Fundus cameras record a bright disc on a black surround. Many cameras cut the disc at the top and
bottom (the sensor is wider than it is tall), some exports trim the border entirely, and a
misaligned camera, an eyelid or an off-centre export can cut it on one side. Cameras also burn
text (name, date, eye) into the black surround. The circle is therefore fitted robustly to the
*arc* of the illuminated disc's outline: outline points on the frame edge are ignored, and
straight cuts and text that touches the disc are outliers of a RANSAC circle fit; text that does
not touch the disc is a separate component and never used. The crop is padded with black where
the circle leaves the frame, and everything outside the fitted circle is blacked out, so border
text and overlays cannot reach the quality gate or the grading model.
"""

from __future__ import annotations

from dataclasses import dataclass

import cv2
import numpy as np

# Pixels brighter than this fraction of the image's bright level count as inside the FOV.
_FOV_RELATIVE_THRESHOLD = 0.12
_FOV_ABSOLUTE_FLOOR = 8.0
_DETECTION_SIDE = 256
#: RANSAC: candidate circles tried, and the distance (detection pixels) an arc point may lie
#: from a circle to support it.
_RANSAC_CANDIDATES = 300
_RANSAC_TOLERANCE = 1.5
#: Share of the outline (away from the frame edge) that must lie on the fitted circle.
_MIN_ARC_SUPPORT = 0.45
#: The crop keeps this multiple of the fitted radius (a margin for the fit's error); everything
#: farther from the centre is black.
CROP_MASK_RADIUS = 1.02


@dataclass(frozen=True)
class FieldOfView:
    """The circular field of view, in the pixel coordinates of the image it was found in."""

    centre_x: float
    centre_y: float
    radius: float
    image_width: int
    image_height: int
    #: Fraction of the estimated circle's area that lies inside the frame and is illuminated.
    coverage: float
    #: Fraction of the frame that is illuminated.
    frame_fraction: float
    #: Fraction of the frame's border pixels that are dark (a fundus photo has a dark surround).
    dark_border_fraction: float
    #: The least-covered half of the circle (left, right, upper or lower): the fraction of that
    #: half that is present. A camera that cuts the top and bottom symmetrically keeps it high;
    #: a field cut on one side (misalignment, eyelid, off-centre export) drives it down.
    worst_half: float = 1.0
    #: The largest illuminated region apart from the field, as a share of the field's: a
    #: second photograph in the same file (two fields side by side or in a grid, as layout and
    #: report exports put them) reads about 1; burned-in text reads a few hundredths at most.
    other_field: float = 0.0
    #: The darkest corner of the frame (the median brightness of a square of 3% of the
    #: shorter side at each corner, the lowest of the four) over the frame's central half: a
    #: photograph that shows its field's edge anywhere has a dark corner (under 0.04 for every
    #: camera photograph of the shared data); a crop inside the field (zoomed in, or the
    #: black border cut away) has none, and shows only part of the retina.
    corner_light: float = 0.0
    #: The least share of light grey or white among the frame's four corners (squares of 3% of
    #: the shorter side), where the frame also holds a dark surround of its own (0 where under
    #: 3% of it is dark): a photograph pasted onto a page or a viewer's window, or a
    #: screenshot, lies on a light background; a camera's corners are dark, and a washed-out
    #: or blank frame has no dark surround.
    light_surround: float = 0.0

    @property
    def box(self) -> tuple[int, int, int, int]:
        """Square bounding box (x0, y0, x1, y1) of the circle; may extend past the frame."""
        r = self.radius
        return (
            int(round(self.centre_x - r)),
            int(round(self.centre_y - r)),
            int(round(self.centre_x + r)),
            int(round(self.centre_y + r)),
        )

    def scaled(self, factor: float, width: int, height: int) -> FieldOfView:
        """The same circle in an image resized by ``factor``."""
        return FieldOfView(
            self.centre_x * factor,
            self.centre_y * factor,
            self.radius * factor,
            width,
            height,
            self.coverage,
            self.frame_fraction,
            self.dark_border_fraction,
            self.worst_half,
            self.other_field,
            self.corner_light,
            self.light_surround,
        )


@dataclass(frozen=True)
class FovCrop:
    """A square crop centred on the FOV, with the circle inscribed and black outside it."""

    image: np.ndarray  # RGB uint8, side x side
    fov: FieldOfView  # in the coordinates of the source image
    #: Circle radius in the crop, in pixels (the circle is centred in the crop).
    radius_in_crop: float
    #: The photograph the crop was cut from (not a copy), for measures that need its own
    #: pixels, before the resampling to ``side`` blurs them (interlaced rows).
    source: np.ndarray | None = None


def channel_max(rgb: np.ndarray) -> np.ndarray:
    """Per-pixel maximum over the colour channels (uint8); faster than ``rgb.max(axis=2)``."""
    red, green, blue = cv2.split(rgb)
    return cv2.max(cv2.max(red, green), blue)


def illuminated_mask(rgb: np.ndarray) -> np.ndarray:
    """Boolean mask of the illuminated (non-border) pixels of an RGB uint8 image."""
    # The red channel is the brightest in fundus photos; max over channels copes with odd colour.
    brightness = channel_max(rgb)
    # 95th percentile from the histogram (much faster than np.percentile on a large image).
    cumulative = np.cumsum(np.bincount(brightness.ravel(), minlength=256))
    bright_level = float(np.searchsorted(cumulative, 0.95 * cumulative[-1]))
    threshold = max(_FOV_ABSOLUTE_FLOOR, _FOV_RELATIVE_THRESHOLD * bright_level)
    mask = (brightness > threshold).astype(np.uint8)
    kernel = cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (5, 5))
    mask = cv2.morphologyEx(mask, cv2.MORPH_OPEN, kernel)
    mask = cv2.morphologyEx(mask, cv2.MORPH_CLOSE, kernel)
    return mask.astype(bool)


def _circles_through(p1: np.ndarray, p2: np.ndarray, p3: np.ndarray) -> np.ndarray:
    """Circumcircles (cx, cy, r) of point triples (arrays of shape (n, 2)); r is inf when the
    points are collinear."""
    ax, ay = p1[:, 0], p1[:, 1]
    bx, by = p2[:, 0], p2[:, 1]
    cx, cy = p3[:, 0], p3[:, 1]
    d = 2 * (ax * (by - cy) + bx * (cy - ay) + cx * (ay - by))
    safe = np.where(np.abs(d) < 1e-9, np.nan, d)
    a2, b2, c2 = ax * ax + ay * ay, bx * bx + by * by, cx * cx + cy * cy
    ux = (a2 * (by - cy) + b2 * (cy - ay) + c2 * (ay - by)) / safe
    uy = (a2 * (cx - bx) + b2 * (ax - cx) + c2 * (bx - ax)) / safe
    r = np.hypot(ax - ux, ay - uy)
    return np.stack([ux, uy, np.where(np.isnan(r), np.inf, r)], axis=1)


def _least_squares_circle(points: np.ndarray) -> tuple[float, float, float]:
    """Algebraic (Kasa) circle fit."""
    x, y = points[:, 0], points[:, 1]
    design = np.stack([x, y, np.ones_like(x)], axis=1)
    solution, *_ = np.linalg.lstsq(design, x * x + y * y, rcond=None)
    cx, cy = solution[0] / 2, solution[1] / 2
    return float(cx), float(cy), float(np.sqrt(max(solution[2] + cx * cx + cy * cy, 0.0)))


def _fit_arc(region: np.ndarray, min_radius: float,
             max_radius: float) -> tuple[float, float, float] | None:
    """Circle fitted to the part of the region's outline that is not on the frame edge."""
    contours, _ = cv2.findContours(region.astype(np.uint8), cv2.RETR_EXTERNAL,
                                   cv2.CHAIN_APPROX_NONE)
    if not contours:
        return None
    points = np.concatenate([c.reshape(-1, 2) for c in contours]).astype(np.float64)
    h, w = region.shape
    away = ((points[:, 0] > 1) & (points[:, 0] < w - 2)
            & (points[:, 1] > 1) & (points[:, 1] < h - 2))
    points = points[away]
    if len(points) < 20:
        return None
    # Deterministic sampling: the same photo always gives the same circle.
    rng = np.random.default_rng(len(points))
    picks = rng.integers(0, len(points), size=(_RANSAC_CANDIDATES, 3))
    candidates = _circles_through(points[picks[:, 0]], points[picks[:, 1]], points[picks[:, 2]])
    plausible = (candidates[:, 2] >= min_radius) & (candidates[:, 2] <= max_radius)
    candidates = candidates[plausible]
    if not len(candidates):
        return None
    distances = np.abs(np.hypot(points[None, :, 0] - candidates[:, 0, None],
                                points[None, :, 1] - candidates[:, 1, None])
                       - candidates[:, 2, None])
    support = (distances <= _RANSAC_TOLERANCE).sum(axis=1)
    best = candidates[int(np.argmax(support))]
    inliers = points[np.abs(np.hypot(points[:, 0] - best[0], points[:, 1] - best[1]) - best[2])
                     <= 2 * _RANSAC_TOLERANCE]
    # A circle must explain most of the outline (its arc); straight cuts and text touching the
    # disc are a minority. An ellipse (a photo resized without keeping its aspect ratio) is not
    # explained by any circle and falls back to the bounding circle.
    if len(inliers) < max(10, _MIN_ARC_SUPPORT * len(points)):
        return None
    cx, cy, r = _least_squares_circle(inliers)
    if not min_radius <= r <= max_radius:
        cx, cy, r = float(best[0]), float(best[1]), float(best[2])
    # The rest of the outline must be a straight cut (an edge of a blacked-out strip), not a
    # curve: an ellipse's arc is locally circular too.
    outliers = points[np.abs(np.hypot(points[:, 0] - cx, points[:, 1] - cy) - r)
                      > 3 * _RANSAC_TOLERANCE]
    if len(outliers) > 0.05 * len(points):
        vx, vy, x0, y0 = cv2.fitLine(outliers.astype(np.float32), cv2.DIST_HUBER, 0, 0.01,
                                     0.01).ravel()
        off_line = np.abs((outliers[:, 0] - x0) * vy - (outliers[:, 1] - y0) * vx)
        if np.percentile(off_line, 90) > 2 * _RANSAC_TOLERANCE:
            return None
    return cx, cy, r


def _bounding_circle(region: np.ndarray) -> tuple[float, float, float]:
    """Circle from the region's widest extent (the fallback when no arc can be fitted)."""
    rows = np.flatnonzero(region.any(axis=1))
    cols = np.flatnonzero(region.any(axis=0))
    x0, x1 = cols[0], cols[-1] + 1
    y0, y1 = rows[0], rows[-1] + 1
    # A disc cut at the top and bottom keeps its full width; one cut at the sides keeps its height.
    return (x0 + x1) / 2, (y0 + y1) / 2, max(x1 - x0, y1 - y0) / 2


def _presence(region: np.ndarray, cx: float, cy: float, radius: float) -> tuple[float, float]:
    """(coverage, worst half): shares of the circle, and of its least-covered half (left,
    right, upper, lower), that are illuminated and inside the frame."""
    h, w = region.shape
    yy, xx = np.mgrid[0:h, 0:w]
    inside = region & ((xx + 0.5 - cx) ** 2 + (yy + 0.5 - cy) ** 2 <= radius * radius)
    area = max(np.pi * radius * radius, 1.0)
    coverage = float(inside.sum() / area)
    halves = (xx + 0.5 < cx, xx + 0.5 >= cx, yy + 0.5 < cy, yy + 0.5 >= cy)
    worst = min(float((inside & half).sum() / (area / 2)) for half in halves)
    return min(coverage, 1.0), min(worst, 1.0)


def find_fov(rgb: np.ndarray) -> FieldOfView:
    """Estimate the circular field of view of an RGB uint8 image.

    Works at a small fixed resolution for speed; the result is in the input's coordinates.
    Always returns a circle: when nothing looks like a disc, the circle inscribed in the frame
    with low coverage, which the quality gate then rejects.
    """
    height, width = rgb.shape[:2]
    scale = _DETECTION_SIDE / max(height, width)
    small = cv2.resize(
        rgb, (max(1, round(width * scale)), max(1, round(height * scale))),
        interpolation=cv2.INTER_AREA,
    ) if scale < 1 else rgb
    scale = small.shape[1] / width
    mask = illuminated_mask(small)
    brightness = channel_max(small)
    corner_light = _corner_light(brightness)
    light_surround = _light_surround(small, brightness)
    sh, sw = mask.shape
    border = np.concatenate([mask[0, :], mask[-1, :], mask[:, 0], mask[:, -1]])
    dark_border_fraction = float(1.0 - border.mean()) if border.size else 0.0
    frame_fraction = float(mask.mean())

    count, labels, stats, _ = cv2.connectedComponentsWithStats(mask.astype(np.uint8), 8)
    if count <= 1:
        radius = min(sw, sh) / 2
        return FieldOfView(
            width / 2, height / 2, radius / scale, width, height, 0.0, frame_fraction,
            dark_border_fraction, 0.0, 0.0, corner_light, light_surround,
        )
    # The disc is the largest illuminated component; text that does not touch it is ignored.
    areas = stats[1:, cv2.CC_STAT_AREA]
    largest = 1 + int(np.argmax(areas))
    other_field = float(np.partition(areas, -2)[-2] / areas.max()) if areas.size > 1 else 0.0
    region = labels == largest
    bounding = _bounding_circle(region)
    fitted = _fit_arc(region, 0.25 * max(sw, sh), 1.5 * max(sw, sh))
    cx, cy, radius = fitted if fitted is not None else bounding
    if fitted is not None:
        # Trust the fit only when it explains the region: nearly all of the region lies in it.
        yy, xx = np.mgrid[0:sh, 0:sw]
        in_circle = (xx + 0.5 - cx) ** 2 + (yy + 0.5 - cy) ** 2 <= (radius * 1.05) ** 2
        if (region & in_circle).sum() < 0.97 * region.sum():
            cx, cy, radius = bounding
    coverage, worst = _presence(region, cx, cy, radius)
    return FieldOfView(
        cx / scale, cy / scale, radius / scale, width, height, coverage,
        frame_fraction, dark_border_fraction, worst, other_field, corner_light, light_surround,
    )


#: A pixel is light grey or white when its brightest channel reaches this and its channels
#: lie within ``_GREY_SPREAD`` of each other (a retina is red to orange, even washed out).
_LIGHT_LEVEL = 96
_GREY_SPREAD = 32
#: A pixel is dark (a photograph's own surround) below this; a photograph on a page keeps
#: its surround, so at least ``_OWN_SURROUND`` of the frame is dark.
_DARK_LEVEL = 40
_OWN_SURROUND = 0.03


def _corners(image: np.ndarray) -> tuple[np.ndarray, ...]:
    """The four corner squares of an image, 3% of its shorter side each."""
    height, width = image.shape[:2]
    side = max(2, int(0.03 * min(height, width)))
    return (image[:side, :side], image[:side, -side:], image[-side:, :side],
            image[-side:, -side:])


def _light_surround(small: np.ndarray, brightness: np.ndarray) -> float:
    """``FieldOfView.light_surround`` of the photograph at the detector's size (RGB, and its
    per-pixel brightest channel)."""
    if (brightness < _DARK_LEVEL).mean() < _OWN_SURROUND:
        return 0.0  # no surround of its own: a washed-out or blank frame, not a page

    def light_share(corner: np.ndarray) -> float:
        corner = corner.reshape(-1, 3).astype(np.int16)
        brightest, darkest = corner.max(axis=1), corner.min(axis=1)
        return float(((brightest >= _LIGHT_LEVEL)
                      & (brightest - darkest <= _GREY_SPREAD)).mean())

    return min(light_share(corner) for corner in _corners(small))


def _corner_light(brightness: np.ndarray) -> float:
    """``FieldOfView.corner_light`` of the photograph at the detector's size, from its
    per-pixel brightest channel."""
    height, width = brightness.shape
    centre = brightness[height // 4:3 * height // 4, width // 4:3 * width // 4]
    darkest = min(float(np.median(corner)) for corner in _corners(brightness))
    return darkest / max(float(np.median(centre)), 1.0)


def crop_to_fov(rgb: np.ndarray, side: int, fov: FieldOfView | None = None) -> FovCrop:
    """Crop ``rgb`` to a ``side`` x ``side`` square centred on its FOV circle.

    Parts of the square outside the frame, and everything outside the circle (beyond
    ``CROP_MASK_RADIUS`` of its radius: border text, overlays, stray light), are black.
    ``fov`` may be given when already known.
    """
    if fov is None:
        fov = find_fov(rgb)
    height, width = rgb.shape[:2]
    x0, y0, x1, y1 = fov.box
    extent = max(x1 - x0, y1 - y0, 1)
    # Crop what lies inside the frame, then place it on a black square.
    cx0, cy0 = max(x0, 0), max(y0, 0)
    cx1, cy1 = min(x1, width), min(y1, height)
    scale = side / extent
    canvas = np.zeros((side, side, 3), dtype=np.uint8)
    if cx1 > cx0 and cy1 > cy0:
        part = rgb[cy0:cy1, cx0:cx1]
        out_w = max(1, int(round((cx1 - cx0) * scale)))
        out_h = max(1, int(round((cy1 - cy0) * scale)))
        interpolation = cv2.INTER_AREA if scale < 1 else cv2.INTER_LINEAR
        resized = cv2.resize(part, (out_w, out_h), interpolation=interpolation)
        ox = int(round((cx0 - x0) * scale))
        oy = int(round((cy0 - y0) * scale))
        ox = min(max(ox, 0), side - 1)
        oy = min(max(oy, 0), side - 1)
        w = min(out_w, side - ox)
        h = min(out_h, side - oy)
        canvas[oy:oy + h, ox:ox + w] = resized[:h, :w]
    return FovCrop(mask_outside_circle(canvas), fov, side / 2, rgb)


def mask_outside_circle(crop_rgb: np.ndarray) -> np.ndarray:
    """A square crop blacked out (in place) beyond ``CROP_MASK_RADIUS`` of its inscribed circle."""
    crop_rgb *= _outside_circle_mask(crop_rgb.shape[0])[..., None]
    return crop_rgb


_MASKS: dict[int, np.ndarray] = {}


def _outside_circle_mask(side: int) -> np.ndarray:
    """uint8 mask, 1 inside ``CROP_MASK_RADIUS`` of the crop's inscribed circle, else 0."""
    mask = _MASKS.get(side)
    if mask is None:
        mask = np.zeros((side, side), np.uint8)
        cv2.circle(mask, (side // 2, side // 2), int(np.ceil(side / 2 * CROP_MASK_RADIUS)), 1, -1)
        _MASKS[side] = mask
    return mask
