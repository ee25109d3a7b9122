"""Every setting, declared once with its type, default, title and help text.

Precedence: command line > environment (``RETINA_SCREEN_<NAME>``) > settings file > default.
The settings file is TOML at ``$RETINA_SCREEN_CONFIG`` or ``<user config dir>/retina-screen/
settings.toml``; it is the one store for the command line and the desktop app (the app's
Settings dialog writes it with :func:`save_settings`; only window geometry stays in QSettings).
The file carries ``schema_version``; older files are upgraded on reading (:data:`UPGRADES`).
The command-line flags (:func:`add_setting_arguments`) and the app's Settings dialog are built
from the declarations (:func:`describe`).
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import logging
import os
import sys
import tomllib
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field, fields
from pathlib import Path
from typing import Any

from .errors import ConfigError

log = logging.getLogger(__name__)

#: Version of the settings file's layout; written as ``schema_version`` by :func:`save_settings`.
SCHEMA_VERSION = 2

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


def setting(default: Any = dataclasses.MISSING, *, title: str, doc: str,
            factory: Callable[[], Any] | None = None, choices: tuple[str, ...] = (),
            kind: str = "", editable: bool = False) -> Any:
    """A :class:`Settings` field with its title and help text. ``kind``: "file", "folder" or
    "multiline" (how the Settings dialog edits it); ``editable``: shown in the dialog."""
    metadata = {"title": title, "doc": doc, "choices": choices, "kind": kind,
                "editable": editable}
    if factory is not None:
        return field(default_factory=factory, metadata=metadata)
    return field(default=default, metadata=metadata)


@dataclass(frozen=True)
class Settings:
    """Application settings. Paths may be given as strings; they are converted to Path."""

    model: Path = setting(
        factory=lambda: RESOURCE_ROOT / "models" / "dr_lite0.json", title="Grading model",
        doc="model manifest (.json beside the .onnx)", kind="file")
    clinic_name: str = setting(
        "Diabetic Eye Screening Clinic", title="Clinic name", editable=True,
        doc="the clinic's name, printed at the top of every report")
    clinic_address: str = setting(
        "", title="Address", kind="multiline", editable=True,
        doc="the clinic's address, printed under its name (one line per line)")
    clinic_logo: Path = setting(
        factory=lambda: RESOURCE_ROOT / "assets" / "logo.png", title="Logo", kind="file",
        editable=True, doc="image printed at the top left of every report")
    operator: str = setting(
        "", title="Operator", editable=True,
        doc="name of the person screening, recorded in reports and the audit trail")
    paper_size: str = setting(
        "A4", title="Paper size", choices=("A4", "Letter"), editable=True,
        doc="paper of the PDF reports and the printer")
    language: str = setting(
        "system", title="Language", choices=("system", "en", "es"), editable=True,
        doc="language of the app and the reports (system: the computer's language; en: "
            "English; es: Spanish)")
    output_dir: Path = setting(
        factory=lambda: Path.home() / "retina-screen-results", title="Default output folder",
        kind="folder", editable=True,
        doc="where reports are saved and batch results are written by default")
    workers: int = setting(0, title="Batch workers",
                           doc="batch worker processes; 0 = one per CPU core")
    referral_table: Path | None = setting(
        None, title="Referral table", kind="file",
        doc="JSON file overriding the built-in referral table")
    audit_db: Path = setting(factory=lambda: user_data_dir() / "audit.sqlite",
                             title="Audit database", kind="file",
                             doc="SQLite file of the hash-chained audit trail")
    log_dir: Path = setting(factory=lambda: user_data_dir() / "logs", title="Log folder",
                            kind="folder", doc="folder of the log files and crash reports")
    file_mode: int = setting(0o600, title="File permissions",
                             doc="permissions of result files, reports and the audit database")
    #: Accept a grading model that is not in the package's trusted-model list (a user-supplied
    #: or edited model); every result, report and audit record then says "unverified model".
    allow_unverified_model: bool = setting(
        False, title="Allow an unverified model",
        doc="accept a grading model that is not in the trusted-model list (every result then "
            "says 'unverified model')")
    #: The per-installation secret that keys the audit trail and the patient pseudonyms
    #: (created owner-only on first use; its folder also keeps the trail's checkpoints).
    audit_key: Path = setting(factory=lambda: user_config_dir() / "audit.key",
                              title="Audit key", kind="file",
                              doc="per-installation secret keying the audit trail")
    # Clinic systems (retina_screen/clinic): nothing is sent or queried unless a host is set.
    ae_title: str = setting(
        "RETINA_SCREEN", title="Our DICOM AE title",
        doc="this application's DICOM application entity title (calling AE title)")
    pacs_host: str = setting(
        "", title="PACS host",
        doc="host name or address of the PACS that receives results (empty: send nothing)")
    pacs_port: int = setting(104, title="PACS port", doc="DICOM port of the PACS")
    pacs_ae_title: str = setting("PACS", title="PACS AE title",
                                 doc="the PACS's DICOM application entity title")
    pacs_auto_send: bool = setting(
        False, title="Send to the PACS automatically",
        doc="send every batch's results to the PACS when the batch ends (as 'batch --send'), "
            "and in the desktop app a patient's results once their report is saved")
    worklist_host: str = setting(
        "", title="Worklist host",
        doc="host of the DICOM Modality Worklist server (empty: no worklist)")
    worklist_port: int = setting(104, title="Worklist port",
                                 doc="DICOM port of the Modality Worklist server")
    worklist_ae_title: str = setting("WORKLIST", title="Worklist AE title",
                                     doc="the worklist server's DICOM application entity title")
    dicom_tls: bool = setting(
        False, title="DICOM over TLS",
        doc="connect to the PACS and the worklist server with TLS (DICOM TLS, PS3.15 B.1)")
    dicom_tls_ca: Path | None = setting(
        None, title="DICOM TLS CA certificates", kind="file",
        doc="PEM file of the CA certificate(s) the servers' certificates must chain to "
            "(empty: the system's CAs)")
    dicom_tls_cert: Path | None = setting(
        None, title="DICOM TLS client certificate", kind="file",
        doc="PEM certificate we present, for servers that require one (with dicom_tls_key)")
    dicom_tls_key: Path | None = setting(
        None, title="DICOM TLS client key", kind="file",
        doc="PEM private key of dicom_tls_cert")

    def replace(self, **changes: Any) -> Settings:
        return load_settings(overrides=changes, base=self)


_ENV_PREFIX = "RETINA_SCREEN_"


def _file_mode(value: Any) -> int:
    """Permissions written as chmod takes them (``600``, ``0640``, ``0o640``; a TOML integer
    600 too): octal. Read as decimal, "600" gave files their owner could not read and others
    could write (found 2026-12-02). The owner must keep reading and writing them."""
    text = str(value).strip().lower()
    if isinstance(value, int) and not isinstance(value, bool) and value <= 0o777:
        text = oct(value)  # an integer as such (0o600 in TOML, saved settings, Python)
    digits = text[2:] if text.startswith("0o") else text
    if not digits or not set(digits) <= set("01234567"):
        raise ValueError(text)
    mode = int(digits, 8)
    if mode > 0o777 or mode & 0o600 != 0o600:
        raise ValueError(text)
    if mode & 0o022:
        log.warning("file_mode %s lets other users change results and reports", oct(mode))
    return mode


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
        if name == "file_mode":
            return _file_mode(value)
        if kind == "int":
            return int(str(value), 0) if isinstance(value, str) else int(value)
        return str(value)
    except ValueError as exc:
        raise ConfigError(f"setting '{name}' has an invalid value: {value!r}") from exc


def settings_file() -> Path:
    return Path(os.environ.get("RETINA_SCREEN_CONFIG") or user_config_dir() / "settings.toml")


# ---------------------------------------------------------------------------------------------
# Declarations: titles and help for the command line and the Settings dialog


@dataclass(frozen=True)
class SettingInfo:
    name: str
    title: str
    doc: str
    type: str  # "str", "int", "bool", "Path", "Path | None"
    choices: tuple[str, ...]
    kind: str
    editable: bool

    @property
    def flag(self) -> str:
        return "--" + self.name.replace("_", "-")


def describe() -> dict[str, SettingInfo]:
    """Every setting's declaration, in declaration order."""
    return {f.name: SettingInfo(f.name, f.metadata["title"], f.metadata["doc"], str(f.type),
                                f.metadata["choices"], f.metadata["kind"],
                                f.metadata["editable"])
            for f in fields(Settings)}


def add_setting_arguments(parser: argparse.ArgumentParser, skip: Iterable[str] = ()) -> None:
    """One ``--<name>`` flag per setting (``dest="setting_<name>"``), from the declarations."""
    group = parser.add_argument_group("settings (override the settings file and environment)")
    for info in describe().values():
        if info.name in set(skip):
            continue
        options: dict[str, Any] = dict(dest=f"setting_{info.name}", default=None,
                                       help=f"{info.doc} [{info.title}]")
        if info.type == "bool":
            options["action"] = argparse.BooleanOptionalAction
        else:
            options["metavar"] = info.name.upper()
            if info.choices:
                options["choices"] = info.choices
        group.add_argument(info.flag, **options)


def setting_arguments(args: argparse.Namespace) -> dict[str, Any]:
    """The settings given on the command line (flags from :func:`add_setting_arguments`)."""
    return {name: getattr(args, f"setting_{name}") for name in describe()
            if getattr(args, f"setting_{name}", None) is not None}


# ---------------------------------------------------------------------------------------------
# The settings file: read (with upgrades) and write


def _upgrade_1_to_2(values: dict[str, Any]) -> dict[str, Any]:
    """Version 1 files (no ``schema_version``) accepted any case of the paper size."""
    paper = values.get("paper_size")
    if isinstance(paper, str) and paper.lower() in ("a4", "letter"):
        values["paper_size"] = "A4" if paper.lower() == "a4" else "Letter"
    return values


#: Upgrade steps: version -> function turning that version's values into the next version's.
UPGRADES: dict[int, Callable[[dict[str, Any]], dict[str, Any]]] = {1: _upgrade_1_to_2}


def read_settings_file(path: Path | None = None) -> dict[str, Any]:
    """The settings stored in the file (upgraded to :data:`SCHEMA_VERSION`); {} if none."""
    path = Path(path) if path is not None else settings_file()
    if not path.is_file():
        return {}
    try:
        values = tomllib.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, tomllib.TOMLDecodeError) as exc:
        raise ConfigError(f"settings file {path} is not valid TOML: {exc}") from exc
    version = values.pop("schema_version", 1)
    if not isinstance(version, int) or version > SCHEMA_VERSION:
        raise ConfigError(f"settings file {path} is from a newer version of the application "
                          f"(schema {version!r}); update the application")
    while version < SCHEMA_VERSION:
        values = UPGRADES[version](values)
        version += 1
    unknown = set(values) - {f.name for f in fields(Settings)}
    if unknown:
        raise ConfigError(f"unknown setting(s) in {path}: {', '.join(sorted(unknown))}")
    return values


def _toml(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int):
        return str(value)
    return json.dumps(str(value), ensure_ascii=False)  # JSON string escapes are valid TOML


def save_settings(changes: dict[str, Any], path: Path | None = None) -> Path:
    """Write ``changes`` into the settings file (keeping its other settings; "" or None
    removes a setting), atomically, as :data:`SCHEMA_VERSION`. Returns the file's path."""
    from .atomic import write_atomic

    path = Path(path) if path is not None else settings_file()
    values = read_settings_file(path)
    for name, value in changes.items():
        if name not in {f.name for f in fields(Settings)}:
            raise ConfigError(f"unknown setting '{name}'")
        if value is None or value == "":
            values.pop(name, None)
        else:
            _coerce(name, value)  # refuse what load_settings would refuse
            values[name] = value
    lines = ["# retina-screen settings (written by the application; safe to edit)",
             f"schema_version = {SCHEMA_VERSION}"]
    lines += [f"{name} = {_toml(values[name])}" for name in describe() if name in values]
    write_atomic(path, ("\n".join(lines) + "\n").encode("utf-8"), 0o600, what="settings file")
    return path


def load_settings(overrides: dict[str, Any] | None = None, base: Settings | None = None,
                  use_environment: bool = True, use_file: bool = True) -> Settings:
    """Settings from defaults (or ``base``), the settings file, the environment, then overrides.

    ``overrides`` (the command line) skips keys whose value is None.
    """
    known = {f.name for f in fields(Settings)}
    values: dict[str, Any] = {}
    if base is None and use_file:
        values.update(read_settings_file())
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
    if result.language not in ("system", "en", "es"):
        raise ConfigError(f"language must be system, en or es, not {result.language!r}")
    return result
