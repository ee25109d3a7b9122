"""``retina-screen gui`` opens the desktop application as a program of its own: the command
line (core) never imports Qt, and the window takes the command's place (same process)."""

from __future__ import annotations

import os
import sys
from pathlib import Path

import pytest
from window_helpers import window_stays_open

from retina_screen.cli import gui_command

SCRIPT = Path(sys.executable).parent / "retina-screen"


def _window_appears(command: list[str], tmp_path: Path) -> None:
    shown = tmp_path / "shown.txt"
    env = dict(os.environ, RETINA_SCREEN_GUI_SHOWN_FILE=str(shown),
               XDG_CONFIG_HOME=str(tmp_path / "config"), XDG_DATA_HOME=str(tmp_path / "data"))
    stderr = window_stays_open(command, env, shown)
    assert "Traceback" not in stderr, stderr


def test_gui_command_opens_the_window_from_the_module(tmp_path: Path) -> None:
    """``python -m retina_screen gui``: no windowed executable beside it, so the GUI package
    runs under the same interpreter (terminating the command closes the window: exec)."""
    _window_appears([sys.executable, "-m", "retina_screen", "gui"], tmp_path)


@pytest.mark.skipif(not SCRIPT.is_file(), reason="retina-screen is not installed as a script")
def test_gui_command_of_the_installed_script_runs_the_windowed_script(tmp_path: Path) -> None:
    saved = sys.argv[0]
    try:
        sys.argv[0] = str(SCRIPT)
        assert gui_command(["photo.jpg"]) == [str(SCRIPT.with_name("retina-screen-gui")),
                                              "photo.jpg"]
    finally:
        sys.argv[0] = saved
    _window_appears([str(SCRIPT), "gui"], tmp_path)
