"""The frozen one-folder application (PyInstaller), built from this checkout and run as a clinic
would run it: unpacked from the release archive into another folder, without network access.

Slow (about a minute on 2 cores: ~30 s PyInstaller, ~20 s archive); Linux only.
"""

from __future__ import annotations

import importlib.util
import json
import logging
import os
import shutil
import subprocess
import sys
import tarfile
import time
from collections.abc import Iterator
from pathlib import Path
from types import ModuleType

import pytest
from window_helpers import window_stays_open

from retina_screen.results import Eye, PatientInfo

log = logging.getLogger(__name__)

ROOT = Path(__file__).resolve().parents[1]
BUILD = ROOT / "packaging" / "build.py"
#: Unpacked size budget (bytes). PyInstaller's bundle is ~436 MB today, most of it OpenCV's wheel
#: (cv2 74 MB + its OpenBLAS/FFmpeg 85 MB) and Qt (97 MB); this guards against regressions such
#: as torch or QtWebEngine slipping in.
SIZE_BUDGET = 480e6

pytestmark = [
    pytest.mark.slow,
    pytest.mark.skipif(not sys.platform.startswith("linux"),
                       reason="only the Linux frozen build is tested"),
    pytest.mark.skipif(importlib.util.find_spec("PyInstaller") is None,
                       reason="PyInstaller not installed (pip install -e .[build])"),
]


def _freeze_config() -> ModuleType:
    spec = importlib.util.spec_from_file_location("freeze_config",
                                                  ROOT / "packaging" / "freeze_config.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


fc = _freeze_config()


@pytest.fixture(scope="module")
def frozen(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Path]:
    """Build with packaging/build.py into a temp dir, unpack the .tar.gz elsewhere; its folder."""
    base = tmp_path_factory.mktemp("frozen")
    started = time.monotonic()
    result = subprocess.run(
        [sys.executable, str(BUILD), "--dist", str(base / "dist"), "--work", str(base / "work")],
        capture_output=True, text=True, timeout=900, check=False)
    assert result.returncode == 0, result.stdout + result.stderr
    log.info("frozen build took %.0f s:\n%s", time.monotonic() - started, result.stdout)
    (tarball,) = (base / "dist").glob(f"{fc.DIST_NAME}-*-linux-*.tar.gz")
    with tarfile.open(tarball) as tar:
        tar.extractall(base / "installed", filter="data")
    # Only the unpacked copy remains: nothing can lean on the build folders by accident.
    shutil.rmtree(base / "dist")
    shutil.rmtree(base / "work")
    (bundle,) = (base / "installed").iterdir()
    assert bundle.name == f"{fc.DIST_NAME}-{fc.project_version()}"
    yield bundle
    shutil.rmtree(base, ignore_errors=True)  # ~0.4 GB; pytest would keep it for three runs


def app_env(tmp_path: Path) -> dict[str, str]:
    """A clean user profile under tmp_path; no RETINA_SCREEN_* overrides; Qt offscreen."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("RETINA_SCREEN_")}
    env.update(HOME=str(tmp_path / "home"), XDG_DATA_HOME=str(tmp_path / "data"),
               XDG_CONFIG_HOME=str(tmp_path / "config"), QT_QPA_PLATFORM="offscreen")
    return env


def offline(command: list[str]) -> list[str]:
    """``command`` in a new network namespace (no network at all) where the kernel allows it."""
    unshare = shutil.which("unshare")
    if unshare and subprocess.run([unshare, "--net", "--map-root-user", "true"],
                                  capture_output=True, check=False).returncode == 0:
        return [unshare, "--net", "--map-root-user", *command]
    log.warning("cannot make a network namespace here; running with the network present")
    return command


def run(command: list[str], env: dict[str, str], timeout: float = 120,
        **kwargs) -> subprocess.CompletedProcess[str]:
    return subprocess.run(command, capture_output=True, text=True, env=env, timeout=timeout,
                          check=False, **kwargs)


def test_bundle_contents_and_size(frozen: Path) -> None:
    assert fc.bundle_problems(frozen) == []  # resources, metadata, no torch/scipy/unused Qt
    size = fc.tree_size(frozen)
    log.info("unpacked size %.1f MB", size / 1e6)
    assert size < SIZE_BUDGET, fc.largest_parts(frozen)
    for name in ("retina-screen.desktop", "retina-screen.png", "install-desktop.sh"):
        assert (frozen / name).is_file(), name
    assert os.access(frozen / "install-desktop.sh", os.X_OK)


def test_version_comes_from_package_metadata(frozen: Path, tmp_path: Path) -> None:
    result = run([str(frozen / fc.CLI_NAME), "--version"], app_env(tmp_path))
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == f"retina-screen {fc.project_version()}"


def test_command_line_never_loads_qt(frozen: Path, tmp_path: Path) -> None:
    env = dict(app_env(tmp_path), LD_DEBUG="files")
    result = run([str(frozen / fc.CLI_NAME), "model", "info"], env)
    assert result.returncode == 0, result.stderr[-2000:]
    assert "(verified)" in result.stdout
    assert "libonnxruntime" in result.stderr or "onnxruntime" in result.stderr  # LD_DEBUG works
    assert "libQt6" not in result.stderr


def test_screen_full_resolution_photo_matches_in_process(frozen: Path, srahim: Path, screener,
                                                          tmp_path: Path) -> None:
    pypdf = pytest.importorskip("pypdf")
    left = srahim / "full_resolution" / "Patient006_L.jpg"  # 3872x2592 camera original
    right = srahim / "images" / "Patient006_R.jpg"  # no full-resolution right eye is stored
    report = tmp_path / "report.pdf"
    env = app_env(tmp_path)
    result = run(offline([str(frozen / fc.CLI_NAME), "screen", "--json", "--report", str(report),
                          str(left), str(right)]), env)
    assert result.returncode == 0, result.stderr
    frozen_summary = json.loads(result.stdout)

    expected = screener.screen_patient([(left, Eye.LEFT), (right, Eye.RIGHT)],
                                       PatientInfo(patient_id="Patient006"))
    assert frozen_summary["patient_id"] == "Patient006"
    assert frozen_summary["outcome"] == expected.outcome.value
    assert frozen_summary["decision"] == expected.referral.headline
    assert frozen_summary["model"]["sha256"] == expected.model.sha256
    assert frozen_summary["quality_thresholds_version"] == expected.thresholds_version
    eyes = {eye["eye"]: eye for eye in frozen_summary["eyes"]}
    assert set(eyes) == {"left", "right"}
    for eye in expected.eyes:
        got = eyes[eye.eye.value]
        assert got["outcome"] == eye.outcome.value
        assert got["grade"] == eye.grade
        assert got["p_referable"] == pytest.approx(eye.p_referable, abs=1e-5)
        (image,) = eye.images
        (got_image,) = got["images"]
        assert got_image["status"] == image.status.value
        assert got_image["icdr_grade"] == (image.grading.grade if image.grading else None)
        assert got_image["sha256"] == image.sha256
        if image.grading:
            assert got_image["p_referable"] == pytest.approx(image.grading.p_referable, abs=1e-5)

    assert report.read_bytes().startswith(b"%PDF-")
    text = " ".join(" ".join(page.extract_text() for page in pypdf.PdfReader(report).pages)
                    .split())
    assert expected.referral.headline in text
    assert "Patient006" in text
    # user data went to the XDG folders, not next to the program
    assert (tmp_path / "data" / "retina-screen" / "audit.sqlite").is_file()
    assert (tmp_path / "data" / "retina-screen" / "logs" / "retina-screen.log").is_file()


def test_dicom_encodings_and_colour_profiles_match_in_process(frozen: Path, srahim: Path, screener,
                                                  tmp_path: Path) -> None:
    """DICOM pixel data in the lossless encodings archives use (JPEG-LS, JPEG 2000, RLE, JPEG
    Lossless): the frozen application finds their decoders (pydicom loads them by name, the
    last from retina_screen.dicom_lossless) and grades each as
    the development install does; and a JPEG in Adobe RGB is converted to sRGB there too
    (Pillow's colour management module)."""
    from safety.safety_helpers import encode, make_dicom, real_rgb, srgb_to_adobe

    from retina_screen.colour import adobe_rgb_profile

    rgb = real_rgb(srahim / "images" / "Patient013_L.jpg")
    paths = []
    for kind in ("jpeg-ls", "jpeg2000", "rle", "jpeg-lossless"):
        path = tmp_path / f"{kind}.dcm"
        path.write_bytes(make_dicom(rgb, patient_id="Patient013", laterality="L",
                                    lossless=kind))
        paths.append(path)
    adobe = tmp_path / "Patient013_L_adobe_rgb.jpg"
    adobe.write_bytes(encode(srgb_to_adobe(rgb), "JPEG", quality=95,
                             icc_profile=adobe_rgb_profile()))
    paths.append(adobe)
    for path in paths:
        result = run(offline([str(frozen / fc.CLI_NAME), "screen", "--json", str(path)]),
                     app_env(tmp_path))
        assert result.returncode == 0, result.stderr
        (eye,) = json.loads(result.stdout)["eyes"]
        (got,) = eye["images"]
        expected = screener.screen_image(path)
        assert got["status"] == expected.status.value == "ok", (path.name, got)
        assert got["p_referable"] == pytest.approx(expected.grading.p_referable, abs=1e-5)


def test_batch_with_worker_processes(frozen: Path, srahim: Path, tmp_path: Path) -> None:
    """Two worker processes: the frozen executable must divert forkserver children correctly."""
    photos = tmp_path / "camera"
    photos.mkdir()
    for name in ("Patient006_L", "Patient006_R", "Patient008_L", "Patient008_R"):
        shutil.copy(srahim / "images" / f"{name}.jpg", photos)
    out = tmp_path / "results"
    result = run(offline([str(frozen / fc.CLI_NAME), "batch", str(photos), "--out", str(out),
                          "--workers", "2", "--no-reports", "--quiet"]), app_env(tmp_path),
                 timeout=300)
    assert result.returncode == 0, result.stderr
    assert "Screened 4 images of 2 patient visits" in result.stdout
    rows = (out / "results.csv").read_text(encoding="utf-8").splitlines()
    assert len(rows) == 5 and all(",error," not in row for row in rows)


def _gui_log(tmp_path: Path) -> Path:
    return tmp_path / "data" / "retina-screen" / "logs"


def test_gui_main_window_appears(frozen: Path, tmp_path: Path) -> None:
    shown = tmp_path / "shown.txt"
    env = dict(app_env(tmp_path), RETINA_SCREEN_GUI_SHOWN_FILE=str(shown))
    result = run([str(frozen / fc.GUI_NAME), "--exit-when-shown",
                  "--gui-settings", str(tmp_path / "gui.ini")], env, timeout=60)
    assert result.returncode == 0, result.stderr
    assert float(shown.read_text(encoding="utf-8")) > 0
    assert not list(_gui_log(tmp_path).glob("crash-*.log"))
    assert "window shown" in (_gui_log(tmp_path) / "retina-screen-gui.log").read_text(
        encoding="utf-8")


def test_gui_from_command_line_executable(frozen: Path, tmp_path: Path) -> None:
    """``retina-screen gui`` runs without the PySide6 runtime hook (left out of the CLI)."""
    shown = tmp_path / "shown.txt"
    env = dict(app_env(tmp_path), RETINA_SCREEN_GUI_SHOWN_FILE=str(shown))
    stderr = window_stays_open([str(frozen / fc.CLI_NAME), "gui"], env, shown)
    assert not list(_gui_log(tmp_path).glob("crash-*.log")), stderr


def test_install_desktop_entry(frozen: Path, tmp_path: Path) -> None:
    env = app_env(tmp_path)
    home = Path(env["HOME"])
    result = run([str(frozen / "install-desktop.sh")], env)
    assert result.returncode == 0, result.stderr
    entry = tmp_path / "data" / "applications" / "retina-screen.desktop"
    text = entry.read_text(encoding="utf-8")
    assert f'Exec="{frozen}/retina-screen-gui" %F' in text
    assert (tmp_path / "data" / "icons" / "hicolor" / "256x256" / "apps"
            / "retina-screen.png").is_file()
    validate = shutil.which("desktop-file-validate")
    if validate:
        check = run([validate, str(entry)], env)
        assert check.returncode == 0, check.stdout + check.stderr
    # the command works through the link in ~/.local/bin (the bundle is found via the real path)
    linked = run([str(home / ".local" / "bin" / "retina-screen"), "model", "info"], env)
    assert linked.returncode == 0, linked.stderr
    assert "(verified)" in linked.stdout
    result = run([str(frozen / "install-desktop.sh"), "--uninstall"], env)
    assert result.returncode == 0, result.stderr
    assert not entry.exists()
    assert not (home / ".local" / "bin" / "retina-screen").exists()
