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
    out = random_geometry(crop, rng)
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


def random_geometry(crop: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """A random rotation, scale (0.9-1.1), shift (4% of the side) and left-right flip of a
    square RGB uint8 crop: what a photo of the same eye could look like, nothing damaged."""
    side = crop.shape[0]
    angle = rng.uniform(0, 360)
    scale = rng.uniform(0.9, 1.1)
    shift = rng.uniform(-0.04, 0.04, size=2) * side
    matrix = cv2.getRotationMatrix2D((side / 2, side / 2), angle, scale)
    matrix[:, 2] += shift
    out = cv2.warpAffine(crop, matrix, (side, side), flags=cv2.INTER_LINEAR, borderValue=0)
    if rng.random() < 0.5:
        out = out[:, ::-1]
    return out


def distillation_pair(record: CacheRecord, spec: PreprocessSpec, rng: np.random.Generator,
                      undamaged_share: float = 0.25) -> tuple[np.ndarray, np.ndarray]:
    """Model inputs (CHW float32) of one cached photo in one random geometry: clean, and with
    0-2 random camera faults (:func:`camera_damage`; none in ``undamaged_share`` of draws).
    For self-distillation: a student learns to give on the second what a teacher gives on
    the first."""
    clean = np.ascontiguousarray(random_geometry(decode(record), rng))
    damaged = clean
    if rng.random() >= undamaged_share:
        for _ in range(1 + int(rng.random() < 0.4)):
            damaged = camera_damage(damaged, rng)
    return model_input(clean, spec), model_input(np.ascontiguousarray(damaged), spec)


def _lit(crop: np.ndarray) -> np.ndarray:
    return crop.max(axis=2) > 20


#: The kinds of fault :func:`camera_damage` draws from.
DAMAGE_KINDS = 13


def camera_damage(crop: np.ndarray, rng: np.random.Generator,
                  kind: int | None = None) -> np.ndarray:
    """One random fault (or fault ``kind``) of the kinds that differ between cameras, exports
    and operators, at a strength a photo may still pass the quality gate with (same size)."""
    kind = int(rng.integers(DAMAGE_KINDS)) if kind is None else kind
    image = crop.astype(np.float32)
    if kind == 0:  # exposure
        image = image * rng.uniform(0.5, 1.6)
    elif kind == 1:  # tone curve: lifted (below 1) or deepened mid-tones
        image = 255.0 * (image / 255.0) ** rng.uniform(0.45, 1.6)
    elif kind == 2:  # contrast about the retina's mean colour (a flat or hazy export)
        mean = image[_lit(crop)].mean(axis=0) if _lit(crop).any() else image.mean((0, 1))
        image = (image - mean) * rng.uniform(0.5, 1.2) + mean
    elif kind == 3:  # white balance
        image = image * rng.uniform(0.8, 1.25, size=3).astype(np.float32)
    elif kind == 4:  # saturation
        grey = image.mean(axis=2, keepdims=True)
        image = grey + (image - grey) * rng.uniform(0.4, 1.5)
    elif kind == 5:  # defocus
        image = cv2.GaussianBlur(image, (0, 0), rng.uniform(0.4, 1.3))
    elif kind == 6:  # a camera's or phone's edge-preserving noise reduction
        out = cv2.bilateralFilter(crop, int(rng.choice([5, 7, 9])), rng.uniform(20, 60),
                                  rng.uniform(3, 9))
        image = out.astype(np.float32)
    elif kind == 7:  # JPEG re-compression
        image = _recompressed(crop, int(rng.uniform(30, 90))).astype(np.float32)
    elif kind == 8:  # a smaller photo enlarged again
        image = _enlarged_from(image, rng.uniform(0.55, 0.9))
    elif kind == 9:  # posterisation to 5-6 bits per channel
        step = float(256 >> int(rng.integers(5, 7)))
        image = np.floor(image / step) * step + step / 2
    elif kind == 10:  # vignetting
        side = crop.shape[0]
        yy, xx = np.ogrid[:side, :side]
        r2 = ((xx - side / 2) ** 2 + (yy - side / 2) ** 2) / (side / 2) ** 2
        image = image * (1 - rng.uniform(0.2, 0.6) * r2)[..., None].astype(np.float32)
    elif kind == 11:  # eyelash or eyelid shadow
        image = 255.0 * _eyelash_shadow(image / 255.0, rng.uniform(0.3, 0.6),
                                        rng.uniform(0.15, 0.4), int(rng.integers(4)))
    else:  # sensor noise
        image = image + rng.normal(0.0, rng.uniform(1.0, 5.0), image.shape).astype(np.float32)
    out = np.clip(image, 0, 255).astype(np.uint8)
    out[~_lit(crop)] = 0  # the black surround stays black, as a camera's would
    return out


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
        out = _enlarged_from(out, rng.uniform(0.35, 0.8))
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
        out = _recompressed(out, int(rng.uniform(35, 90)))
    return out


def _enlarged_from(image: np.ndarray, fraction: float) -> np.ndarray:
    """``image`` (square) shrunk to ``fraction`` of its side, then enlarged back."""
    side = image.shape[0]
    low = int(side * fraction)
    return cv2.resize(cv2.resize(image, (low, low), interpolation=cv2.INTER_AREA),
                      (side, side), interpolation=cv2.INTER_LINEAR)


def _recompressed(image: np.ndarray, quality: int) -> np.ndarray:
    """A uint8 image saved as JPEG at ``quality`` and decoded again (unchanged if it cannot
    be encoded)."""
    ok, buffer = cv2.imencode(".jpg", image, [cv2.IMWRITE_JPEG_QUALITY, quality])
    return cv2.imdecode(buffer, cv2.IMREAD_UNCHANGED) if ok else image
