"""The one model-input path from a loaded photograph to the grading model's input tensor.

The engine, the training cache and augmentation, the threshold choice in export and
``retina-screen evaluate`` all go through :func:`screening_crop` and :func:`model_input`
(:func:`preprocess_photo` is the two together), so they cannot disagree. Photographs are
decoded with ``max_side=DECODE_MAX_SIDE`` everywhere.

Steps, named ``fov-ben-graham-v1`` in the model manifest (the shipped model's);
``fov-ben-graham-v2`` adds the exposure normalisation of step 2 (tried for model 2.1, see the
README):

1. crop to the circular field of view at ``SCREENING_CROP_SIDE`` (see :mod:`fov`; the quality
   gate measures the same crop), then resize to the model's ``size`` x ``size``;
2. local colour normalisation: ``4 * (image - local_mean) + 128``, where ``local_mean`` is a
   Gaussian blur (sigma = size/30, computed at a quarter of the size) taken over the
   illuminated pixels only (normalised convolution), which removes camera-specific colour
   casts and uneven illumination, keeps lesions and vessels, and leaves no bright rim where
   the disc meets the black border; in v2 the difference is also multiplied by
   ``TARGET_RETINA_MEAN / retina_mean`` (clipped to ``EXPOSURE_GAIN_LIMITS``), the mean of the
   illuminated retina over all channels, so that an under- or over-exposed photo gives the
   network the same lesion contrast as a well-exposed one;
3. grey (128) outside the illuminated area and outside 96% of the circle's radius;
4. ``(value - mean) / std`` per channel with the manifest's mean and std, channels first.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import cv2
import numpy as np

from .fov import FovCrop, crop_to_fov, illuminated_mask

#: The default (the shipped model's); training and export take ``--preprocessing``.
PREPROCESSING_ID = "fov-ben-graham-v1"
EXPOSURE_NORMALISED_ID = "fov-ben-graham-v2"
#: Preprocessings this application can give a model (a manifest naming another is refused).
SUPPORTED_PREPROCESSING = (PREPROCESSING_ID, EXPOSURE_NORMALISED_ID)
#: v2: mean retina brightness (0-255, all channels) the lesion contrast is scaled to; the
#: typical value of the raw-colour training photographs (APTOS, IDRiD, EyePACS raw: 82-97).
TARGET_RETINA_MEAN = 85.0
#: v2: the exposure gain stays within these limits (darker or brighter photos are the quality
#: gate's business).
EXPOSURE_GAIN_LIMITS = (0.33, 4.0)
#: Camera JPEGs are decoded at reduced scale down to about this long side (FOV >= crop side).
DECODE_MAX_SIDE = 768
#: Side of the field-of-view crop shared by the quality gate and the model input.
SCREENING_CROP_SIDE = 512
_MASK_RADIUS_FRACTION = 0.96
_BLUR_SIGMA_FRACTION = 1 / 30
#: Step 2's local mean is computed at 1/4 of the crop's side and enlarged again: several times
#: faster, and within 2 grey levels of the full-size computation in the model input (mean
#: 0.03-0.05 levels on photos of six sources; tests/test_model_input_path.py). Crops smaller
#: than ``_SMALL_BLUR_MIN_SIDE`` are computed at full size.
_SMALL_BLUR_FACTOR = 4
_SMALL_BLUR_MIN_SIDE = 128


@dataclass(frozen=True)
class PreprocessSpec:
    """What the model expects as input; read from the model manifest."""

    size: int = 256
    mean: tuple[float, float, float] = (127.5, 127.5, 127.5)
    std: tuple[float, float, float] = (127.5, 127.5, 127.5)
    preprocessing_id: str = PREPROCESSING_ID


def circle_mask(side: int, radius_fraction: float = _MASK_RADIUS_FRACTION) -> np.ndarray:
    """Boolean mask of the centred circle with radius ``radius_fraction * side / 2``."""
    mask = np.zeros((side, side), dtype=np.uint8)
    cv2.circle(mask, (side // 2, side // 2), int(side / 2 * radius_fraction), 1, -1)
    return mask.astype(bool)


def exposure_gain(crop_rgb: np.ndarray, inside: np.ndarray) -> float:
    """v2's gain: ``TARGET_RETINA_MEAN`` over the mean of the illuminated retina, clipped."""
    if inside.sum() < 64:
        return 1.0
    retina_mean = float(crop_rgb[inside].mean())
    low, high = EXPOSURE_GAIN_LIMITS
    return float(np.clip(TARGET_RETINA_MEAN / max(retina_mean, 1.0), low, high))


def masked_local_mean(image: np.ndarray, weight: np.ndarray, sigma: float) -> np.ndarray:
    """The Gaussian-weighted mean colour around each pixel of ``image`` (H x W x 3, float32)
    over the pixels where ``weight`` (H x W, float32, 0-1) is set: blur(image x weight) /
    blur(weight) with a wide ``sigma`` (normalised convolution). Computed on copies shrunk by
    ``_SMALL_BLUR_FACTOR`` (the shrink's own box averaging is taken off ``sigma``) and enlarged
    back: a fraction of the full-size cost, and smooth enough for the difference not to show."""
    height, width = weight.shape
    factor = _SMALL_BLUR_FACTOR
    if min(height, width) < _SMALL_BLUR_MIN_SIDE or sigma < 2 * factor:
        factor = 1
    small_sigma = math.sqrt(sigma ** 2 - (factor ** 2 - 1) / 12.0) / factor

    def small_blur(array: np.ndarray) -> np.ndarray:
        if factor > 1:
            array = cv2.resize(array, (width // factor, height // factor),
                               interpolation=cv2.INTER_AREA)
        return cv2.GaussianBlur(array, (0, 0), small_sigma)

    local_mean = small_blur(image * weight[..., None]) / np.maximum(
        small_blur(weight), 1e-3)[..., None]
    if factor == 1:
        return local_mean
    return cv2.resize(local_mean, (width, height), interpolation=cv2.INTER_LINEAR)


def local_colour_normalise(crop_rgb: np.ndarray, normalise_exposure: bool = False) -> np.ndarray:
    """Steps 2 and 3: Ben Graham's local colour normalisation of a square FOV crop (uint8),
    with the exposure normalisation of v2 when ``normalise_exposure``."""
    side = crop_rgb.shape[0]
    sigma = side * _BLUR_SIGMA_FRACTION
    inside = illuminated_mask(crop_rgb) & circle_mask(side)
    image = crop_rgb.astype(np.float32)
    local_mean = masked_local_mean(image, inside.astype(np.float32), sigma)
    contrast = 4.0 * (exposure_gain(crop_rgb, inside) if normalise_exposure else 1.0)
    detail = np.clip(contrast * (image - local_mean) + 128.0, 0, 255).astype(np.uint8)
    normalised = np.full_like(detail, 128)
    cv2.copyTo(detail, inside.astype(np.uint8), normalised)
    return normalised


def normalise_crop(crop_rgb: np.ndarray, spec: PreprocessSpec) -> np.ndarray:
    """Steps 2-4 on a square RGB uint8 crop of side ``spec.size``: float32 CHW model input."""
    if crop_rgb.shape[:2] != (spec.size, spec.size):
        raise ValueError(f"crop is {crop_rgb.shape[:2]}, model expects {spec.size}x{spec.size}")
    exposure = spec.preprocessing_id == EXPOSURE_NORMALISED_ID
    normalised = local_colour_normalise(crop_rgb, normalise_exposure=exposure)
    channels_first = np.ascontiguousarray(normalised.transpose(2, 0, 1), dtype=np.float32)
    channels_first -= np.asarray(spec.mean, dtype=np.float32)[:, None, None]
    channels_first /= np.asarray(spec.std, dtype=np.float32)[:, None, None]
    return channels_first


def screening_crop(rgb: np.ndarray) -> FovCrop:
    """Step 1a: the square FOV crop (``SCREENING_CROP_SIDE``) of a loaded RGB uint8 photo."""
    return crop_to_fov(rgb, SCREENING_CROP_SIDE)


def resize_crop(crop_rgb: np.ndarray, size: int) -> np.ndarray:
    """Step 1b: a square crop of any side resized to ``size`` (area when shrinking)."""
    if crop_rgb.shape[0] == size:
        return crop_rgb
    interpolation = cv2.INTER_AREA if crop_rgb.shape[0] > size else cv2.INTER_LINEAR
    return cv2.resize(crop_rgb, (size, size), interpolation=interpolation)


def model_input(crop_rgb: np.ndarray, spec: PreprocessSpec) -> np.ndarray:
    """A square FOV crop (any side, e.g. a screening crop) to the model input (CHW float32)."""
    return normalise_crop(resize_crop(crop_rgb, spec.size), spec)


def preprocess_photo(rgb: np.ndarray, spec: PreprocessSpec) -> tuple[np.ndarray, FovCrop]:
    """Loaded RGB uint8 photo to (model input CHW float32, the screening crop it was made from)."""
    crop = screening_crop(rgb)
    return model_input(crop.image, spec), crop


def gate_input(crop_rgb: np.ndarray, size: int, mean: tuple[float, float, float],
               std: tuple[float, float, float]) -> np.ndarray:
    """The fundus gate's input from a square FOV crop (any side): CHW float32, shrunk to
    ``size`` and scaled per channel. Used by the app's gate and by the gate's fitting."""
    small = cv2.resize(crop_rgb, (size, size), interpolation=cv2.INTER_AREA)
    scaled = (small.astype(np.float32) - np.asarray(mean, np.float32)) / np.asarray(
        std, np.float32)
    return np.ascontiguousarray(scaled.transpose(2, 0, 1))
