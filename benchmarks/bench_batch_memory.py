"""Benchmark: peak memory of a 1,000-image batch (the whole process tree) and its throughput.

Budget (issue 7): the batch runs in constant memory, at most 600 MB peak RSS summed over the
main process, the forkserver and every worker. The input is 1,000 photographs: the 120 real
1600 px ``srahim_dev`` images repeated under new patient names (500 patients, both eyes; links
by default, ``--copy`` for real files). ``python -m retina_screen batch`` runs in a fresh
process with its user folders in a temporary directory; a sampler adds up the RSS of the
process and all its descendants every ``--interval`` seconds (psutil).

Usage::

    python benchmarks/bench_batch_memory.py [--images 1000] [--workers N] [--no-reports]
        [--copy] [--interval 0.1] [--keep DIR]

Prints peak RSS (total and per process at that moment), RSS after the first 100 and the
last 100 images (constant memory means these are about equal), images per second and the
wall time; exits 1 when the peak exceeds the budget or the batch fails.
"""

from __future__ import annotations

import argparse
import csv
import os
import platform
import shutil
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

import psutil

ROOT = Path(__file__).resolve().parents[1]
DATA = Path(os.environ.get("RETINA_SCREEN_DATA", ROOT.parent / "shared" / "data")).resolve()
BUDGET_MB = 600.0


def make_input(folder: Path, count: int, copy: bool) -> int:
    """``count`` photographs named P<nnnn>_<eye>.jpg from the real srahim_dev images."""
    with open(DATA / "srahim_dev" / "labels.csv", newline="") as handle:
        sources = [DATA / "srahim_dev" / row["file"] for row in csv.DictReader(handle)]
    folder.mkdir(parents=True)
    for index in range(count):
        source = sources[index % len(sources)]
        eye = "R" if index % 2 == 0 else "L"
        target = folder / f"P{index // 2:04d}_{eye}.jpg"
        if copy:
            shutil.copyfile(source, target)
        else:
            target.symlink_to(source)
    return count


class TreeSampler(threading.Thread):
    """Samples the summed RSS of a process and its descendants."""

    def __init__(self, pid: int, interval: float, journal: Path) -> None:
        super().__init__(daemon=True)
        self.root = psutil.Process(pid)
        self.interval = interval
        self.journal = journal
        self.stop = threading.Event()
        self.peak = 0
        self.peak_detail: list[tuple[str, int]] = []
        self.samples: list[tuple[float, int, int]] = []  # (time, images done, total RSS)
        self.max_processes = 0

    def images_done(self) -> int:
        try:
            with open(self.journal, "rb") as handle:
                return handle.read().count(b'"kind": "image"')
        except OSError:
            return 0

    def run(self) -> None:
        while not self.stop.is_set():
            try:
                processes = [self.root, *self.root.children(recursive=True)]
            except psutil.NoSuchProcess:
                return
            detail = []
            for process in processes:
                try:
                    detail.append((" ".join(process.cmdline()[1:4])[:60],
                                   process.memory_info().rss))
                except (psutil.NoSuchProcess, psutil.AccessDenied):
                    continue
            total = sum(rss for _, rss in detail)
            self.max_processes = max(self.max_processes, len(detail))
            if total > self.peak:
                self.peak, self.peak_detail = total, detail
            self.samples.append((time.monotonic(), self.images_done(), total))
            self.stop.wait(self.interval)


def rss_between(samples: list[tuple[float, int, int]], low: int, high: int) -> float:
    values = [rss for _, done, rss in samples if low <= done < high]
    return max(values) / 2**20 if values else float("nan")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--images", type=int, default=1000)
    parser.add_argument("--workers", type=int, default=0, help="0: one per CPU core")
    parser.add_argument("--no-reports", action="store_true")
    parser.add_argument("--copy", action="store_true", help="copy the photos instead of links")
    parser.add_argument("--interval", type=float, default=0.1)
    parser.add_argument("--keep", type=Path, help="keep the output folder here")
    args = parser.parse_args()

    work = Path(tempfile.mkdtemp(prefix="bench-batch-memory-"))
    try:
        count = make_input(work / "input", args.images, args.copy)
        out = args.keep or work / "out"
        env = {k: v for k, v in os.environ.items() if not k.startswith("RETINA_SCREEN_")}
        env.update(XDG_DATA_HOME=str(work / "xdg-data"), XDG_CONFIG_HOME=str(work / "xdg-config"),
                   PYTHONPATH=os.pathsep.join(filter(None, [str(ROOT),
                                                            env.get("PYTHONPATH", "")])))
        command = [sys.executable, "-m", "retina_screen", "batch", str(work / "input"),
                   "--out", str(out), "--quiet"]
        if args.workers:
            command += ["--workers", str(args.workers)]
        if args.no_reports:
            command.append("--no-reports")
        started = time.monotonic()
        process = subprocess.Popen(command, cwd=ROOT, env=env, stdout=subprocess.PIPE,
                                   stderr=subprocess.PIPE, text=True)
        sampler = TreeSampler(process.pid, args.interval, out / "results.jsonl")
        sampler.start()
        stdout, stderr = process.communicate()
        elapsed = time.monotonic() - started
        sampler.stop.set()
        sampler.join()
        if process.returncode != 0:
            print(stderr[-3000:], file=sys.stderr)
            print(f"batch failed (exit {process.returncode})")
            return 1
        first = [t for t, done, _ in sampler.samples if done >= 1]
        screening_s = elapsed - (first[0] - started) if first else elapsed
        peak_mb = sampler.peak / 2**20
        print(f"machine: {platform.processor() or platform.machine()}, {os.cpu_count()} CPUs, "
              f"Python {platform.python_version()}")
        print(f"input: {count} images ({'copies' if args.copy else 'links'}) of "
              f"{count // 2} patients; reports {'off' if args.no_reports else 'on'}; workers "
              f"{args.workers or 'default'}; {sampler.max_processes} processes at most")
        print(stdout.strip())
        print(f"wall time: {elapsed:.1f} s; throughput {count / elapsed:.2f} images/s overall, "
              f"{count / screening_s:.2f} images/s after start-up")
        print(f"RSS of the process tree: peak {peak_mb:.0f} MB (budget {BUDGET_MB:.0f} MB); "
              f"max while images 0-99 done {rss_between(sampler.samples, 0, 100):.0f} MB, "
              f"while the last 100 done "
              f"{rss_between(sampler.samples, count - 100, count + 1):.0f} MB")
        for name, rss in sorted(sampler.peak_detail, key=lambda item: -item[1]):
            print(f"  at peak: {rss / 2**20:6.0f} MB  {name}")
        verdict = "PASS" if peak_mb <= BUDGET_MB else "FAIL"
        print(f"{verdict}: peak RSS {peak_mb:.0f} MB {'<=' if verdict == 'PASS' else '>'} "
              f"{BUDGET_MB:.0f} MB")
        return 0 if verdict == "PASS" else 1
    finally:
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    sys.exit(main())
