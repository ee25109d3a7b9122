"""One settings store: what the app's Settings dialog saves is what the command line reads; the
dialog and the command-line flags come from the same declarations; old stores are upgraded."""

from __future__ import annotations

import argparse

import pytest
from PySide6.QtCore import QSettings
from PySide6.QtWidgets import QLabel

from retina_screen.errors import ConfigError
from retina_screen.settings import (
    SCHEMA_VERSION,
    add_setting_arguments,
    describe,
    load_settings,
    read_settings_file,
    setting_arguments,
)


@pytest.fixture()
def store(tmp_path, monkeypatch):
    path = tmp_path / "settings.toml"
    monkeypatch.setenv("RETINA_SCREEN_CONFIG", str(path))
    for name in describe():
        monkeypatch.delenv(f"RETINA_SCREEN_{name.upper()}", raising=False)
    return path


def test_dialog_saves_to_the_file_the_command_line_reads(qtbot, store, tmp_path):
    from retina_screen.gui.prefs import SETTING_KEYS, Preferences
    from retina_screen.gui.settings_view import SettingsDialog

    prefs = Preferences(tmp_path / "gui.ini")
    dialog = SettingsDialog(prefs, load_settings())
    qtbot.addWidget(dialog)
    # every editable setting has its row, titled and explained by its declaration
    info = describe()
    assert set(dialog.editors) == set(SETTING_KEYS)
    for name, editor in dialog.editors.items():
        assert editor.accessibleName() == info[name].title
        assert info[name].doc[1:] in editor.toolTip()
        labels = [w for w in dialog.findChildren(QLabel) if w.buddy() is editor]
        assert labels and labels[0].text().replace("&", "") == info[name].title

    dialog.clinic_name.setText("Hill Street Surgery")
    dialog.clinic_address.setPlainText("1 Hill Street\nTownsville")
    dialog.operator.setText("Zoë Ñúñez")
    dialog.paper.setCurrentText("Letter")
    dialog.accept()
    assert dialog.result() == dialog.DialogCode.Accepted

    text = store.read_text(encoding="utf-8")
    assert f"schema_version = {SCHEMA_VERSION}" in text
    cli = load_settings()  # what `retina-screen batch` would use
    assert cli.clinic_name == "Hill Street Surgery"
    assert cli.clinic_address == "1 Hill Street\nTownsville"
    assert cli.operator == "Zoë Ñúñez" and cli.paper_size == "Letter"
    assert prefs.first_run_done
    # nothing of it left in QSettings (only window geometry and folders live there)
    assert not [k for k in prefs.qsettings.allKeys() if k.startswith("settings/")]


def test_command_line_flags_come_from_the_declarations(store):
    parser = argparse.ArgumentParser()
    add_setting_arguments(parser)
    flags = {option for action in parser._actions for option in action.option_strings}
    for info in describe().values():
        assert info.flag in flags
    args = parser.parse_args(["--operator", "B. Nurse", "--paper-size", "Letter",
                              "--allow-unverified-model"])
    assert setting_arguments(args) == {"operator": "B. Nurse", "paper_size": "Letter",
                                       "allow_unverified_model": True}
    with pytest.raises(SystemExit):
        parser.parse_args(["--paper-size", "A5"])  # the declared choices


def test_settings_kept_in_qsettings_by_an_earlier_version_move_to_the_file(store, tmp_path):
    from retina_screen.gui.prefs import Preferences

    ini = tmp_path / "old-gui.ini"
    old = QSettings(str(ini), QSettings.Format.IniFormat)
    old.setValue("settings/clinic_name", "Old Clinic")
    old.setValue("settings/operator", "Old Operator")
    old.setValue("window/geometry", b"kept")
    old.sync()
    store.write_text('operator = "File Operator"\n', encoding="utf-8")  # a version 1 file

    prefs = Preferences(ini)
    stored = read_settings_file(store)
    assert stored == {"clinic_name": "Old Clinic", "operator": "File Operator"}  # file wins
    assert prefs.qsettings.value("settings/clinic_name") is None
    assert prefs.qsettings.value("window/geometry") is not None
    assert load_settings().clinic_name == "Old Clinic"


def test_schema_upgrade_and_newer_files(store):
    store.write_text('paper_size = "letter"\nclinic_name = "X"\n', encoding="utf-8")  # v1
    assert read_settings_file(store) == {"paper_size": "Letter", "clinic_name": "X"}
    assert load_settings().paper_size == "Letter"
    store.write_text(f"schema_version = {SCHEMA_VERSION + 1}\n", encoding="utf-8")
    with pytest.raises(ConfigError, match="newer version"):
        load_settings()


def test_language_is_chosen_by_name_and_its_restart_is_said(open_window, prefs, qtbot):
    """The Language choice listed raw codes (system / en / es) and, once saved, said only
    "Settings saved." while the app stayed in its language until restarted: the choices are
    named, the code is what is stored, and a visible note says the app changes on restart."""
    from retina_screen.settings import read_settings_file

    window = open_window()
    window.open_settings()
    dialog = window.settings_dialog
    combo = dialog.language
    assert [combo.itemText(i) for i in range(combo.count())] == [
        "System default", "English", "Español"]
    assert dialog.language_note.isHidden()
    combo.setCurrentIndex(combo.findData("es"))
    assert not dialog.language_note.isHidden()
    assert "started again" in dialog.language_note.text()
    dialog.accept()
    assert read_settings_file(prefs.settings_path)["language"] == "es"
    assert window.settings.language == "es"
    level, text = window.messages[-1]
    assert level == "info" and "Restart Retina Screen to change the app's language" in text
    assert window.message_bar.isVisible() and window.message_bar.text.text() == text

    window.open_settings()  # unchanged language: no restart note
    again = window.settings_dialog
    assert again.language.currentText() == "Español"
    again.accept()
    assert window.messages[-1] == ("info", "Settings saved.")
