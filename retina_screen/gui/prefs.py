"""The GUI's own state in QSettings (window geometry, last folders); the settings it edits
(clinic, operator, paper, output folder) go to the one settings file the command line also
reads (:func:`retina_screen.settings.save_settings`).

Settings kept in QSettings by earlier versions (``settings/*``) are moved into the settings
file once (values already in the file win). The QSettings location can be redirected (tests,
portable installs) with ``RETINA_SCREEN_GUI_SETTINGS`` (path of an INI file) or ``path``; the
settings file with ``RETINA_SCREEN_CONFIG`` or ``settings_path``.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

from PySide6.QtCore import QByteArray, QSettings

from ..errors import ConfigError
from ..settings import (
    Settings,
    describe,
    load_settings,
    read_settings_file,
    save_settings,
    settings_file,
)

ORGANISATION = "retina-screen"
APPLICATION = "retina-screen-gui"
ENV_PATH = "RETINA_SCREEN_GUI_SETTINGS"

#: The settings the app edits (declared ``editable`` in retina_screen/settings.py).
SETTING_KEYS = tuple(name for name, info in describe().items() if info.editable)


class Preferences:
    """Typed access to the GUI's QSettings, and to the settings file for the settings."""

    def __init__(self, path: Path | str | None = None,
                 settings_path: Path | str | None = None) -> None:
        path = path or os.environ.get(ENV_PATH)
        if path:
            self.qsettings = QSettings(str(path), QSettings.Format.IniFormat)
        else:
            self.qsettings = QSettings(QSettings.Format.IniFormat, QSettings.Scope.UserScope,
                                       ORGANISATION, APPLICATION)
        self._settings_path = Path(settings_path) if settings_path else None
        self._migrate()

    @property
    def settings_path(self) -> Path:
        return self._settings_path or settings_file()

    def _migrate(self) -> None:
        """Move settings an earlier version kept in QSettings into the settings file."""
        old = {key: self.get(f"settings/{key}") for key in SETTING_KEYS}
        old = {key: value for key, value in old.items() if value}
        if not old:
            return
        try:
            stored = read_settings_file(self.settings_path)
            save_settings({k: v for k, v in old.items() if k not in stored}, self.settings_path)
        except (ConfigError, OSError):
            return  # keep them where they are; the settings file has a problem to show
        for key in old:
            self.qsettings.remove(f"settings/{key}")
        self.sync()

    # generic -------------------------------------------------------------------------------
    def get(self, key: str, default: str = "") -> str:
        value = self.qsettings.value(key, default)
        return "" if value is None else str(value)

    def set(self, key: str, value: Any) -> None:
        if value is None or value == "":
            self.qsettings.remove(key)
        else:
            self.qsettings.setValue(key, str(value))

    def get_bool(self, key: str, default: bool = False) -> bool:
        value = self.qsettings.value(key, default)
        return value in (True, "true", "1", 1)

    def sync(self) -> None:
        self.qsettings.sync()

    # settings (the settings file) -----------------------------------------------------------
    def overrides(self) -> dict[str, Any]:
        """The app-edited settings stored in the settings file (unset ones left out)."""
        stored = read_settings_file(self.settings_path)
        return {key: stored[key] for key in SETTING_KEYS if stored.get(key) not in (None, "")}

    def store_settings(self, values: dict[str, Any]) -> None:
        """Save app-edited settings to the settings file (read by the command line too)."""
        save_settings({key: values[key] for key in SETTING_KEYS if key in values},
                      self.settings_path)

    def apply(self, settings: Settings | None) -> Settings:
        """``settings`` with the stored settings on top, or the full chain (file, environment,
        defaults) when None."""
        if settings is None:
            if self._settings_path is None:
                return load_settings()
            return load_settings(overrides=self.overrides())
        return settings.replace(**self.overrides())

    @property
    def first_run_done(self) -> bool:
        """True once clinic name and operator have been entered."""
        try:
            stored = read_settings_file(self.settings_path)
        except ConfigError:
            return True  # a broken file is reported elsewhere; do not ask on top of it
        return bool(stored.get("clinic_name") and stored.get("operator"))

    # window state ------------------------------------------------------------------------------
    def window_state(self) -> tuple[QByteArray | None, QByteArray | None]:
        geometry = self.qsettings.value("window/geometry")
        state = self.qsettings.value("window/state")
        return (geometry if isinstance(geometry, QByteArray) else None,
                state if isinstance(state, QByteArray) else None)

    def save_window_state(self, geometry: QByteArray, state: QByteArray) -> None:
        self.qsettings.setValue("window/geometry", geometry)
        self.qsettings.setValue("window/state", state)
        self.sync()
