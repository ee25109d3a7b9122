"""Helpers shared by the GUI tests (importable: tests/gui is on sys.path under pytest)."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

from PySide6.QtCore import QEventLoop, QMimeData, QPointF, Qt, QTimer, QUrl
from PySide6.QtGui import QDragEnterEvent, QDropEvent
from PySide6.QtWidgets import QApplication, QWidget

WAIT_MS = 20_000


def drop_files(widget: QWidget, paths: list[Path]) -> None:
    """Drag real files onto a widget, as the operator would from a file manager."""
    mime = QMimeData()
    mime.setUrls([QUrl.fromLocalFile(str(p)) for p in paths])
    centre = widget.rect().center()
    enter = QDragEnterEvent(centre, Qt.DropAction.CopyAction, mime,  # QPoint, as in C++
                            Qt.MouseButton.LeftButton, Qt.KeyboardModifier.NoModifier)
    QApplication.sendEvent(widget, enter)
    assert enter.isAccepted(), "the widget refused the drag"
    drop = QDropEvent(QPointF(centre), Qt.DropAction.CopyAction, mime,
                      Qt.MouseButton.LeftButton, Qt.KeyboardModifier.NoModifier)
    QApplication.sendEvent(widget, drop)


def wait_until(condition: Callable[[], object], timeout_ms: int = 120_000) -> bool:
    """Run the event loop until ``condition()`` is true or the time is up (scripts, no qtbot)."""
    loop = QEventLoop()
    timer = QTimer()
    timer.timeout.connect(lambda: condition() and loop.quit())
    timer.start(30)
    QTimer.singleShot(timeout_ms, loop.quit)
    loop.exec()
    timer.stop()
    return bool(condition())


def probe_arguments(description: str, prefix: str):  # noqa: ANN201 - (Namespace, Path)
    """A layout probe's command line (``--out``, ``--language``) and its private folder, with
    the user folders pointed there before the application is imported."""
    import argparse
    import os
    import tempfile

    parser = argparse.ArgumentParser(description=description)
    parser.add_argument("--out", type=Path, required=True)
    parser.add_argument("--language", default="en")
    args = parser.parse_args()
    args.out.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=prefix))
    os.environ.update(XDG_CONFIG_HOME=str(tmp / "config"), XDG_DATA_HOME=str(tmp / "data"),
                      RETINA_SCREEN_CONFIG=str(tmp / "settings.toml"))
    return args, tmp


def open_probe_window(tmp: Path, language: str, **settings: object):  # noqa: ANN201
    """(app, main window) as a clinic's screen shows them: the application's style and
    language, a clinic and an operator set, user folders under ``tmp``; shown and ready."""
    import sys

    from PySide6.QtGui import QGuiApplication

    from retina_screen.gui.i18n import install_language
    from retina_screen.gui.main_window import MainWindow
    from retina_screen.gui.prefs import Preferences
    from retina_screen.gui.style import apply_style
    from retina_screen.settings import load_settings

    QGuiApplication.setHighDpiScaleFactorRoundingPolicy(
        Qt.HighDpiScaleFactorRoundingPolicy.PassThrough)
    app = QApplication([sys.argv[0]])
    apply_style(app)
    install_language(app, language)
    prefs = Preferences(tmp / "gui.ini")
    prefs.store_settings({"clinic_name": "Riverside Diabetes Clinic", "operator": "A. Nurse",
                          "output_dir": str(tmp / "out")})
    window = MainWindow(prefs, load_settings(
        overrides={"output_dir": tmp / "out", "log_dir": tmp / "logs",
                   "audit_db": tmp / "audit.sqlite", **settings},
        use_environment=False, use_file=False))
    window.show()
    wait_until(lambda: window.screener is not None)
    wait_until(lambda: False, 300)  # let the window manager (if any) place the window
    return app, window
