"""What the fault benchmarks share: a screener for a (possibly unverified) model, and
screening a damaged photograph held in memory through the application's own pipeline."""

from __future__ import annotations

import argparse
from pathlib import Path

import numpy as np

from retina_screen.engine import Screener
from retina_screen.inference import GradingModel
from retina_screen.loading import LoadedImage
from retina_screen.results import Eye, ImageResult
from retina_screen.settings import load_settings

ROOT = Path(__file__).resolve().parents[1]


def argument_parser(description: str) -> argparse.ArgumentParser:
    """A parser with ``--data`` (the shared data folder) and ``--model`` (a manifest, trial
    models too), for a benchmark to add its own options to."""
    parser = argparse.ArgumentParser(description=description)
    parser.add_argument("--data", type=Path, default=ROOT.parent / "shared" / "data")
    parser.add_argument("--model", type=Path, default=ROOT / "models" / "dr_lite0.json")
    return parser


def parse_arguments(description: str) -> argparse.Namespace:
    """``--data`` and ``--model`` only."""
    return argument_parser(description).parse_args()


def screener_for(model: Path, dim_borderline: bool = True) -> Screener:
    """The application's screener with default settings; a model outside the trust anchor
    (e.g. a trial under ``runs/``) is screened as unverified."""
    settings = load_settings(use_environment=False, use_file=False, overrides={"model": model})
    return Screener(settings, model=GradingModel(model, allow_unverified=True),
                    dim_borderline=dim_borderline)


def screen(screener: Screener, rgb: np.ndarray) -> ImageResult:
    """Screen an RGB uint8 photograph held in memory."""
    rgb = np.ascontiguousarray(rgb)
    loaded = LoadedImage(rgb, rgb.shape[1], rgb.shape[0], "JPEG", "0" * 64)
    return screener.screen_loaded(loaded, "photo.jpg", Eye.LEFT, keep_display=False)
