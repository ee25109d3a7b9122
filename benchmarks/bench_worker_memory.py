"""Benchmark: where a batch worker's memory goes, stage by stage, on one real photograph.

One process does what a worker does: opens the screener, then decodes a 1600 px
``srahim_dev`` photograph, crops it, runs the gate model, measures quality, builds the model
input and grades it. A sampler thread reads this process's RSS every millisecond (psutil);
each stage prints the RSS before it and how far above that it rose while it ran. The photo is
screened twice: the second pass shows what stays allocated after the first.

Usage::

    python benchmarks/bench_worker_memory.py [--photo PATH]
"""

from __future__ import annotations

import argparse
import os
import threading
import time
from collections.abc import Callable
from pathlib import Path

import psutil

from retina_screen.executors import open_screener
from retina_screen.loading import load_image
from retina_screen.preprocess import DECODE_MAX_SIDE, model_input, screening_crop
from retina_screen.quality import measure
from retina_screen.settings import load_settings

ROOT = Path(__file__).resolve().parents[1]
DATA = Path(os.environ.get("RETINA_SCREEN_DATA", ROOT.parent / "shared" / "data")).resolve()
MB = 2**20


class PeakSampler(threading.Thread):
    """The highest RSS of this process since the last :meth:`reset`."""

    def __init__(self) -> None:
        super().__init__(daemon=True)
        self.process = psutil.Process()
        self.peak = 0

    def reset(self) -> int:
        time.sleep(0.05)
        self.peak = self.process.memory_info().rss
        return self.peak

    def run(self) -> None:
        while True:
            self.peak = max(self.peak, self.process.memory_info().rss)
            time.sleep(0.001)


def screen_in_stages(screener, photo: Path,  # noqa: ANN001 - engine.Screener
                     stage: Callable[[str, Callable[[], object]], object]) -> None:
    """What :meth:`retina_screen.engine.Screener.screen_loaded` does, one stage at a time."""
    loaded = stage("decode", lambda: load_image(photo, max_side=DECODE_MAX_SIDE))
    crop = stage("crop", lambda: screening_crop(loaded.pixels))
    p_fundus = stage("gate model", lambda: screener.model.p_fundus(crop.image))
    stage("measures", lambda: measure(crop, p_fundus))
    batch = stage("model input", lambda: model_input(crop.image, screener.model.spec)[None])
    stage("grading", lambda: screener.model.predict(batch))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--photo", type=Path,
                        default=DATA / "srahim_dev" / "images" / "Patient006_L.jpg")
    args = parser.parse_args()
    sampler = PeakSampler()
    sampler.start()
    base = sampler.reset()
    screener = open_screener(load_settings(use_environment=False, use_file=False), threads=1)
    time.sleep(0.05)
    print(f"screener opened: RSS {base / MB:.0f} -> {sampler.peak / MB:.0f} MB")

    def stage(name: str, work: Callable[[], object]) -> object:
        before = sampler.reset()
        result = work()
        time.sleep(0.05)
        print(f"  {name:<12} RSS before {before / MB:4.0f} MB, "
              f"rose by {(sampler.peak - before) / MB:3.0f} MB while it ran")
        return result

    for attempt in (1, 2):
        print(f"pass {attempt}:")
        screen_in_stages(screener, args.photo, stage)

if __name__ == "__main__":
    main()
