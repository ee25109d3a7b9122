"""GUI test fixtures: offscreen Qt, isolated preferences and settings, the real main window.

Every test that opens a window fails at teardown if a worker (pool task or job thread) is
still running after the window closed.
"""

from __future__ import annotations

import json
import os
import tempfile
from pathlib import Path

# Offscreen Qt (no display needed), set before any QApplication exists, with a 1920x1080
# virtual screen (the plugin's default screen is 800x800, smaller than the window).
_SCREEN = Path(tempfile.mkdtemp(prefix="retina-screen-qt-")) / "offscreen.json"
_SCREEN.write_text(json.dumps({"screens": [{"name": "screen0", "x": 0, "y": 0, "width": 1920,
                                            "height": 1080, "logicalDpi": 96, "dpr": 1}]}))
os.environ["QT_QPA_PLATFORM"] = f"offscreen:configfile={_SCREEN}"
os.environ.setdefault("QT_LOGGING_RULES", "qt.qpa.*=false")


import pytest  # noqa: E402

pytest.importorskip("PySide6.QtWidgets")
pytest.importorskip("pytestqt")

from gui_helpers import WAIT_MS  # noqa: E402
from PySide6.QtCore import QThreadPool  # noqa: E402
from PySide6.QtWidgets import QApplication  # noqa: E402


@pytest.fixture()
def prefs(tmp_path: Path, monkeypatch: pytest.MonkeyPatch):
    """GUI preferences in a private INI file and a private settings file, first-run questions
    already answered."""
    from retina_screen.gui.prefs import ENV_PATH, Preferences

    path = tmp_path / "gui-prefs.ini"
    monkeypatch.setenv(ENV_PATH, str(path))
    monkeypatch.setenv("RETINA_SCREEN_CONFIG", str(tmp_path / "settings.toml"))
    preferences = Preferences(path)
    preferences.store_settings({"clinic_name": "Riverside Diabetes Clinic",
                                "operator": "A. Nurse", "output_dir": str(tmp_path / "out")})
    return preferences


def assert_no_workers_left() -> None:
    from retina_screen.gui import workers

    QApplication.processEvents()
    assert QThreadPool.globalInstance().activeThreadCount() == 0, "a pool worker is still busy"
    running = [t for t in workers._active_threads if t.isRunning()]
    assert not running, f"{len(running)} job thread(s) still running"


@pytest.fixture()
def open_window(qtbot, prefs, isolated_settings):
    """Factory for real main windows; each is closed, and its workers checked, at teardown."""
    from retina_screen.gui.main_window import MainWindow
    from retina_screen.gui.style import apply_style

    apply_style(QApplication.instance())
    windows = []

    def factory(settings=None, wait_model: bool = True, preferences=None):
        window = MainWindow(preferences or prefs, settings or isolated_settings)
        qtbot.addWidget(window)
        window.patient_page.confirm_discard = lambda *_quitting: True
        if wait_model:
            with qtbot.waitSignal(window.modelReady, timeout=WAIT_MS):
                window.show()
        else:
            window.show()
        windows.append(window)
        return window

    yield factory
    for window in windows:
        window.patient_page.confirm_discard = lambda *_quitting: True
        window.close()
    assert_no_workers_left()


@pytest.fixture()
def window(open_window):
    return open_window()


@pytest.fixture()
def wait_result(qtbot):
    """Wait for the patient page's result signal once every photo is screened."""

    def wait(window, timeout: int = WAIT_MS):
        page = window.patient_page
        if page.session.result is not None and not page.session.pending:
            return page.session.result
        with qtbot.waitSignal(page.resultShown, timeout=timeout,
                              check_params_cb=lambda r: r is not None
                              and not page.session.pending):
            pass
        return page.session.result

    return wait
