"""Patient and eye from file names, and safe file names from patient identifiers.

Recognised conventions (case-insensitive), tried in order on the file name without extension:

- ``<patient>_<right|left>``, ``<patient>-right`` ...
- ``<patient>_<R|L>``, ``<patient>_<OD|OS>``, also followed by a photo number or field
  (``P001_L_2``, ``P001_OD_macula``)
- anything else: the whole stem is the patient, the eye unknown.

A custom ``--pattern`` is a regular expression with named groups ``patient`` and ``eye``
(``(?P<patient>...)`` / ``(?P<eye>...)``), or a template such as ``{patient}-{eye}-{any}``.
"""

from __future__ import annotations

import re
import unicodedata

from .errors import ConfigError
from .results import Eye

_EYE_WORDS = {
    "right": Eye.RIGHT, "r": Eye.RIGHT, "od": Eye.RIGHT, "re": Eye.RIGHT,
    "left": Eye.LEFT, "l": Eye.LEFT, "os": Eye.LEFT, "le": Eye.LEFT,
}
_SEPARATORS = r"[_\-\s.]"
_CONVENTION = re.compile(
    rf"^(?P<patient>.+?){_SEPARATORS}+(?P<eye>right|left|od|os|re|le|r|l)"
    rf"(?:{_SEPARATORS}+.*)?$",
    re.IGNORECASE,
)
_TEMPLATE_FIELDS = {"patient": r"(?P<patient>.+?)", "eye": r"(?P<eye>[A-Za-z]+)", "any": r".*?"}


def compile_pattern(pattern: str) -> re.Pattern[str]:
    """A user pattern (regex with named groups, or ``{patient}``/``{eye}``/``{any}`` template)."""
    if "{" in pattern and "(?P<" not in pattern:
        parts = re.split(r"(\{\w+\})", pattern)
        regex = ""
        for part in parts:
            name = part[1:-1] if part.startswith("{") and part.endswith("}") else None
            if name is not None:
                if name not in _TEMPLATE_FIELDS:
                    raise ConfigError(f"unknown field {part} in pattern (use patient, eye, any)")
                regex += _TEMPLATE_FIELDS[name]
            else:
                regex += re.escape(part)
        pattern = f"^{regex}$"
    try:
        compiled = re.compile(pattern, re.IGNORECASE)
    except re.error as exc:
        raise ConfigError(f"invalid file-name pattern: {exc}") from exc
    if "patient" not in compiled.groupindex:
        raise ConfigError("file-name pattern needs a 'patient' group")
    return compiled


def eye_from_word(word: str | None) -> Eye:
    return _EYE_WORDS.get((word or "").strip().lower(), Eye.UNKNOWN)


def parse_stem(stem: str, pattern: re.Pattern[str] | None = None) -> tuple[str, Eye]:
    """(patient id, eye) from a file name without extension."""
    match = (pattern or _CONVENTION).match(stem)
    if not match:
        return stem, Eye.UNKNOWN
    patient = match.group("patient").strip(" _-.") or stem
    eye = eye_from_word(match.groupdict().get("eye"))
    return patient, eye


_UNSAFE = re.compile(r"[^A-Za-z0-9._-]+")
_RESERVED = {"CON", "PRN", "AUX", "NUL", *(f"COM{i}" for i in range(1, 10)),
             *(f"LPT{i}" for i in range(1, 10))}


def safe_file_stem(text: str, fallback: str = "patient", max_length: int = 64) -> str:
    """A file-name-safe version of an identifier: ASCII letters, digits, '.', '_' and '-' only,
    no leading dots, no Windows reserved names, bounded length. Never a path."""
    normalised = unicodedata.normalize("NFKD", text).encode("ascii", "ignore").decode("ascii")
    cleaned = _UNSAFE.sub("_", normalised).strip("._-")[:max_length].strip("._-")
    if not cleaned:
        cleaned = fallback
    if cleaned.split(".")[0].upper() in _RESERVED:
        cleaned = f"_{cleaned}"
    return cleaned
