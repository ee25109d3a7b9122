"""Benchmark: time and size of the PDF report for a patient with 4 full-resolution photographs.

Budget (issue): at most 300 ms to build and at most 1.5 MB on disk. The four 3872x2592 camera
JPEGs in ``srahim_dev/full_resolution`` are screened once (two labelled right eye, two left;
the labels only shape the layout), then the report is built and written repeatedly with
:func:`retina_screen.report.build_report` (render + atomic write with fsync).

Usage::

    python benchmarks/bench_report.py [--repeat 20] [--paper A4|Letter] [--keep report.pdf]
    python benchmarks/bench_report.py --example-png docs/report_page1.png

``--example-png`` also renders page 1 of a real referable report (srahim_dev Patient036, both
eyes) to a PNG with ``pdftoppm`` (poppler-utils) at 60 dpi, the picture in the README.
"""

from __future__ import annotations

import argparse
import os
import platform
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

import reportlab  # noqa: E402

from retina_screen import report  # noqa: E402
from retina_screen.engine import Screener  # noqa: E402
from retina_screen.results import Eye, PatientInfo  # noqa: E402
from retina_screen.settings import load_settings  # noqa: E402

BUDGET_S = 0.300
BUDGET_BYTES = 1.5e6
PHOTOS = (("Patient006_L", Eye.RIGHT), ("Patient008_L", Eye.RIGHT),
          ("Patient016_L", Eye.LEFT), ("Patient017_L", Eye.LEFT))


def data_dir() -> Path:
    return Path(os.environ.get("RETINA_SCREEN_DATA", ROOT.parent / "shared" / "data"))


def example_png(screener: Screener, settings, png: Path) -> None:
    """Page 1 of a real referable report as a PNG (for the README)."""
    if shutil.which("pdftoppm") is None:
        raise SystemExit("pdftoppm not found: install poppler-utils")
    images = data_dir() / "srahim_dev" / "images"
    result = screener.screen_patient(
        [(images / "Patient036_R.jpg", Eye.RIGHT), (images / "Patient036_L.jpg", Eye.LEFT)],
        PatientInfo(patient_id="SR-036", name="Zoë Ångström-Núñez", birth_date="1958-03-14",
                    diabetes_type="type 2"))
    with tempfile.TemporaryDirectory() as tmp:
        pdf = report.build_report(result, Path(tmp) / "example.pdf", settings)
        subprocess.run(["pdftoppm", "-r", "60", "-png", "-f", "1", "-l", "1", "-singlefile",
                        str(pdf), str(png.with_suffix(""))], check=True)
    print(f"example page 1 ({result.outcome.value}): {png} ({png.stat().st_size / 1024:.0f} KB)")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeat", type=int, default=20, help="timed builds after the first")
    parser.add_argument("--paper", choices=("A4", "Letter"), default="A4")
    parser.add_argument("--keep", type=Path, help="also write the report here")
    parser.add_argument("--example-png", type=Path, help="render page 1 of a referable report")
    args = parser.parse_args()

    folder = data_dir() / "srahim_dev" / "full_resolution"
    if not folder.is_dir():
        raise SystemExit(f"full-resolution photographs not found in {folder} "
                         "(set RETINA_SCREEN_DATA)")
    settings = load_settings(
        overrides={"paper_size": args.paper, "clinic_name": "Harbour Diabetes Centre",
                   "clinic_address": "12 Harbour Road\nPort Elizabeth 6001",
                   "operator": "Nomsa Dlamini"},
        use_environment=False, use_file=False)
    screener = Screener(settings, threads=os.cpu_count())
    start = time.perf_counter()
    result = screener.screen_patient([(folder / f"{name}.jpg", eye) for name, eye in PHOTOS],
                                     PatientInfo(patient_id="BENCH-1", name="Анна Кузнецова"))
    screen_s = time.perf_counter() - start

    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "report.pdf"
        start = time.perf_counter()
        report.build_report(result, path, settings)
        first_s = time.perf_counter() - start
        times = []
        for _ in range(args.repeat):
            start = time.perf_counter()
            report.build_report(result, path, settings)
            times.append(time.perf_counter() - start)
        size = path.stat().st_size
        if args.keep:
            shutil.copyfile(path, args.keep)

    median, worst = statistics.median(times), max(times)
    print(f"machine: {platform.machine()}, {os.cpu_count()} CPU cores, Python "
          f"{platform.python_version()}, reportlab {reportlab.Version}")
    print(f"patient: {len(PHOTOS)} photographs of 3872x2592 px, outcome {result.outcome.value}, "
          f"screening took {screen_s:.2f} s (not part of the report)")
    print(f"report ({args.paper}): first build {first_s * 1000:.0f} ms (loads fonts and logo), "
          f"then median {median * 1000:.0f} ms, max {worst * 1000:.0f} ms "
          f"over {args.repeat} builds (render + atomic write + fsync)")
    print(f"size on disk: {size / 1e6:.3f} MB ({size / 1024:.0f} KiB)")
    ok = max(first_s, worst) <= BUDGET_S and size <= BUDGET_BYTES
    print(f"budget 300 ms / 1.5 MB: {'within budget' if ok else 'OVER BUDGET'}")
    if args.example_png:
        example_png(screener, settings, args.example_png)
    return 0 if ok else 1


if __name__ == "__main__":
    raise SystemExit(main())
