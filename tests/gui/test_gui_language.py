"""A second language: the app in Spanish shows no English text on its main screens, and the
Qt translation file is complete. (The report's Spanish is checked in tests/test_report.py; the
fit of the Spanish words under Xvfb in test_gui_layout.py.)"""

from __future__ import annotations

import json
import xml.etree.ElementTree as ET
from pathlib import Path

import pytest
from PySide6.QtWidgets import (
    QAbstractButton,
    QApplication,
    QComboBox,
    QLabel,
    QLineEdit,
    QMenu,
    QTabBar,
    QWidget,
)

from retina_screen.results import Eye

ROOT = Path(__file__).resolve().parents[2]
TS = ROOT / "retina_screen" / "gui" / "i18n" / "retina_screen_es.ts"
CATALOGUE = ROOT / "retina_screen" / "data" / "i18n" / "es.json"


def english_texts() -> set[str]:
    """Every English text with a Spanish translation that differs (GUI and engine wording)."""
    texts = set()
    for message in ET.parse(TS).iter("message"):
        source, translation = message.find("source").text, message.find("translation").text
        if source and translation and source != translation:
            texts.add(source.replace("&", "").strip())
    for source, translation in json.loads(CATALOGUE.read_text(encoding="utf-8"))["exact"].items():
        if source != translation:
            texts.add(source)
    return {t for t in texts if len(t) > 2 and "{" not in t}


def shown_texts(root: QWidget) -> list[str]:
    texts = [root.windowTitle()]
    for widget in root.findChildren(QWidget):
        if isinstance(widget, QLabel):
            texts.append(widget.text())
        elif isinstance(widget, QAbstractButton):
            texts += [widget.text(), widget.toolTip()]
        elif isinstance(widget, QLineEdit):
            texts.append(widget.placeholderText())
        elif isinstance(widget, QComboBox):
            texts += [widget.itemText(i) for i in range(widget.count())]
        elif isinstance(widget, QTabBar):
            texts += [widget.tabText(i) for i in range(widget.count())]
        elif isinstance(widget, QMenu):
            texts += [a.text() for a in widget.actions()]
        if widget.accessibleName():
            texts.append(widget.accessibleName())
    out = []
    for text in texts:
        for line in (text or "").replace("&", "").split("\n"):
            line = line.strip().lstrip("•").strip()
            if line:
                out.append(line)
    return out


def test_translation_file_is_complete():
    unfinished = [m.find("source").text for m in ET.parse(TS).iter("message")
                  if m.find("translation").get("type") == "unfinished"
                  or not (m.find("translation").text or "").strip()]
    assert not unfinished, unfinished
    assert TS.with_suffix(".qm").is_file(), "run pyside6-lrelease on the .ts file"


@pytest.fixture()
def spanish():
    from retina_screen.gui.i18n import install_language

    app = QApplication.instance()
    assert install_language(app, "es") == "es"
    yield
    install_language(app, "en")


def test_main_screens_in_spanish_have_no_english(spanish, open_window, srahim, wait_result,
                                                 tmp_path):
    from retina_screen.gui.i18n import untranslated_engine_text

    english = english_texts()
    window = open_window()
    page = window.patient_page
    assert window.windowTitle().startswith("Retina Screen – cribado")
    empty = [t for t in shown_texts(window) if t in english]
    assert not empty, empty

    unknown = tmp_path / "photo_0001.jpg"
    unknown.write_bytes((srahim / "images" / "Patient006_R.jpg").read_bytes())
    page.form.patient_id.setText("SR-013")
    page.form.patient_id.editingFinished.emit()
    page.add_photos([srahim / "images" / "Patient013_R.jpg"], Eye.RIGHT)
    page.add_photos([srahim / "images" / "Patient013_L.jpg"], Eye.LEFT)
    page.add_photos([unknown])
    wait_result(window)
    page.heatmap_action.trigger()
    QApplication.processEvents()
    screened = [t for t in shown_texts(window) if t in english]
    assert not screened, screened
    assert "DERIVAR" in page.result_panel.title.text()
    assert page.result_panel.eye_labels[Eye.RIGHT][1].text().startswith("Grado ")

    window.show_page(window.batch_page)
    page_texts = [t for t in shown_texts(window.batch_page) if t in english]
    assert not page_texts, page_texts
    model = window.batch_page.model
    headers = [model.headerData(i, Qt_horizontal()) for i in range(model.columnCount())]
    assert headers[0] == "ID del paciente" and not set(headers) & english
    assert not untranslated_engine_text(), untranslated_engine_text()


def Qt_horizontal():  # noqa: N802
    from PySide6.QtCore import Qt

    return Qt.Orientation.Horizontal


def test_translation_file_covers_every_text_in_the_source(tmp_path):
    """pyside6-lupdate over the GUI's source finds no text missing from the committed .ts: a
    new or changed text must be translated (then pyside6-lrelease) before it ships."""
    import shutil
    import subprocess
    import sys

    lupdate = shutil.which("pyside6-lupdate") or str(Path(sys.executable).with_name(
        "pyside6-lupdate"))
    if not Path(lupdate).exists():
        pytest.skip("pyside6-lupdate is not installed with PySide6")
    fresh = tmp_path / "fresh.ts"
    sources = sorted(str(p) for p in (ROOT / "retina_screen" / "gui").glob("*.py"))
    subprocess.run([lupdate, *sources, "-ts", str(fresh)], check=True, capture_output=True,
                   timeout=120)

    def texts(path: Path) -> set[tuple[str, str]]:
        return {(context.findtext("name") or "", message.findtext("source"))
                for context in ET.parse(path).iter("context")
                for message in context.iter("message")}

    missing = texts(fresh) - texts(TS)
    assert not missing, sorted(missing)


def test_status_bar_and_settings_in_spanish(spanish, open_window, tmp_path, qtbot):
    """First-run question cancelled, app in Spanish: the status bar said "operator not set" and
    the Settings dialog "No logo" in English."""
    from retina_screen.gui.prefs import Preferences

    english = english_texts()
    fresh = Preferences(tmp_path / "fresh.ini", settings_path=tmp_path / "fresh.toml")
    fresh.store_settings({"output_dir": str(tmp_path / "out")})
    window = open_window(preferences=fresh)
    status = window.clinic_label.text()
    assert status == "nombre de la clínica sin configurar · operador sin configurar", status
    window.open_settings()
    dialog = window.settings_dialog
    dialog.logo.setText("")
    assert dialog.logo_preview.text() == "Sin logotipo"
    not_image = tmp_path / "logo.png"
    not_image.write_text("not a picture", encoding="utf-8")
    dialog.logo.setText(str(not_image))
    assert dialog.logo_preview.text() == "Este archivo no es una imagen"
    combo = dialog.language
    assert [combo.itemText(i) for i in range(combo.count())] == [
        "Predeterminado del sistema", "English", "Español"]
    leftover = [t for t in shown_texts(dialog) if t in english]
    assert not leftover, leftover
    dialog.reject()
