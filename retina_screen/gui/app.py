"""Entry point of the desktop application: ``retina-screen-gui`` and ``retina-screen gui``."""

from __future__ import annotations

import argparse
import logging
import logging.handlers
import multiprocessing
import os
import sys
import time
from collections.abc import Sequence
from pathlib import Path

from ..errors import RetinaScreenError
from ..settings import Settings, load_settings

log = logging.getLogger(__name__)

LOG_FILE = "retina-screen-gui.log"
#: Benchmarks: write the time (time.time()) at which the window became visible to this file.
ENV_SHOWN_FILE = "RETINA_SCREEN_GUI_SHOWN_FILE"


def setup_logging(log_dir: Path) -> list[logging.Handler]:
    """Log to a rotating file in ``log_dir`` (and warnings to stderr); returns the handlers."""
    root = logging.getLogger()
    root.setLevel(logging.INFO)
    formatter = logging.Formatter("%(asctime)s %(levelname)s %(name)s: %(message)s")
    handlers: list[logging.Handler] = []
    try:
        log_dir.mkdir(parents=True, exist_ok=True)
        handler = logging.handlers.RotatingFileHandler(log_dir / LOG_FILE, maxBytes=2_000_000,
                                                       backupCount=3, encoding="utf-8")
        handlers.append(handler)
    except OSError:
        pass  # no log file (read-only profile): keep running, warnings still go to stderr
    stderr = logging.StreamHandler()
    stderr.setLevel(logging.WARNING)
    handlers.append(stderr)
    for handler in handlers:
        handler.setFormatter(formatter)
        root.addHandler(handler)
    return handlers


def parse_args(argv: Sequence[str]) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="retina-screen-gui",
                                     description="Retina Screen desktop application")
    parser.add_argument("photos", nargs="*", type=Path,
                        help="photographs of one patient to open at start")
    parser.add_argument("--gui-settings", type=Path, default=None,
                        help="INI file for the window's preferences (default: per user)")
    parser.add_argument("--exit-when-shown", action="store_true", help=argparse.SUPPRESS)
    args, _qt_args = parser.parse_known_args(list(argv))
    return args


def _load_settings(prefs) -> tuple[Settings, str]:  # noqa: ANN001
    """Settings with the GUI's preferences on top; on a broken settings file, the defaults."""
    try:
        return prefs.apply(None), ""
    except RetinaScreenError as exc:
        fallback = load_settings(use_file=False)
        return fallback, f"The settings file has a problem and was ignored: {exc}"


def main(argv: Sequence[str] | None = None) -> int:
    """Open the main window; returns the exit code. ``argv`` excludes the program name."""
    started = time.perf_counter()
    multiprocessing.freeze_support()  # batch workers of a frozen (PyInstaller) build
    args = parse_args(sys.argv[1:] if argv is None else argv)
    from PySide6.QtCore import QCoreApplication, Qt, QTimer
    from PySide6.QtGui import QGuiApplication
    from PySide6.QtWidgets import QApplication, QMessageBox

    from .icons import app_icon
    from .main_window import MainWindow
    from .messages import CrashHandler, app_version
    from .prefs import APPLICATION, ORGANISATION, Preferences
    from .style import apply_style

    QGuiApplication.setHighDpiScaleFactorRoundingPolicy(
        Qt.HighDpiScaleFactorRoundingPolicy.PassThrough)
    app = QApplication.instance() or QApplication([sys.argv[0] if sys.argv else APPLICATION])
    app.setOrganizationName(ORGANISATION)
    app.setApplicationName(APPLICATION)
    app.setApplicationDisplayName("Retina Screen")
    app.setWindowIcon(app_icon())
    apply_style(app)

    prefs = Preferences(args.gui_settings)
    settings, settings_problem = _load_settings(prefs)
    from .i18n import install_language

    install_language(app, settings.language)
    log_handlers = setup_logging(Path(settings.log_dir))
    log.info("starting %s", app_version())

    window: MainWindow | None = None

    def show_crash(text: str, crash_log: Path | None) -> None:
        box = QMessageBox(window)
        box.setIcon(QMessageBox.Icon.Critical)
        box.setWindowTitle(QCoreApplication.translate("app", "Unexpected problem"))
        where = ("\n\n" + QCoreApplication.translate("app", "A crash report was written to:")
                 + f"\n{crash_log}" if crash_log else "")
        box.setText(QCoreApplication.translate(
            "app", "Something unexpected went wrong. The application keeps running; if this "
                   "happens again, restart it and tell your support contact.") + where)
        box.setDetailedText(text)
        box.setAttribute(Qt.WidgetAttribute.WA_DeleteOnClose)
        box.open()

    handler = CrashHandler(lambda: Path(window.settings.log_dir if window else settings.log_dir),
                           show_crash).install()
    window = MainWindow(prefs, settings)
    window.show()
    if settings_problem:
        window.show_message("warning", settings_problem)
    shown_file = os.environ.get(ENV_SHOWN_FILE)

    def after_show() -> None:
        log.info("window shown %.2f s after start", time.perf_counter() - started)
        if shown_file:  # benchmark: the window's first frame is painted before the clock stops
            window.repaint()
            app.processEvents()
            Path(shown_file).write_text(f"{time.time():.6f}\n", encoding="utf-8")
        if args.exit_when_shown:
            window.close()
            return
        window.maybe_first_run()
        if args.photos:
            window.add_photos(args.photos)

    QTimer.singleShot(0, after_show)
    code = app.exec()
    handler.uninstall()
    for log_handler in log_handlers:
        logging.getLogger().removeHandler(log_handler)
        log_handler.close()
    return int(code)


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
