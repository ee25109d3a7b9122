"""Start the desktop application as a program and wait until its window is shown."""

from __future__ import annotations

import subprocess
import time
from pathlib import Path


def window_stays_open(command: list[str], env: dict[str, str], shown: Path,
                      timeout_s: float = 60) -> str:
    """Run ``command`` (the application, told to write ``shown`` through
    RETINA_SCREEN_GUI_SHOWN_FILE), assert that its window appears and that it is still running
    then; terminate it and return its standard error."""
    process = subprocess.Popen(command, env=env, stdout=subprocess.PIPE,
                               stderr=subprocess.PIPE, text=True)
    try:
        deadline = time.monotonic() + timeout_s
        while not shown.exists() and process.poll() is None and time.monotonic() < deadline:
            time.sleep(0.2)
        assert shown.exists(), f"window never shown (exit {process.poll()})"
        assert process.poll() is None, "the application quit by itself"
    finally:
        process.terminate()
        _, stderr = process.communicate(timeout=30)
    return stderr
