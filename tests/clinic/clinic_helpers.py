"""Helpers of the clinic-systems tests: the CLI in a subprocess with private user folders."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def cli_env(home: Path, **extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("RETINA_SCREEN_")}
    env.update({"PYTHONPATH": str(ROOT), "XDG_DATA_HOME": str(home / "xdg-data"),
                "XDG_CONFIG_HOME": str(home / "xdg-config"), "HOME": str(home),
                "PYTHONDONTWRITEBYTECODE": "1"})
    env.update(extra)
    return env


def run_cli(args: list[str], env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "retina_screen", *args], env=env, cwd=ROOT,
                          capture_output=True, text=True, timeout=240, check=False)


def closed_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]  # nothing listens there once closed
