"""Every setting, declared once with its type and default.

Precedence: command line > environment (``RETINA_SCREEN_<NAME>``) > settings file > default.
The settings file is TOML at ``$RETINA_SCREEN_CONFIG`` or ``<user config dir>/retina-screen/
settings.toml``. The GUI keeps its own preferences in QSettings and passes them in as overrides.
"""

from __future__ import annotations

import dataclasses
import os
import sys
import tomllib
from dataclasses import dataclass, field, fields
from pathlib import Path
from typing import Any

from .errors import ConfigError

PACKAGE_ROOT = Path(__file__).resolve().parent


def _resource_root() -> Path:
    """Folder holding ``models/`` and ``assets/``: the checkout, or the frozen app's bundle."""
    frozen = getattr(sys, "_MEIPASS", None)
    if frozen:
        return Path(frozen)
    return PACKAGE_ROOT.parent


RESOURCE_ROOT = _resource_root()


def user_config_dir() -> Path:
    base = os.environ.get("XDG_CONFIG_HOME") or (
        os.environ.get("APPDATA") if sys.platform == "win32" else None
    )
    return Path(base or Path.home() / ".config") / "retina-screen"


def user_data_dir() -> Path:
    base = os.environ.get("XDG_DATA_HOME") or (
        os.environ.get("LOCALAPPDATA") if sys.platform == "win32" else None
    )
    return Path(base or Path.home() / ".local" / "share") / "retina-screen"


@dataclass(frozen=True)
class Settings:
    """Application settings. Paths may be given as strings; they are converted to Path."""

    model: Path = field(default_factory=lambda: RESOURCE_ROOT / "models" / "dr_lite0.json")
    clinic_name: str = "Diabetic Eye Screening Clinic"
    clinic_address: str = ""
    clinic_logo: Path = field(default_factory=lambda: RESOURCE_ROOT / "assets" / "logo.png")
    operator: str = ""
    paper_size: str = "A4"  # "A4" or "Letter"
    output_dir: Path = field(default_factory=lambda: Path.home() / "retina-screen-results")
    workers: int = 0  # batch worker processes; 0 = one per CPU core
    referral_table: Path | None = None  # JSON overriding the built-in referral table
    audit_db: Path = field(default_factory=lambda: user_data_dir() / "audit.sqlite")
    log_dir: Path = field(default_factory=lambda: user_data_dir() / "logs")
    file_mode: int = 0o600  # permissions of result files, reports and the audit database
    #: Accept a grading model that is not in the package's trusted-model list (a user-supplied
    #: or edited model); every result, report and audit record then says "unverified model".
    allow_unverified_model: bool = False
    #: The per-installation secret that keys the audit trail and the patient pseudonyms
    #: (created owner-only on first use; its folder also keeps the trail's checkpoints).
    audit_key: Path = field(default_factory=lambda: user_config_dir() / "audit.key")

    def replace(self, **changes: Any) -> Settings:
        return load_settings(overrides=changes, base=self)


_ENV_PREFIX = "RETINA_SCREEN_"


def _coerce(name: str, value: Any) -> Any:
    declared = {f.name: f for f in fields(Settings)}[name]
    kind = str(declared.type)
    if value is None:
        if "None" in kind:
            return None
        raise ConfigError(f"setting '{name}' cannot be empty")
    try:
        if "Path" in kind:
            return Path(os.path.expanduser(str(value)))
        if kind == "bool":
            if isinstance(value, bool):
                return value
            text = str(value).strip().lower()
            if text not in ("1", "0", "true", "false", "yes", "no", "on", "off"):
                raise ValueError(text)
            return text in ("1", "true", "yes", "on")
        if kind == "int":
            return int(str(value), 0) if isinstance(value, str) else int(value)
        return str(value)
    except ValueError as exc:
        raise ConfigError(f"setting '{name}' has an invalid value: {value!r}") from exc


def settings_file() -> Path:
    return Path(os.environ.get("RETINA_SCREEN_CONFIG") or user_config_dir() / "settings.toml")


def load_settings(overrides: dict[str, Any] | None = None, base: Settings | None = None,
                  use_environment: bool = True, use_file: bool = True) -> Settings:
    """Settings from defaults (or ``base``), the settings file, the environment, then overrides.

    ``overrides`` (the command line) skips keys whose value is None.
    """
    known = {f.name for f in fields(Settings)}
    values: dict[str, Any] = {}
    if base is None and use_file:
        path = settings_file()
        if path.is_file():
            try:
                from_file = tomllib.loads(path.read_text(encoding="utf-8"))
            except (OSError, tomllib.TOMLDecodeError) as exc:
                raise ConfigError(f"settings file {path} is not valid TOML: {exc}") from exc
            unknown = set(from_file) - known
            if unknown:
                raise ConfigError(f"unknown setting(s) in {path}: {', '.join(sorted(unknown))}")
            values.update(from_file)
    if base is None and use_environment:
        for name in known:
            env = os.environ.get(_ENV_PREFIX + name.upper())
            if env is not None:
                values[name] = env
    for name, value in (overrides or {}).items():
        if name not in known:
            raise ConfigError(f"unknown setting '{name}'")
        if value is not None:
            values[name] = value
    start = base or Settings()
    coerced = {name: _coerce(name, value) for name, value in values.items()}
    result = dataclasses.replace(start, **coerced)
    if result.paper_size not in ("A4", "Letter"):
        raise ConfigError(f"paper size must be A4 or Letter, not {result.paper_size!r}")
    return result
