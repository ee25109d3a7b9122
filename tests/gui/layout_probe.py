"""Open the real main window on the current display, screen a real patient and check the layout.

    python tests/gui/layout_probe.py --out DIR [--language es]

Run by ``test_gui_layout.py`` under Xvfb with the xcb platform, once per screen size and scale
(``QT_SCALE_FACTOR``). Writes ``DIR/layout.json`` (screen, window and every problem found) and
one screenshot per state (``DIR/*.png``). Exit code 0 even when problems are found: the test
reads the JSON and reports them all at once.
"""

from __future__ import annotations

import json
import os
import shutil
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
DATA = Path(os.environ.get("RETINA_SCREEN_DATA", ROOT.parent / "shared" / "data"))
#: Below this logical screen size panels may scroll; from it up, everything must be visible.
COMFORT = (1024, 700)


def main() -> int:  # noqa: C901, PLR0915
    from gui_helpers import open_probe_window, probe_arguments, wait_until

    args, tmp = probe_arguments(__doc__.splitlines()[0], "retina-screen-layout-")
    sys.path.insert(0, str(ROOT))

    from PySide6.QtCore import QRect, Qt
    from PySide6.QtWidgets import QAbstractButton, QLabel, QWidget

    from retina_screen.results import Eye

    app, window = open_probe_window(tmp, args.language)

    screen = window.screen()
    available = screen.availableGeometry()
    comfortable = available.width() >= COMFORT[0] and available.height() >= COMFORT[1]
    problems: list[str] = []
    report = {"screen": [available.width(), available.height()],
              "scale": screen.devicePixelRatio(), "language": args.language,
              "comfortable": comfortable, "problems": problems}

    def rect_text(rect: QRect) -> str:
        return f"{rect.x()},{rect.y()} {rect.width()}x{rect.height()}"

    frame = window.frameGeometry()
    report["window"] = rect_text(frame)
    if not available.contains(frame):
        problems.append(f"window {rect_text(frame)} is not inside the screen "
                        f"{rect_text(available)}")

    def name(widget: QWidget) -> str:
        text = widget.text() if isinstance(widget, QLabel | QAbstractButton) else ""
        return (widget.accessibleName() or widget.objectName() or type(widget).__name__) + (
            f" {text!r}" if text else "")

    def check_visible(widget: QWidget, state: str) -> None:
        """Inside the window, not clipped by any parent, and its text not cut or elided."""
        if not widget.isVisible():
            problems.append(f"{state}: {name(widget)} is hidden")
            return
        top = widget.window()
        top_left = widget.mapTo(top, widget.rect().topLeft())
        inside = QRect(top_left, widget.size())
        if not top.rect().contains(inside):
            problems.append(f"{state}: {name(widget)} at {rect_text(inside)} is outside the "
                            f"window {top.width()}x{top.height()}")
        on_screen = QRect(widget.mapToGlobal(widget.rect().topLeft()), widget.size())
        if not screen.geometry().contains(on_screen):
            problems.append(f"{state}: {name(widget)} at {rect_text(on_screen)} is off the "
                            "screen")
        shown = widget.visibleRegion().boundingRect()
        if shown.width() < widget.width() or shown.height() < widget.height():
            problems.append(f"{state}: {name(widget)} is clipped (visible {rect_text(shown)} "
                            f"of {widget.width()}x{widget.height()})")
        if isinstance(widget, QLabel) and widget.text() and widget.pixmap().isNull():
            room = widget.contentsRect()
            if widget.wordWrap():
                needed = widget.heightForWidth(widget.width())
                if needed > widget.height() + 1:
                    problems.append(f"{state}: {name(widget)} needs {needed} px height, has "
                                    f"{widget.height()}")
            elif widget.textFormat() != Qt.TextFormat.RichText:
                advance = widget.fontMetrics().horizontalAdvance(widget.text())
                if advance > room.width() + 1:
                    problems.append(f"{state}: {name(widget)} needs {advance} px, has "
                                    f"{room.width()}")
        if isinstance(widget, QAbstractButton):
            hint = widget.sizeHint()
            if hint.width() > widget.width() + 1 or hint.height() > widget.height() + 1:
                problems.append(f"{state}: button {name(widget)} is {widget.width()}x"
                                f"{widget.height()}, needs {hint.width()}x{hint.height()}")

    def settle() -> None:
        for _ in range(5):
            app.processEvents()
        wait_until(lambda: False, 150)

    def shot(state: str) -> None:
        settle()
        window.grab().save(str(args.out / f"{state}.png"))

    page = window.patient_page
    page.confirm_discard = lambda *_quitting: True
    panel = page.result_panel
    images = DATA / "srahim_dev" / "images"

    def check_patient(state: str) -> None:
        if not comfortable:
            return
        widgets = [panel.banner, panel.title, panel.interval, panel.headline, panel.action,
                   panel.print_button, panel.save_button, panel.new_button,
                   page.form.patient_id, page.form.birth_date,
                   page.slots[Eye.RIGHT].add_button, page.slots[Eye.LEFT].add_button]
        for labels in panel.eye_labels.values():
            widgets.extend(labels)
        for widget in widgets:
            check_visible(widget, state)
        adds = {eye: page.slots[eye].add_button.text() for eye in (Eye.RIGHT, Eye.LEFT)}
        if bool(adds[Eye.RIGHT]) != bool(adds[Eye.LEFT]):
            problems.append(f"{state}: one eye's Add button shows its words, the other its "
                            f"icon only: {adds}")

    def check_outcome(state: str) -> None:
        """On every screen, comfortable or not: the decision word, the interval and each eye's
        grade get the height their words need, inside the panel; a page taller than its tab
        scrolls instead of squeezing them."""
        labels = [panel.title, panel.interval] + [row[1] for row in panel.eye_labels.values()]
        for label in labels:
            needed = (label.heightForWidth(label.width()) if label.wordWrap()
                      else label.sizeHint().height())
            if label.height() + 1 < needed:
                problems.append(f"{state}: {name(label)} is squeezed to {label.height()} px "
                                f"height, needs {needed}")
            inside = QRect(label.mapTo(panel, label.rect().topLeft()), label.size())
            if not panel.rect().contains(inside):
                problems.append(f"{state}: {name(label)} at {rect_text(inside)} is outside "
                                f"the result panel {panel.width()}x{panel.height()}")
        if panel.banner.height() + 1 < panel.banner.minimumSizeHint().height():
            problems.append(f"{state}: the outcome banner is {panel.banner.height()} px high, "
                            f"needs {panel.banner.minimumSizeHint().height()}")
        if page.height() + 1 < page.minimumSizeHint().height():
            problems.append(f"{state}: the patient page is squeezed to {page.height()} px, "
                            f"needs {page.minimumSizeHint().height()} (it should scroll)")

    # 1. a screened patient, both eyes
    page.form.patient_id.setText("SR-013")
    page.form.name.setText("Jane Example")
    page.form.changed.emit()
    page.add_photos([images / "Patient013_R.jpg"], Eye.RIGHT)
    page.add_photos([images / "Patient013_L.jpg"], Eye.LEFT)
    wait_until(lambda: page.session.result is not None and not page.session.pending)
    settle()
    report["outcome"] = page.session.result.outcome.value if page.session.result else None
    check_patient("patient")
    check_outcome("patient")
    shot("patient")

    # 1b. the report preview and the settings dialog fit on the screen too
    def check_dialog(dialog, state: str) -> None:  # noqa: ANN001
        settle()
        frame = dialog.frameGeometry()
        if not available.contains(frame):
            problems.append(f"{state}: dialog {rect_text(frame)} is not inside the screen "
                            f"{rect_text(available)}")
        for button in dialog.findChildren(QAbstractButton):
            if button.isVisible() and comfortable:
                check_visible(button, state)

    page.print_action.trigger()
    wait_until(lambda: page.preview is not None and not page.preview.busy, 30_000)
    if page.preview is not None:
        check_dialog(page.preview, "preview")
        page.preview.grab().save(str(args.out / "preview.png"))
        page.preview.done(0)
    from retina_screen.gui.settings_view import SettingsDialog

    dialog = SettingsDialog(window.prefs, window.settings, None, window)
    dialog.show()
    check_dialog(dialog, "settings")
    dialog.grab().save(str(args.out / "settings.png"))
    dialog.reject()

    # 2. a message appears and goes: nothing in the form moves
    before = {w: w.mapTo(window, w.rect().topLeft()) for w in
              (page.form.patient_id, page.form.name, panel.print_button, page.viewer)}
    window.show_message("error", "No printer is set up on this computer. Save the report as a "
                                 "PDF and print it from another computer, or ask your IT "
                                 "support to add a printer.")
    settle()
    shot("message")
    for widget, where in before.items():
        if widget.mapTo(window, widget.rect().topLeft()) != where:
            problems.append(f"message: {name(widget)} moved when a message appeared")
    window.message_bar.hide()
    settle()

    # 3. a photograph whose eye is not known: three rows, the "eye not known" slot
    unknown = tmp / "photo_0001.jpg"
    shutil.copy(images / "Patient006_R.jpg", unknown)
    page.add_photos([unknown])
    wait_until(lambda: page.session.result is not None and not page.session.pending)
    settle()
    check_patient("unknown_eye")
    check_outcome("unknown_eye")
    if comfortable:
        slot = page.slots[Eye.UNKNOWN]
        for card in slot.cards.values():
            for widget in (card.eye_box, card.remove_button, card.file_label):
                check_visible(widget, "unknown_eye") if card.visibleRegion().boundingRect() \
                    .height() >= card.height() else None
        hint = slot.hint
        if hint.isVisible() and hint.heightForWidth(hint.width()) > hint.height() + 1:
            problems.append("unknown_eye: the 'eye not known' instruction is cut")
    shot("unknown_eye")

    # 4. the folder screen
    window.show_page(window.batch_page)
    settle()
    if comfortable:
        batch = window.batch_page
        for widget in (batch.start_button, batch.cancel_button, batch.open_folder_button,
                       batch.refer_only, batch.count_label):
            check_visible(widget, "batch")
    shot("batch")

    page.new_patient(force=True)
    window.close()
    settle()
    (args.out / "layout.json").write_text(json.dumps(report, indent=2), encoding="utf-8")
    shutil.rmtree(tmp, ignore_errors=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
