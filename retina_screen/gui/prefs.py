"""The GUI's preferences, kept in QSettings and passed to :func:`load_settings` as overrides.

The storage location can be redirected (tests, portable installs) with the environment variable
``RETINA_SCREEN_GUI_SETTINGS`` (path of an INI file) or the ``path`` argument.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

from PySide6.QtCore import QByteArray, QSettings

from ..settings import Settings, load_settings

ORGANISATION = "retina-screen"
APPLICATION = "retina-screen-gui"
ENV_PATH = "RETINA_SCREEN_GUI_SETTINGS"

#: Preferences that map onto :class:`~retina_screen.settings.Settings` fields.
SETTING_KEYS = ("clinic_name", "clinic_address", "clinic_logo", "operator", "paper_size",
                "output_dir")


class Preferences:
    """Typed access to the GUI's QSettings."""

    def __init__(self, path: Path | str | None = None) -> None:
        path = path or os.environ.get(ENV_PATH)
        if path:
            self.qsettings = QSettings(str(path), QSettings.Format.IniFormat)
        else:
            self.qsettings = QSettings(QSettings.Format.IniFormat, QSettings.Scope.UserScope,
                                       ORGANISATION, APPLICATION)

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

    # settings overrides ----------------------------------------------------------------------
    def overrides(self) -> dict[str, str]:
        """Stored settings values, as overrides for :func:`load_settings` (unset ones left out)."""
        values = {key: self.get(f"settings/{key}") for key in SETTING_KEYS}
        return {key: value for key, value in values.items() if value}

    def store_settings(self, values: dict[str, Any]) -> None:
        for key in SETTING_KEYS:
            if key in values:
                value = values[key]
                self.set(f"settings/{key}", str(value) if value not in (None, "") else "")
        self.sync()

    def apply(self, settings: Settings | None) -> Settings:
        """``settings`` (or the full default chain) with these preferences on top."""
        if settings is None:
            return load_settings(overrides=self.overrides())
        return settings.replace(**self.overrides())

    @property
    def first_run_done(self) -> bool:
        """True once clinic name and operator have been entered."""
        return bool(self.get("settings/clinic_name") and self.get("settings/operator"))

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
