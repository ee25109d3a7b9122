"""Open the real main window on the current display, screen a real camera folder on the folder
screen (stopped after the first patient, then resumed) and check the folder screen's layout.

    python tests/gui/batch_layout_probe.py --out DIR [--language es]

Run by ``test_gui_layout.py`` under Xvfb with the xcb platform and ``QT_SCALE_FACTOR``. Writes
``DIR/layout.json`` (the texts shown and every problem found) and ``DIR/batch.png``. Exit code
0 even when problems are found: the test reads the JSON and reports them all at once.
"""

from __future__ import annotations

import json
import os
import shutil
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
DATA = Path(os.environ.get("RETINA_SCREEN_DATA", ROOT.parent / "shared" / "data"))
PATIENTS = ("Patient006", "Patient013", "Patient036")
#: Patients with the right eye only: eight "one eye only" visits with the damaged one below.
ONE_EYED = ("Patient008", "Patient017", "Patient033", "Patient044", "Patient049", "Patient058",
            "Patient060")
#: The patient table must show at least this many rows (the page scrolls to give them room).
MIN_ROWS = 5


def make_camera_folder(folder: Path) -> None:
    """Three real patients, seven one-eyed patients and a damaged copy of a real photograph."""
    images = DATA / "srahim_dev" / "images"
    folder.mkdir(parents=True)
    for patient in PATIENTS:
        for eye in "RL":
            shutil.copy(images / f"{patient}_{eye}.jpg", folder)
    for patient in ONE_EYED:
        shutil.copy(images / f"{patient}_R.jpg", folder)
    data = (images / "Patient016_L.jpg").read_bytes()
    (folder / "Patient016_L.jpg").write_bytes(data[: len(data) // 3])


def main() -> int:  # noqa: C901, PLR0915
    from gui_helpers import open_probe_window, probe_arguments, wait_until

    args, tmp = probe_arguments(__doc__.splitlines()[0], "retina-screen-batch-layout-")
    sys.path.insert(0, str(ROOT))

    from PySide6.QtCore import QPoint, QRect
    from PySide6.QtWidgets import QAbstractButton, QLabel, QWidget


    app, window = open_probe_window(tmp, args.language, workers=2)

    problems: list[str] = []
    report: dict = {"language": args.language, "problems": problems}
    page = window.batch_page
    window.show_page(page)
    camera = tmp / "camera"
    make_camera_folder(camera)
    page.input_dir.setText(str(camera))
    page.output_dir.setText(str(tmp / "results"))
    finished: list[object] = []
    page.runFinished.connect(lambda summary, error: finished.append((summary, error)))

    def cancel_once(*_args: object) -> None:
        page.model.rowsInserted.disconnect(cancel_once)
        page.cancel()

    page.model.rowsInserted.connect(cancel_once)
    page.start()
    wait_until(lambda: bool(finished), 240_000)
    finished.clear()
    page.start()  # resume: the finished line then also counts the earlier run's photographs
    wait_until(lambda: bool(finished), 240_000)
    for _ in range(5):
        app.processEvents()
    wait_until(lambda: False, 300)
    summary, error = finished[0] if finished else (None, "the run did not finish")
    report["error"] = None if error is None else str(error)
    report["resumed"] = int(getattr(summary, "resumed", 0) or 0)
    report["progress_text"] = page.progress_label.text()
    report["rows"] = page.proxy.rowCount()
    report["messages"] = window.messages
    findings = getattr(page, "findings", None)  # before 2026-12-02: in the message strip
    report["findings"] = (findings.text() if findings is not None and findings.isVisible()
                          else window.messages[-1][1] if window.messages else "")

    area = window.tabs.currentWidget()
    viewport = area.viewport()

    def name(widget: QWidget) -> str:
        text = widget.text() if isinstance(widget, QLabel | QAbstractButton) else ""
        return (widget.accessibleName() or widget.objectName() or type(widget).__name__) + (
            f" {text[:40]!r}" if text else "")

    if area.horizontalScrollBar().maximum() > 0:
        problems.append(f"the folder screen is {page.width()} px wide, wider than its tab "
                        f"({viewport.width()} px): it scrolls sideways")
    # Every control lies within the tab's width (scrolled to the left edge, as at start).
    area.horizontalScrollBar().setValue(0)
    controls = [page.start_button, page.cancel_button, page.open_folder_button,
                page.refer_only, page.input_dir, page.output_dir, page.pattern, page.watch,
                page.count_label, page.progress_label]
    controls += [button for button in page.findChildren(QAbstractButton)
                 if button.isVisible() and button.parent() in (page.input_dir, page.output_dir)]
    for widget in controls:
        left = widget.mapTo(viewport, QPoint(0, 0)).x()
        if left < 0 or left + widget.width() > viewport.width() + 1:
            problems.append(f"{name(widget)} at x {left}..{left + widget.width()} is outside "
                            f"the tab's width {viewport.width()}")
    label = page.progress_label
    if label.width() and label.heightForWidth(label.width()) > label.height() + 1 \
            if label.wordWrap() else \
            label.fontMetrics().horizontalAdvance(label.text()) > label.width() + 1:
        problems.append(f"the progress line is cut: {label.text()!r} in {label.width()}x"
                        f"{label.height()} px")
    table = page.table
    row_height = table.verticalHeader().defaultSectionSize()
    shown_rows = table.viewport().height() // row_height
    report["table_rows_shown"] = shown_rows
    if shown_rows < MIN_ROWS:
        problems.append(f"the patient table shows {shown_rows} rows, needs at least {MIN_ROWS}")
    inside = QRect(table.mapTo(page, QPoint(0, 0)), table.size())
    if not page.rect().contains(inside):
        problems.append("the patient table lies outside the folder screen")
    # The run's findings are in the page and readable; the message strip covers no control.
    if findings is not None and findings.isVisible() and \
            findings.heightForWidth(findings.width()) > findings.height() + 1:
        problems.append(f"the run's findings are cut ({findings.height()} px high, need "
                        f"{findings.heightForWidth(findings.width())})")
    bar = window.message_bar
    if bar.isVisible():
        central = window.centralWidget()
        strip = bar.geometry()
        for widget in controls + [page.reports, findings, page.table]:
            if widget is not None and widget.isVisible():
                where = QRect(widget.mapTo(central, QPoint(0, 0)), widget.size())
                if strip.intersects(where):
                    problems.append(f"the message strip {strip.getRect()} covers {name(widget)}")
    window.grab().save(str(args.out / "batch.png"))

    window.close()
    for _ in range(5):
        app.processEvents()
    (args.out / "layout.json").write_text(json.dumps(report, indent=2), encoding="utf-8")
    shutil.rmtree(tmp, ignore_errors=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
