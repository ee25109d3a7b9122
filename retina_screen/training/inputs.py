"""Training inputs: a cached screening crop, augmented, through the app's own model-input path.

Torch-free, so that a test (and CI, which does not install the training extra) can check that
the training path and the application's path give the same model input for the same photo.
"""

from __future__ import annotations

import cv2
import numpy as np

from ..preprocess import PreprocessSpec, model_input
from .cache import CacheRecord, decode

#: Augmentation recipes: "camera" (models 2.1 on: wide exposure and gamma, eyelash shadows,
#: narrow fields) and "basic" (model 2.0.0: milder exposure and gamma, neither of those).
AUGMENTATIONS = ("camera", "basic")


def training_input(record: CacheRecord, spec: PreprocessSpec,
                   rng: np.random.Generator | None = None,
                   augmentation: str = "camera") -> np.ndarray:
    """The model input (CHW float32) for a cached photo; augmented when ``rng`` is given."""
    crop = decode(record)
    if rng is not None:
        crop = augment(crop, rng, augmentation)
    return model_input(crop, spec)


def augment(crop: np.ndarray, rng: np.random.Generator, recipe: str = "camera") -> np.ndarray:
    """Fundus-appropriate augmentation of a square RGB uint8 FOV crop (same size out)."""
    if recipe not in AUGMENTATIONS:
        raise ValueError(f"unknown augmentation {recipe!r}; one of {AUGMENTATIONS}")
    camera = recipe == "camera"
    side = crop.shape[0]
    angle = rng.uniform(0, 360)
    scale = rng.uniform(0.9, 1.1)
    shift = rng.uniform(-0.04, 0.04, size=2) * side
    matrix = cv2.getRotationMatrix2D((side / 2, side / 2), angle, scale)
    matrix[:, 2] += shift
    out = cv2.warpAffine(crop, matrix, (side, side), flags=cv2.INTER_LINEAR, borderValue=0)
    if rng.random() < 0.5:
        out = out[:, ::-1]
    if camera and rng.random() < 0.15:
        out = _concentric_field(out, rng.uniform(0.7, 0.92))
    image = out.astype(np.float32) / 255.0
    if camera and rng.random() < 0.15:
        image = _eyelash_shadow(image, rng.uniform(0.3, 0.7), rng.uniform(0.15, 0.45),
                                int(rng.integers(4)))
    gain = (rng.uniform(0.55, 1.5) if camera else rng.uniform(0.75, 1.25)) \
        * rng.uniform(0.9, 1.1, size=3)
    image = image * gain.astype(np.float32)
    mean = image.mean()
    image = (image - mean) * rng.uniform(0.8, 1.2) + mean
    image = np.clip(image, 0, 1) ** (rng.uniform(0.7, 1.6) if camera else rng.uniform(0.8, 1.25))
    out = (image * 255).astype(np.uint8)
    if rng.random() < 0.25:
        out = cv2.GaussianBlur(out, (0, 0), rng.uniform(0.3, 1.2))
    return np.ascontiguousarray(camera_faults(out, rng))


def _concentric_field(crop: np.ndarray, radius_fraction: float) -> np.ndarray:
    """A camera with a narrower field: the centred circle of ``radius_fraction`` of the radius,
    blown up to the full side as the app's screening crop would find and crop it."""
    side = crop.shape[0]
    keep = max(8, int(round(side * radius_fraction)))
    start = (side - keep) // 2
    out = cv2.resize(crop[start:start + keep, start:start + keep], (side, side),
                     interpolation=cv2.INTER_LINEAR)
    mask = np.zeros((side, side), np.uint8)
    cv2.circle(mask, (side // 2, side // 2), side // 2, 1, -1)
    out[mask == 0] = 0
    return out


def _eyelash_shadow(image: np.ndarray, strength: float, depth: float, edge: int) -> np.ndarray:
    """Darken one edge of a float RGB image by ``strength``, fading out over ``depth`` of it
    (an eyelash or eyelid shadow; ``edge`` 0-3 picks top, bottom, left, right)."""
    side = image.shape[0]
    ramp = np.clip(np.arange(side, dtype=np.float32) / max(1.0, depth * side), 0, 1)
    factor = 1.0 - strength * (1.0 - ramp) ** 2
    if edge == 1:
        factor = factor[::-1]
    shape = (side, 1, 1) if edge < 2 else (1, side, 1)
    return image * factor.reshape(shape)


def camera_faults(crop: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """Faults that differ between cameras and exports: low resolution, JPEG re-compression,
    and a field of view cut straight at one side (as many cameras cut the disc)."""
    side = crop.shape[0]
    out = crop
    if rng.random() < 0.25:
        low = int(side * rng.uniform(0.35, 0.8))
        out = cv2.resize(cv2.resize(out, (low, low), interpolation=cv2.INTER_AREA),
                         (side, side), interpolation=cv2.INTER_LINEAR)
    if rng.random() < 0.2:
        out = np.ascontiguousarray(out)
        depth = int(side * rng.uniform(0.05, 0.15))
        edge = rng.integers(4)
        if edge == 0:
            out[:depth] = 0
        elif edge == 1:
            out[-depth:] = 0
        elif edge == 2:
            out[:, :depth] = 0
        else:
            out[:, -depth:] = 0
    if rng.random() < 0.3:
        quality = int(rng.uniform(35, 90))
        ok, buffer = cv2.imencode(".jpg", out, [cv2.IMWRITE_JPEG_QUALITY, quality])
        if ok:
            out = cv2.imdecode(buffer, cv2.IMREAD_UNCHANGED)
    return out
