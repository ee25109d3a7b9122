"""Field of view (FOV) detection: find the circular retinal image inside a fundus photograph.

Fundus cameras record a bright disc on a black surround. Many cameras cut the disc at the top and
bottom (the sensor is wider than it is tall), and some exports trim the border entirely. The
circle is therefore estimated from the widest extent of the illuminated region, not from its
bounding box alone, and the crop is padded with black where the circle leaves the frame.
"""

from __future__ import annotations

from dataclasses import dataclass

import cv2
import numpy as np

# Pixels brighter than this fraction of the image's bright level count as inside the FOV.
_FOV_RELATIVE_THRESHOLD = 0.12
_FOV_ABSOLUTE_FLOOR = 8.0
_DETECTION_SIDE = 256


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
        )


@dataclass(frozen=True)
class FovCrop:
    """A square crop centred on the FOV, with the circle inscribed and black outside the frame."""

    image: np.ndarray  # RGB uint8, side x side
    fov: FieldOfView  # in the coordinates of the source image
    #: Circle radius in the crop, in pixels (the circle is centred in the crop).
    radius_in_crop: float


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
    sh, sw = mask.shape
    border = np.concatenate([mask[0, :], mask[-1, :], mask[:, 0], mask[:, -1]])
    dark_border_fraction = float(1.0 - border.mean()) if border.size else 0.0
    frame_fraction = float(mask.mean())

    count, labels, stats, _ = cv2.connectedComponentsWithStats(mask.astype(np.uint8), 8)
    if count <= 1:
        radius = min(sw, sh) / 2
        return FieldOfView(
            width / 2, height / 2, radius / scale, width, height, 0.0, frame_fraction,
            dark_border_fraction,
        )
    largest = 1 + int(np.argmax(stats[1:, cv2.CC_STAT_AREA]))
    region = labels == largest
    rows = np.flatnonzero(region.any(axis=1))
    cols = np.flatnonzero(region.any(axis=0))
    x0, x1 = cols[0], cols[-1] + 1
    y0, y1 = rows[0], rows[-1] + 1
    # A disc cut at the top and bottom keeps its full width; one cut at the sides keeps its height.
    diameter = max(x1 - x0, y1 - y0)
    cx = (x0 + x1) / 2
    cy = (y0 + y1) / 2
    radius = diameter / 2
    circle = np.zeros_like(mask, dtype=np.uint8)
    cv2.circle(circle, (int(round(cx)), int(round(cy))), int(round(radius)), 1, -1)
    full_circle_area = np.pi * radius * radius
    coverage = float((region & circle.astype(bool)).sum() / max(full_circle_area, 1.0))
    return FieldOfView(
        cx / scale, cy / scale, radius / scale, width, height, min(coverage, 1.0),
        frame_fraction, dark_border_fraction,
    )


def crop_to_fov(rgb: np.ndarray, side: int, fov: FieldOfView | None = None) -> FovCrop:
    """Crop ``rgb`` to a ``side`` x ``side`` square centred on its FOV circle.

    Parts of the square outside the frame are black. ``fov`` may be given when already known.
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
    return FovCrop(canvas, fov, side / 2)
