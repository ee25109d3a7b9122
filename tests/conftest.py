"""Shared fixtures: the real data folder, a session-wide screener, real photographs."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
DATA = Path(os.environ.get("RETINA_SCREEN_DATA", ROOT.parent / "shared" / "data")).resolve()
HAVE_DATA = (DATA / "srahim_dev" / "labels.csv").is_file()



def pytest_configure(config: pytest.Config) -> None:
    if os.environ.get("RETINA_SCREEN_REQUIRE_DATA") and not HAVE_DATA:
        raise pytest.UsageError(f"RETINA_SCREEN_REQUIRE_DATA is set but no data at {DATA}")


requires_data = pytest.mark.skipif(
    not HAVE_DATA, reason=f"real fundus data not found at {DATA} (set RETINA_SCREEN_DATA)"
)


@pytest.fixture(scope="session")
def data_dir() -> Path:
    if not HAVE_DATA:
        pytest.skip(f"real fundus data not found at {DATA} (set RETINA_SCREEN_DATA)")
    return DATA


@pytest.fixture(scope="session")
def screener():
    from retina_screen.engine import Screener
    from retina_screen.settings import load_settings

    return Screener(load_settings(use_environment=False, use_file=False), threads=2)


@pytest.fixture(scope="session")
def srahim(data_dir: Path) -> Path:
    return data_dir / "srahim_dev"


@pytest.fixture()
def isolated_settings(tmp_path: Path, monkeypatch: pytest.MonkeyPatch):
    """Settings whose user folders (audit database, logs, config) live under tmp_path."""
    from retina_screen.settings import load_settings

    monkeypatch.setenv("XDG_CONFIG_HOME", str(tmp_path / "config"))
    monkeypatch.setenv("XDG_DATA_HOME", str(tmp_path / "data"))
    return load_settings(
        overrides={"output_dir": tmp_path / "out", "audit_db": tmp_path / "audit.sqlite",
                   "log_dir": tmp_path / "logs"},
        use_environment=False, use_file=False,
    )


def with_camera_date(photo: Path, target: Path, taken: str | None) -> Path:
    """A copy of the JPEG ``photo`` at ``target`` carrying an Exif segment that dates it
    ``taken`` ("yyyy:mm:dd hh:mm:ss"), as a camera writes it (none when None); the image data
    untouched."""
    from PIL import Image

    data = photo.read_bytes()
    if taken is not None:
        exif = Image.Exif()
        exif[0x0132] = taken
        exif.get_ifd(0x8769)[0x9003] = taken
        segment = exif.tobytes()
        data = data[:2] + b"\xff\xe1" + (len(segment) + 2).to_bytes(2, "big") + segment + data[2:]
    target.write_bytes(data)
    return target


@pytest.fixture()
def camera_dated():
    """:func:`with_camera_date`, for tests in other folders."""
    return with_camera_date

