"""The window on real screen sizes, under Xvfb with Qt's xcb platform (as on a clinic laptop).

Each case starts its own Xvfb screen and runs ``layout_probe.py`` in a subprocess with
``QT_SCALE_FACTOR``: the window must lie inside the screen, and from 1024x700 logical pixels up
the outcome banner, the per-eye rows and the action buttons lie inside the window, unclipped and
not elided; a message never moves the form. On every screen, small ones included (1366x768 at
150 %), the outcome banner's words get the height they need and the page scrolls instead.
Screenshots go to ``out/layout/<case>/``.

CI (``.ci/run``) starts one Xvfb server with the three screen sizes as X screens 0, 1 and 2 and
names it in ``RETINA_SCREEN_XVFB_DISPLAY``; without it each case starts its own Xvfb. Skipped
(with the reason) only where Xvfb is not installed and ``CI`` is not ``true``.
"""

from __future__ import annotations

import json
import os
import select
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
PROBE = Path(__file__).with_name("layout_probe.py")
BATCH_PROBE = Path(__file__).with_name("batch_layout_probe.py")
SHOTS = ROOT / "out" / "layout"
IN_CI = os.environ.get("CI", "").lower() == "true"

#: (screen width, height in device pixels, QT_SCALE_FACTOR)
CASES = [(1024, 700, 1.0), (1366, 768, 1.0), (1920, 1080, 1.25), (1920, 1080, 1.5),
         (1366, 768, 1.25), (1366, 768, 1.5), (3840, 2160, 2.0)]
#: The X screens of the shared Xvfb server that .ci/run starts, in order.
SHARED_SCREENS = [(1024, 700), (1366, 768), (1920, 1080)]
SHARED_DISPLAY = os.environ.get("RETINA_SCREEN_XVFB_DISPLAY", "")


def xvfb() -> str:
    found = shutil.which("Xvfb")
    if found is None:
        if IN_CI:
            pytest.fail("Xvfb is not installed, but CI must run the layout tests (.ci/run "
                        "installs it)")
        pytest.skip("Xvfb is not installed (apt-get install xvfb libxcb-cursor0 ...); the "
                    "layout checks need a real X screen")
    return found


class Screen:
    """An Xvfb server on a free display number, stopped at exit."""

    def __init__(self, width: int, height: int) -> None:
        read, write = os.pipe()
        self.process = subprocess.Popen(
            [xvfb(), "-displayfd", str(write), "-screen", "0", f"{width}x{height}x24",
             "-nolisten", "tcp", "-noreset"],
            pass_fds=(write,), stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        os.close(write)
        number = b""
        try:
            while not number.endswith(b"\n"):
                ready, _, _ = select.select([read], [], [], 20)
                if not ready:
                    raise RuntimeError("Xvfb did not start within 20 s")
                chunk = os.read(read, 16)
                if not chunk:
                    raise RuntimeError("Xvfb exited at start")
                number += chunk
        except Exception:
            self.stop()
            raise
        finally:
            os.close(read)
        self.display = f":{number.decode().strip()}"

    def stop(self) -> None:
        self.process.terminate()
        try:
            self.process.wait(10)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait()


def run_probe(width: int, height: int, scale: float, language: str = "en",
              probe: Path = PROBE) -> dict:
    """Run the probe on a fresh Xvfb screen; returns its layout.json."""
    name = (f"{width}x{height}@{scale:g}" + ("" if language == "en" else f"-{language}")
            + ("" if probe == PROBE else f"-{probe.stem}"))
    out = SHOTS / name
    shutil.rmtree(out, ignore_errors=True)
    screen = None
    if SHARED_DISPLAY and (width, height) in SHARED_SCREENS:
        display = f"{SHARED_DISPLAY}.{SHARED_SCREENS.index((width, height))}"
    else:
        screen = Screen(width, height)
        display = screen.display
    try:
        env = dict(os.environ, DISPLAY=display, QT_QPA_PLATFORM="xcb",
                   QT_SCALE_FACTOR=f"{scale:g}")
        env.pop("WAYLAND_DISPLAY", None)
        done = subprocess.run([sys.executable, str(probe), "--out", str(out),
                               "--language", language],
                              env=env, capture_output=True, text=True, timeout=240)
    finally:
        if screen is not None:
            screen.stop()
    report = out / "layout.json"
    assert done.returncode == 0 and report.is_file(), (
        f"the layout probe failed ({done.returncode}):\n{done.stdout[-3000:]}"
        f"\n{done.stderr[-3000:]}")
    return json.loads(report.read_text(encoding="utf-8"))


#: The Spanish words (longer) on the smallest comfortable screen and on a scaled laptop.
SPANISH_CASES = [(1024, 700, 1.0, "es"), (1366, 768, 1.25, "es")]


@pytest.mark.parametrize(("width", "height", "scale", "language"),
                         [(*case, "en") for case in CASES] + SPANISH_CASES,
                         ids=[f"{w}x{h}@{s:g}" for w, h, s in CASES]
                         + [f"{w}x{h}@{s:g}-{lang}" for w, h, s, lang in SPANISH_CASES])
def test_window_fits_real_screens(width, height, scale, language, data_dir):
    report = run_probe(width, height, scale, language)
    assert report["language"] == language
    logical = [round(width / scale), round(height / scale)]
    assert abs(report["screen"][0] - logical[0]) <= 1 and \
        abs(report["screen"][1] - logical[1]) <= 1, report
    assert report["comfortable"] == (logical[0] >= 1024 and logical[1] >= 700)
    assert report["outcome"] is not None, "the patient was not screened"
    assert report["problems"] == [], "\n".join(report["problems"])


@pytest.mark.parametrize("language", ["en", "es"])
def test_folder_screen_fits_a_scaled_laptop(language, data_dir):
    """1366x768 at 125 %, a real folder stopped and resumed: the long finished line wraps
    (nothing is pushed off to the right, no sideways scrolling) and the patient table shows at
    least five rows (the page scrolls to give them room); the run's findings are listed under
    the progress bar, and the message strip covers no folder control."""
    report = run_probe(1366, 768, 1.25, language, probe=BATCH_PROBE)
    assert report["error"] is None, report["error"]
    assert report["rows"] == 11, report  # 3 patients, 7 one-eyed ones, a damaged file's
    assert report["resumed"] > 0, report  # the second run resumed the first
    # The run's findings are listed in the page (the strip covered the folder controls),
    # with no "…." and no "most frequent" reason when each reason occurred once.
    findings = report["findings"]
    # The one-eyed visits are named (batch_findings: up to IDS_SHOWN, then "… (+N)").
    assert "Patient008" in findings and "Patient017" in findings, findings
    assert "\u2026." not in findings and "most frequent" not in findings, findings
    assert "más frecuente" not in findings, findings
    assert report["problems"] == [], "\n".join(report["problems"])
