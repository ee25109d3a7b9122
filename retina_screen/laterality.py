"""Which side of a photograph the optic disc lies on, to tell photographs of one eye given for both.

In a macula-centred photograph the optic disc lies to the nasal side: on the right of a right
eye's photograph, on the left of a left eye's. Some cameras show the fundus inverted (about a
third of EyePACS's photographs), which swaps both eyes' sides together, so a photograph's side
is never checked against the eye it was given for; only a visit's right- and left-eye
photographs are compared (:mod:`.decision`): the disc on the same side in both means one eye
may have been photographed twice. Disc-centred photographs have the disc near the middle and
are left undecided. The detector and its limits, with the evidence: docs/decisions.md.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache

import cv2
import numpy as np

from .preprocess import circle_mask

#: The side the disc is looked for at (the screening crop area-averaged to it).
_SIDE = 256
#: The illuminated field (of the crop's side), within which the local means are taken.
_FIELD_FRACTION = 0.92
#: Vessels are counted within this fraction (the rim's dark edge would read as vessel).
_VESSEL_FRACTION = 0.88
#: The disc is looked for within this fraction: glare at the rim is bright, and farther out
#: the field's edge is too close for the local means.
_SEARCH_FRACTION = 0.75
#: Brightness of a disc-sized spot against its wide surroundings (sigmas in px at ``_SIDE``).
_SPOT_SIGMA, _SURROUND_SIGMA = 6.0, 32.0
#: Vessels: a black top-hat of this diameter, their density averaged over this sigma.
_VESSEL_DIAMETER, _DENSITY_SIGMA = 15, 12.0
#: A disc found at least this far from the centre (of the field's radius) gives the side.
DECIDED_OFFSET = 0.2


@dataclass(frozen=True)
class DiscSide:
    """Where the optic disc was found: ``offset`` from the field's centre, across (-1 left
    edge to 1 right edge, of the radius); ``side`` 1 (right), -1 (left) or 0 (undecided:
    within ``DECIDED_OFFSET`` of the centre)."""

    offset: float
    side: int


@lru_cache(maxsize=4)
def _mask(fraction: float) -> np.ndarray:
    return circle_mask(_SIDE, fraction)


def _blur(image: np.ndarray, sigma: float) -> np.ndarray:
    if sigma <= _SPOT_SIGMA:
        return cv2.GaussianBlur(image, (0, 0), sigma)
    # Wider means vary slowly: taken at a smaller size and enlarged (the detector's time at
    # full size was mostly these blurs; no photograph's side changed, docs/decisions.md).
    factor = 4 if sigma >= _SURROUND_SIGMA else 2
    small = cv2.resize(image, (_SIDE // factor, _SIDE // factor), interpolation=cv2.INTER_AREA)
    return cv2.resize(cv2.GaussianBlur(small, (0, 0), sigma / factor), (_SIDE, _SIDE),
                      interpolation=cv2.INTER_LINEAR)


@lru_cache(maxsize=4)
def _weight_blur(sigma: float) -> np.ndarray:
    return np.maximum(_blur(_mask(_FIELD_FRACTION).astype(np.float32), sigma), 1e-3)


def _field_mean(image: np.ndarray, sigma: float) -> np.ndarray:
    """The local mean of ``image`` over the illuminated field only (black beyond it)."""
    field = np.where(_mask(_FIELD_FRACTION), image, np.float32(0))
    return _blur(field, sigma) / _weight_blur(sigma)


def _scaled(values: np.ndarray, inside: np.ndarray) -> np.ndarray:
    """``values`` over their standard deviation inside (a standardisation without its
    centring, which would move every score alike and not the highest one)."""
    return values / (float(values[inside].std()) + 1e-6)


def optic_disc_side(crop_image: np.ndarray) -> DiscSide:
    """Where the optic disc lies in a square screening crop (RGB uint8, any size): the spot
    that is both brightest against its surroundings and densest in large vessels (glare and
    exudates are bright without vessels), within the central part of the field."""
    green_u8 = cv2.resize(cv2.extractChannel(crop_image, 1), (_SIDE, _SIDE),
                          interpolation=cv2.INTER_AREA)
    green = green_u8.astype(np.float32)
    spot = _field_mean(green, _SPOT_SIGMA) - _field_mean(green, _SURROUND_SIGMA)
    kernel = cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (_VESSEL_DIAMETER, _VESSEL_DIAMETER))
    vessels = cv2.morphologyEx(green_u8, cv2.MORPH_BLACKHAT, kernel).astype(np.float32)
    vessels[~_mask(_VESSEL_FRACTION)] = 0
    density = _field_mean(vessels, _DENSITY_SIGMA)
    inside = _mask(_SEARCH_FRACTION)
    score = _scaled(spot, inside) + _scaled(density, inside)
    score[~inside] = -np.inf
    _, x = np.unravel_index(int(np.argmax(score)), score.shape)
    offset = (x - (_SIDE / 2 - 0.5)) / (_SIDE / 2)
    side = 0 if abs(offset) < DECIDED_OFFSET else (1 if offset > 0 else -1)
    return DiscSide(round(float(offset), 4), side)
