"""Patient and eye from file names, visit dates from paths, and safe file names from patient
identifiers.

Recognised conventions (case-insensitive), on the file name without extension split into tokens
at ``_``, ``-``, ``.`` and spaces:

- an eye token anywhere after the patient: ``right``/``left``/``OD``/``OS`` (preferred), or
  ``R``/``L``/``RE``/``LE``; whatever follows it (photo number, field, time) is ignored:
  ``P001_L``, ``P001_OD_macula``, ``P001_L_2``, ``Patient221_20261127_101500_OD``
- a camera time stamp between the patient and the eye (``20261127_101500``,
  ``2026-11-27_10-15-00``, ``20261127101500``) is not part of the patient ID, so both eyes'
  photographs, taken seconds apart, belong to one patient; unless all that is left is a generic
  camera word (``IMG_20261127_101500_OD``): then the stamp is the only identity and stays
- ``OD_P001``: an eye word (``OD``/``OS``/``right``/``left``) before the patient
- anything else: the whole stem is the patient, the eye unknown.

A custom ``--pattern`` is a regular expression with named groups ``patient`` and ``eye``
(``(?P<patient>...)`` / ``(?P<eye>...)``), or a template such as ``{patient}-{eye}-{any}``.
Names that do not match the pattern fall back to the conventions above (the batch reports how
many matched).
"""

from __future__ import annotations

import datetime as dt
import re
import unicodedata
import warnings
from dataclasses import dataclass
from pathlib import PurePath

from .errors import ConfigError
from .results import Eye

_EYE_WORDS = {
    "right": Eye.RIGHT, "r": Eye.RIGHT, "od": Eye.RIGHT, "re": Eye.RIGHT,
    "left": Eye.LEFT, "l": Eye.LEFT, "os": Eye.LEFT, "le": Eye.LEFT,
}
_STRONG_EYE_WORDS = {"right", "left", "od", "os"}
_SEP = r"[_\-\s.]"
_TOKEN = re.compile(r"[^_\-\s.]+")
_DATE = r"(?P<y>(?:19|20)\d\d)[-_.]?(?P<m>[01]\d)[-_.]?(?P<d>[0-3]\d)"
_TIME = r"[0-2]\d[-_.:]?[0-5]\d[-_.:]?[0-5]\d(?:\d{1,3})?"
_STAMP = rf"{_DATE}(?:T|{_SEP}*){_TIME}"
_TRAILING_STAMP = re.compile(rf"{_SEP}+{_STAMP}$", re.IGNORECASE)
_LEADING_STAMP = re.compile(rf"^{_STAMP}{_SEP}+", re.IGNORECASE)
_ANY_STAMP = re.compile(rf"(?<![0-9]){_STAMP}(?![0-9])", re.IGNORECASE)
_DATE_ANYWHERE = re.compile(rf"(?<![0-9]){_DATE}(?![0-9])")
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
        # A user's "[[" or "--" inside a set draws Python's FutureWarning ("Possible nested
        # set"): the pattern works as written today; the operator is not shown a traceback.
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", FutureWarning)
            compiled = re.compile(pattern, re.IGNORECASE)
    except re.error as exc:
        raise ConfigError(f"invalid file-name pattern: {exc}") from exc
    if "patient" not in compiled.groupindex:
        raise ConfigError("file-name pattern needs a 'patient' group")
    return compiled


def eye_from_word(word: str | None) -> Eye:
    return _EYE_WORDS.get((word or "").strip().lower(), Eye.UNKNOWN)


@dataclass(frozen=True)
class ParsedName:
    patient: str
    eye: Eye
    #: True when a custom pattern was given and this name matched it.
    matched_pattern: bool = False


#: Words cameras and export tools put before a time stamp in place of a patient
#: (``IMG_20261202_091500_OD``): with one of them, the time stamp is the photograph's only
#: identity and stays in the ID (stripped, every patient of the day was patient "IMG").
GENERIC_NAME_WORDS = frozenset({
    "img", "image", "dsc", "dscn", "dscf", "dcim", "pic", "pict", "picture", "photo", "foto",
    "fundus", "retina", "eye", "scan", "capture", "export", "cam", "camera", "exam", "file"})


def _without_stamps(text: str) -> str:
    """``text`` without a camera time stamp at its start or end (never empty, and never only
    a generic camera word such as ``IMG``)."""
    stripped = text
    for stamp in (_TRAILING_STAMP, _LEADING_STAMP):
        stripped = stamp.sub("", stripped).strip(" _-.")
    if stripped.lower() in GENERIC_NAME_WORDS:
        return text
    return stripped or text


def _convention(stem: str) -> tuple[str, Eye]:
    """The built-in conventions (see the module docstring)."""
    tokens = list(_TOKEN.finditer(stem))
    candidates: list[tuple[bool, int, str, Eye]] = []
    for index, token in enumerate(tokens):
        word = token.group().lower()
        if word not in _EYE_WORDS:
            continue
        before = _without_stamps(stem[:token.start()].strip(" _-."))
        if index >= 1 and before:
            candidates.append((word not in _STRONG_EYE_WORDS, index, before, _EYE_WORDS[word]))
    if candidates:
        _, _, patient, eye = min(candidates)  # the first strong eye word, else the first weak
        return patient, eye
    if tokens and tokens[0].group().lower() in _STRONG_EYE_WORDS:
        after = _without_stamps(stem[tokens[0].end():].strip(" _-."))
        if after:
            return after, _EYE_WORDS[tokens[0].group().lower()]
    return stem, Eye.UNKNOWN


def parse_name(stem: str, pattern: re.Pattern[str] | None = None) -> ParsedName:
    """Patient, eye and whether the custom pattern matched, from a file name without extension.
    A name the pattern does not match falls back to the built-in conventions."""
    if pattern is not None:
        match = pattern.match(stem)
        if match:
            patient = match.group("patient").strip(" _-.") or stem
            return ParsedName(patient, eye_from_word(match.groupdict().get("eye")), True)
    patient, eye = _convention(stem)
    return ParsedName(patient, eye, False)


def parse_stem(stem: str, pattern: re.Pattern[str] | None = None) -> tuple[str, Eye]:
    """(patient id, eye) from a file name without extension."""
    parsed = parse_name(stem, pattern)
    return parsed.patient, parsed.eye


def _first_date(regex: re.Pattern[str], text: str) -> str | None:
    """The first match of ``regex`` (with groups y, m, d) that is a valid calendar date."""
    for match in regex.finditer(text):
        try:
            return dt.date(int(match["y"]), int(match["m"]), int(match["d"])).isoformat()
        except ValueError:
            continue
    return None


def date_in_text(text: str) -> str | None:
    """The first valid calendar date (``2026-11-29``, ``20261129``, ``2026_11_29``) in a folder
    or file name, as ISO ``yyyy-mm-dd``; None if there is none."""
    return _first_date(_DATE_ANYWHERE, text)


def stamp_date(stem: str) -> str | None:
    """The date of a camera time stamp (a date and a time: ``20251127_101500``) in a file name
    without extension, as ISO ``yyyy-mm-dd``; None without one. A bare date (which may be a
    birth date) is not a time stamp."""
    return _first_date(_ANY_STAMP, stem)


def folder_date(path: str) -> str | None:
    """The date of the nearest folder of ``path`` named with one (``2026-11-29/P1_R.jpg``), as
    ISO ``yyyy-mm-dd``: a batch visit's date where no DICOM date gives it; None if none is."""
    for folder in reversed(PurePath(path).parent.parts):
        date = date_in_text(folder)
        if date:
            return date
    return None


#: Unicode's bidirectional controls (embeddings, overrides, isolates, marks): in a file name
#: they make one patient ID display as another ("Pat\u202eient43"; found 2026-12-02).
BIDI_CONTROLS = re.compile("[\u061c\u200e\u200f\u202a-\u202e\u2066-\u2069]")


def display_text(text: str) -> str:
    """``text`` as printable UTF-8: bytes of a file name that are not valid UTF-8 (a Latin-1
    camera share's ``M\\xfcller``) become the escape ``\\xfc`` instead of crashing every write,
    and bidirectional controls the escape ``\\u202e``, so that no ID can display as another."""
    try:
        text = text.encode("utf-8", "surrogateescape").decode("utf-8", "backslashreplace")
    except UnicodeError:
        text = text.encode("utf-8", "backslashreplace").decode("utf-8")
    return BIDI_CONTROLS.sub(lambda match: f"\\u{ord(match.group()):04x}", text)


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
