"""Fixtures for the safety tests (the data folder and screener come from tests/conftest.py)."""

from __future__ import annotations

import shutil
import tempfile
from collections.abc import Iterator
from pathlib import Path

import pytest


@pytest.fixture()
def shared_tmp() -> Iterator[Path]:
    """A temporary folder that other users can traverse (pytest's tmp_path is private to its
    owner), for tests that run a command as an unprivileged user."""
    folder = Path(tempfile.mkdtemp(prefix="retina-safety-"))
    folder.chmod(0o755)
    try:
        yield folder
    finally:
        shutil.rmtree(folder, ignore_errors=True)
