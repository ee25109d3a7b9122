"""Accessibility: a visible focus ring on every control, a name for every control a screen
reader meets, and the whole patient flow done with the keyboard alone."""

from __future__ import annotations

import pytest
from gui_helpers import WAIT_MS
from PySide6.QtCore import Qt
from PySide6.QtGui import QColor, QImage
from PySide6.QtTest import QTest
from PySide6.QtWidgets import (
    QAbstractButton,
    QApplication,
    QComboBox,
    QFileDialog,
    QLabel,
    QLineEdit,
    QWidget,
)

from retina_screen.results import Eye


def focusable(root: QWidget) -> list[QWidget]:
    return [w for w in root.findChildren(QWidget)
            if w.isVisible() and w.isEnabled()
            and w.focusPolicy() & Qt.FocusPolicy.TabFocus and not w.focusProxy()]


def spoken_name(widget: QWidget) -> str:
    """What a screen reader announces: the accessible name, the button text or a buddy label."""
    if widget.accessibleName():
        return widget.accessibleName()
    if isinstance(widget, QAbstractButton) and widget.text().replace("&", "").strip():
        return widget.text()
    window = widget.window()
    for label in window.findChildren(QLabel):
        if label.buddy() is widget and label.text().strip():
            return label.text()
    return ""


def test_every_control_has_a_name(window, srahim, wait_result):
    page = window.patient_page
    page.add_photos([srahim / "images" / "Patient013_R.jpg"], Eye.RIGHT)
    page.add_photos([srahim / "images" / "Patient013_L.jpg"], Eye.LEFT)
    wait_result(window)
    for tab in (window.patient_page, window.batch_page):
        window.show_page(tab)
        QApplication.processEvents()
        unnamed = [f"{type(w).__name__} {w.objectName()}" for w in focusable(window)
                   if not spoken_name(w)]
        assert not unnamed, unnamed
    assert page.result_panel.icon.accessibleName()  # the outcome symbol says what it means


def ring_colour_present(widget: QWidget) -> bool:
    """The focus colour (style.FOCUS) is painted around the focused widget."""
    from retina_screen.gui.style import FOCUS

    image: QImage = widget.grab().toImage()
    target = QColor(FOCUS)
    for x in range(image.width()):
        for y in (0, 1, 2, image.height() // 2):
            colour = image.pixelColor(x, min(y, image.height() - 1))
            if abs(colour.red() - target.red()) + abs(colour.green() - target.green()) + \
                    abs(colour.blue() - target.blue()) < 60:
                return True
    for y in range(image.height()):
        for x in (0, 1, 2):
            colour = image.pixelColor(x, y)
            if abs(colour.red() - target.red()) + abs(colour.green() - target.green()) + \
                    abs(colour.blue() - target.blue()) < 60:
                return True
    return False


def test_focus_is_visible_on_primary_buttons_fields_and_the_viewer(window, srahim, wait_result,
                                                                  qtbot):
    page = window.patient_page
    page.add_photos([srahim / "images" / "Patient013_R.jpg"], Eye.RIGHT)
    page.add_photos([srahim / "images" / "Patient013_L.jpg"], Eye.LEFT)
    wait_result(window)
    window.activateWindow()
    for widget in (page.result_panel.print_button, page.result_panel.new_button,
                   page.form.patient_id, page.viewer, page.slots[Eye.RIGHT].add_button,
                   window.batch_page.start_button):
        if widget is window.batch_page.start_button:
            window.show_page(window.batch_page)
        widget.setFocus(Qt.FocusReason.TabFocusReason)
        qtbot.waitUntil(widget.hasFocus, timeout=2000)
        QApplication.processEvents()
        assert ring_colour_present(widget), f"no visible focus on {spoken_name(widget)}"


def test_patient_flow_with_the_keyboard_only(window, srahim, wait_result, qtbot, monkeypatch):
    """Type the patient, add both eyes' photographs with the Add buttons, wait for the result,
    open the report preview from the Print button, close it, start a new patient."""
    page = window.patient_page
    window.activateWindow()
    page.form.patient_id.setFocus()
    qtbot.waitUntil(page.form.patient_id.hasFocus, timeout=2000)

    def focused() -> QWidget:
        return QApplication.focusWidget()

    def tab() -> QWidget:
        QTest.keyClick(focused(), Qt.Key.Key_Tab)
        return focused()

    QTest.keyClicks(focused(), "SR-013")
    assert tab() is page.form.name
    QTest.keyClicks(focused(), "Jane Example")
    assert tab() is page.form.birth_date
    QTest.keyClicks(focused(), "1961-04-17")
    assert tab() is page.form.sex
    QTest.keyClick(focused(), Qt.Key.Key_Down)  # Female
    assert isinstance(focused(), QComboBox) and page.form.sex.currentText() == "Female"
    assert tab() is page.form.diabetes
    QTest.keyClick(focused(), Qt.Key.Key_Down)  # Type 1
    assert isinstance(focused(), QComboBox) and page.form.diabetes.currentIndex() == 1
    assert tab() is page.form.accession
    QTest.keyClicks(focused(), "ACC-77")

    # the file dialog itself is the system's; it answers with the photographs' paths
    photos = {Eye.RIGHT: srahim / "images" / "Patient013_R.jpg",
              Eye.LEFT: srahim / "images" / "Patient013_L.jpg"}
    asked = []

    def choose(parent, caption, folder, filters):  # noqa: ANN001, ARG001
        eye = Eye.RIGHT if "right" in caption.lower() else Eye.LEFT
        asked.append(eye)
        return [str(photos[eye])], filters

    monkeypatch.setattr(QFileDialog, "getOpenFileNames", staticmethod(choose))
    assert tab() is page.slots[Eye.RIGHT].add_button
    QTest.keyClick(focused(), Qt.Key.Key_Space)
    # The right eye's photograph comes next (its card, eye choice, Remove): it is corrected
    # there by keyboard without tabbing past Print and Save (they came first before).
    (card,) = page.slots[Eye.RIGHT].cards.values()
    qtbot.waitUntil(card.isVisible, timeout=2000)  # shown once the event loop runs
    assert [tab(), tab(), tab()] == [card, card.eye_box, card.remove_button]
    assert tab() is page.slots[Eye.LEFT].add_button
    QTest.keyClick(focused(), Qt.Key.Key_Space)
    (left,) = page.slots[Eye.LEFT].cards.values()
    qtbot.waitUntil(left.isVisible, timeout=2000)
    assert asked == [Eye.RIGHT, Eye.LEFT]
    result = wait_result(window)
    assert result.patient.patient_id == "SR-013" and result.patient.name == "Jane Example"
    assert result.patient.birth_date == "1961-04-17"
    assert (result.patient.sex, result.patient.accession) == ("F", "ACC-77")

    # on through the photographs and the viewer to the report buttons
    seen = []
    for _ in range(12):
        widget = tab()
        seen.append(widget)
        if widget is page.result_panel.print_button:
            break
    assert page.viewer in seen and page.result_panel.print_button in seen
    assert seen.index(left) < seen.index(page.viewer) < seen.index(page.heatmap_button) \
        < seen.index(page.result_panel.print_button)
    pytest.importorskip("pypdfium2")
    QTest.keyClick(focused(), Qt.Key.Key_Return)
    qtbot.waitUntil(lambda: page.preview is not None, timeout=WAIT_MS)
    dialog = page.preview
    with qtbot.waitSignal(dialog.pagesReady, timeout=WAIT_MS):
        pass
    qtbot.waitUntil(lambda: focused() is dialog.print_button, timeout=2000)
    QTest.keyClick(dialog, Qt.Key.Key_Escape)
    qtbot.waitUntil(lambda: page.preview is None, timeout=WAIT_MS)

    window.activateWindow()  # what the window manager does when the dialog closes
    qtbot.waitUntil(lambda: focused() is not None, timeout=2000)
    assert focused() is page.result_panel.print_button  # focus is back where it was
    QTest.keyClick(focused(), Qt.Key.Key_N, Qt.KeyboardModifier.ControlModifier)
    assert not page.session.photos and page.form.patient_id.text() == ""
    assert focused() is page.form.patient_id
    assert isinstance(focused(), QLineEdit)


def test_typing_at_once_goes_into_the_patient_id(window, qtbot):
    """The focus was on the tab bar when the window opened, so an operator typing the
    patient's ID at once typed nowhere (found 2026-12-02)."""
    window.activateWindow()
    page = window.patient_page
    qtbot.waitUntil(lambda: QApplication.focusWidget() is page.form.patient_id, timeout=WAIT_MS)
    QTest.keyClicks(QApplication.focusWidget(), "SR-101")
    assert page.form.patient_id.text() == "SR-101"
