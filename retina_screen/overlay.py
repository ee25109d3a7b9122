"""The heatmap overlay shown in the app and printed in the report (pure numpy/OpenCV)."""

from __future__ import annotations

import cv2
import numpy as np


def heatmap_overlay(rgb: np.ndarray, heatmap: np.ndarray) -> np.ndarray:
    """The photograph in grey with the heatmap (0..1 grid over the square crop) on top.

    Uses the "inferno" colour map, whose brightness rises with the value, so it also reads in
    black and white (brighter = more influence on the grade); outside the field of view is black.
    """
    base = np.ascontiguousarray(rgb, dtype=np.uint8)
    height, width = base.shape[:2]
    grey = cv2.cvtColor(base, cv2.COLOR_RGB2GRAY).astype(np.float32) * 0.8
    heat = np.clip(np.nan_to_num(np.asarray(heatmap, dtype=np.float32)), 0.0, 1.0)
    heat = np.clip(cv2.resize(heat, (width, height), interpolation=cv2.INTER_CUBIC), 0.0, 1.0)
    colour = cv2.applyColorMap((heat * 255).astype(np.uint8), cv2.COLORMAP_INFERNO)
    colour = cv2.cvtColor(colour, cv2.COLOR_BGR2RGB).astype(np.float32)
    alpha = (0.2 + 0.65 * heat)[..., None]
    out = grey[..., None] * (1 - alpha) + colour * alpha
    yy, xx = np.ogrid[:height, :width]
    radius = min(height, width) / 2
    out[(xx - width / 2 + 0.5) ** 2 + (yy - height / 2 + 0.5) ** 2 > radius**2] = 0
    return np.clip(out, 0, 255).astype(np.uint8)
