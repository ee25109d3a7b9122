"""Whether two photographs are one photograph: a copy with other bytes, or a mirror image.

The same file given for both eyes is found by its sha256 (:mod:`.decision`); a copy re-saved
(another JPEG quality, PNG, a smaller export), mirrored left to right (a right eye's photo then
looks like a left eye's), flipped or turned half a turn has other bytes. :func:`photo_signature`
keeps the fine pattern of the vessel tree where it lies in the screening crop;
:func:`copy_likeness` compares two signatures, as they are, mirrored, flipped and turned, over
small shifts and either one enlarged a little (a copy cut to part of its frame has its field
found at another size). Two eyes of one person have vessel trees alike in layout, not in
detail. The limit and the evidence for it: docs/decisions.md.
"""

from __future__ import annotations

from functools import lru_cache

import cv2
import numpy as np

#: Side of the signature (the screening crop's green channel, area-averaged).
SIGNATURE_SIDE = 128
#: The detail kept: the signature minus its Gaussian blur of this sigma (px at SIGNATURE_SIDE).
_DETAIL_SIGMA = 2.0
#: Only inside this fraction of the field's radius (the rim's edge would dominate).
_RADIUS_FRACTION = 0.75
#: Detail beyond this many standard deviations is clipped (see :func:`photo_signature`).
_CLIP_SD = 2.0
#: Shifts searched, each way, in signature pixels (the field of view is found again in each
#: copy, a pixel or two apart).
_SHIFT = 4
#: Enlargements of one signature about its centre also compared: a copy cut to a smaller part of
#: its frame has its circle found about 10% smaller (docs/decisions.md).
_ZOOMS = (1.05, 1.10, 1.15, 1.20, 1.25)
#: A right- and a left-eye photograph at least this alike are one photograph
#: (docs/decisions.md, "One eye's photograph given for both eyes").
COPY_LIKENESS_MIN = 0.60


@lru_cache(maxsize=1)
def _inner_circle() -> np.ndarray:
    side = SIGNATURE_SIDE
    ys, xs = np.mgrid[:side, :side]
    centre = side / 2 - 0.5
    return (ys - centre) ** 2 + (xs - centre) ** 2 <= (_RADIUS_FRACTION * side / 2) ** 2


def photo_signature(crop_image: np.ndarray) -> np.ndarray:
    """The fine detail of a square screening crop (RGB uint8, any size) inside the central
    part of its field, clipped at ``_CLIP_SD`` standard deviations: float32,
    ``SIGNATURE_SIDE`` square, zero outside, unit norm inside (all zero for a photograph
    without detail)."""
    green = cv2.resize(crop_image[..., 1].astype(np.float32), (SIGNATURE_SIDE, SIGNATURE_SIDE),
                       interpolation=cv2.INTER_AREA)
    detail = green - cv2.GaussianBlur(green, (0, 0), _DETAIL_SIGMA)
    inside = _inner_circle()
    values = detail[inside]
    values = values - values.mean()
    # Strong isolated spots (dust or reflections in the camera, at the same place in both eyes'
    # photographs) would outweigh the vessels' many moderate ones: clipped.
    limit = _CLIP_SD * float(values.std())
    values = np.clip(values, -limit, limit)
    values = values - values.mean()
    norm = float(np.linalg.norm(values))
    signature = np.zeros((SIGNATURE_SIDE, SIGNATURE_SIDE), np.float32)
    if norm > 1e-6:
        signature[inside] = values / norm
    return signature


def _best_match(moving: np.ndarray, fixed: np.ndarray) -> float:
    template = fixed[_SHIFT:-_SHIFT, _SHIFT:-_SHIFT]
    if not template.any() or not moving.any():
        return 0.0
    return float(np.nan_to_num(cv2.matchTemplate(moving, template, cv2.TM_CCOEFF_NORMED)).max())


def _zoomed(signature: np.ndarray, zoom: float) -> np.ndarray:
    """``signature`` enlarged by ``zoom`` about its centre (same size; the rim falls out)."""
    centre = signature.shape[0] / 2 - 0.5
    warp = np.float32([[zoom, 0, centre * (1 - zoom)], [0, zoom, centre * (1 - zoom)]])
    return cv2.warpAffine(signature, warp, signature.shape[::-1], flags=cv2.INTER_LINEAR)


def _oriented_match(first: np.ndarray, second: np.ndarray) -> float:
    return max(_best_match(np.ascontiguousarray(view), first)
               for view in (second, second[:, ::-1], second[::-1, :], second[::-1, ::-1]))


def copy_likeness(first: np.ndarray, second: np.ndarray) -> float:
    """How alike two signatures are, -1 to 1: the highest normalised cross-correlation of
    ``first`` with ``second`` as it is, mirrored left to right, flipped upside down and
    turned half a turn (each moves the optic disc to the other side or keeps it, as a copy
    passed off as the other eye would), over shifts of up to ``_SHIFT`` pixels each way, and
    with either signature enlarged by each of ``_ZOOMS``."""
    pairs = [(first, second)]
    pairs += [(first, _zoomed(second, zoom)) for zoom in _ZOOMS]
    pairs += [(_zoomed(first, zoom), second) for zoom in _ZOOMS]
    return max(_oriented_match(fixed, moving) for fixed, moving in pairs)
