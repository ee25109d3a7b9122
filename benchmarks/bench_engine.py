"""Speed of the screening engine on the real 3872x2592 camera photographs.

Usage: python benchmarks/bench_engine.py [--data ../shared/data] [--batch-copies 20]

Prints, for the 6 full-resolution images of srahim_dev/full_resolution:
- decode only (reduced-scale JPEG decode as the engine does it),
- inference only (the ONNX grading model on a prepared input: the floor with decode),
- end to end, one image at a time in one process (load, FOV, quality gate, fundus gate,
  preprocessing, grading, decision fields),
- batch throughput of ``run_batch`` over copies of the 6 images with one worker per core,
  without reports and with reports, each photo its own patient (a report per photo: the
  worst case), and with reports for patients of two photos (a right and a left eye, as most
  clinics take them: a report per two photos).
"""

from __future__ import annotations

import argparse
import os
import platform
import statistics
import tempfile
import time
from pathlib import Path

from retina_screen.batch import run_batch
from retina_screen.engine import DECODE_MAX_SIDE, Screener
from retina_screen.loading import load_image
from retina_screen.preprocess import preprocess_photo
from retina_screen.settings import load_settings


def median_ms(function, repeats: int) -> float:  # noqa: ANN001
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        function()
        times.append((time.perf_counter() - start) * 1000)
    return statistics.median(times)


def _unique_copy(photo: Path, target: Path, number: int) -> None:
    """``photo`` with a JPEG comment naming the copy after its start marker: the same pixels,
    other bytes, so that no two patients of the benchmark share a photograph by content (the
    batch would warn about each, as for a wrong-patient export)."""
    data = photo.read_bytes()
    assert data[:2] == b"\xff\xd8", photo
    text = f"benchmark copy {number}".encode()
    comment = b"\xff\xfe" + (len(text) + 2).to_bytes(2, "big") + text
    target.write_bytes(data[:2] + comment + data[2:])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--data", type=Path, default=Path("../shared/data"))
    parser.add_argument("--batch-copies", type=int, default=20)
    parser.add_argument("--repeats", type=int, default=5)
    args = parser.parse_args()
    photos = sorted((args.data / "srahim_dev" / "full_resolution").glob("*.jpg"))
    with tempfile.TemporaryDirectory() as tmp:
        os.environ["XDG_DATA_HOME"] = str(Path(tmp) / "xdg")
        settings = load_settings(use_environment=False, use_file=False,
                                 overrides={"audit_db": Path(tmp) / "audit.sqlite",
                                            "log_dir": Path(tmp) / "logs"})
        screener = Screener(settings)
        tensors = [preprocess_photo(load_image(p, max_side=DECODE_MAX_SIDE).pixels,
                                    screener.model.spec)[0] for p in photos]
        decode = [median_ms(lambda p=p: load_image(p, max_side=DECODE_MAX_SIDE), args.repeats)
                  for p in photos]
        infer = [median_ms(lambda t=t: screener.model.predict(t[None]), args.repeats)
                 for t in tensors]
        end_to_end = [median_ms(lambda p=p: screener.screen_image(p), args.repeats)
                      for p in photos]
        decode_ms, infer_ms = statistics.median(decode), statistics.median(infer)
        e2e_ms = statistics.median(end_to_end)
        print(f"machine: {platform.processor() or platform.machine()}, {os.cpu_count()} cores, "
              f"Python {platform.python_version()}")
        print(f"images: {len(photos)} x 3872x2592 JPEG")
        print(f"decode only (1/4-scale JPEG decode): median {decode_ms:6.1f} ms")
        views = screener.model.manifest.raw.get("views", "the photo and its mirror image")
        print(f"inference only (ONNX; {views}): median {infer_ms:6.1f} ms")
        print(f"end to end per image (one process):  median {e2e_ms:6.1f} ms "
              f"= {e2e_ms / (decode_ms + infer_ms):.2f} x (decode + inference)")

        singles, pairs = Path(tmp) / "in", Path(tmp) / "in_pairs"
        singles.mkdir()
        pairs.mkdir()
        for copy in range(args.batch_copies):
            for index, photo in enumerate(photos):
                _unique_copy(photo, singles / f"C{copy:03d}{photo.stem}.jpg", copy)
                # The six photos as three patients of a right and a left eye.
                eye = "R" if index % 2 == 0 else "L"
                _unique_copy(photo, pairs / f"C{copy:03d}P{index // 2}_{eye}.jpg", copy)
        count = len(photos) * args.batch_copies
        runs = ((singles, False, count, "each photo its own patient, reports off"),
                (singles, True, count, "each photo its own patient, reports on "),
                (pairs, True, count // 2, "patients of two photos (R+L), reports on"))
        for index, (folder, reports, patients, what) in enumerate(runs):
            out = Path(tmp) / f"out{index}"
            start = time.perf_counter()
            summary = run_batch(folder, out, settings, reports=reports, audit=True)
            elapsed = time.perf_counter() - start
            assert summary.images == count and len(summary.patients) == patients
            print(f"batch, {count} images, {os.cpu_count()} workers, {what}: {elapsed:6.1f} s = "
                  f"{count / elapsed:5.1f} images/s (includes worker start-up and model load)")


if __name__ == "__main__":
    main()
