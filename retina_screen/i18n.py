"""Languages of the report and of the engine's wording (Qt-free): one catalogue per language.

``retina_screen/data/i18n/<language>.json`` holds ``"exact"`` (English text -> translation, for
the report's own text and the engine's fixed wording: referral table, ICDR grades, eye names,
quality-gate reasons) and ``"patterns"`` (English templates with ``{name}`` fields, for the
engine's composed notes, e.g. ``"{eye}: images insufficient ({note})"``; the fields are
translated in turn). English needs no catalogue. The desktop app's own text is translated with
Qt's tools (``retina_screen/gui/i18n``); both follow the ``language`` setting ("system": the
computer's language, English where it is not one of :data:`LANGUAGES`).
"""

from __future__ import annotations

import functools
import json
import locale
import os
import re
from pathlib import Path

from .settings import PACKAGE_ROOT

CATALOGUE_DIR = PACKAGE_ROOT / "data" / "i18n"
#: Languages with a complete catalogue (and GUI translation), by code, in their own words.
LANGUAGES = {"en": "English", "es": "Español"}


def system_language() -> str:
    """The computer's language as a code of :data:`LANGUAGES` ("en" when not supported)."""
    candidates = [os.environ.get(name, "") for name in ("LANGUAGE", "LC_ALL", "LC_MESSAGES",
                                                        "LANG")]
    try:
        candidates.append(locale.getlocale(locale.LC_MESSAGES)[0] or "")
    except (AttributeError, ValueError):  # no LC_MESSAGES on Windows
        candidates.append(locale.getlocale()[0] or "")
    for candidate in candidates:
        for part in candidate.split(":"):
            code = part.strip().split("_")[0].split(".")[0].split("-")[0].lower()
            if code in LANGUAGES:
                return code
            if code and code not in ("c", "posix"):
                return "en"
    return "en"


def resolve_language(setting: str) -> str:
    """The ``language`` setting ("system", "en", "es") as a supported language code."""
    return system_language() if setting in ("", "system") else (
        setting if setting in LANGUAGES else "en")


@functools.lru_cache(maxsize=8)
def _load(language: str) -> tuple[dict[str, str], tuple[tuple[re.Pattern, str, tuple[str, ...]],
                                                         ...]]:
    if language == "en":
        return {}, ()
    path = CATALOGUE_DIR / f"{language}.json"
    data = json.loads(Path(path).read_text(encoding="utf-8"))
    patterns = []
    for source, target in data.get("patterns", {}).items():
        names = tuple(re.findall(r"\{(\w+)\}", source))
        regex = "".join(f"(?P<{part[1:-1]}>.+?)" if re.fullmatch(r"\{\w+\}", part)
                        else re.escape(part) for part in re.split(r"(\{\w+\})", source))
        patterns.append((re.compile(f"^{regex}$", re.DOTALL), target, names))
    return dict(data.get("exact", {})), tuple(patterns)


#: Fields of the engine's wording that are never translated (patient identifiers, paths, the
#: operating system's own words, file name extensions, version labels).
VERBATIM_FIELDS = frozenset({"ids", "path", "detail", "extension", "previous", "current"})


class Catalogue:
    """Translates into one language; remembers what it was asked and could not translate."""

    def __init__(self, language: str = "en") -> None:
        self.language = language if language in LANGUAGES else "en"
        self._exact, self._patterns = _load(self.language)
        self.missing: set[str] = set()

    def __call__(self, text: str, **values: object) -> str:
        """The report's own text (``values`` fill its ``{name}`` fields)."""
        translated = self._lookup(text)
        return translated.format(**values) if values else translated

    def engine(self, text: str) -> str:
        """The engine's wording: exact entries, then patterns (their fields translated too)."""
        if not text or self.language == "en":
            return text
        if text in self._exact:
            return self._exact[text]
        for regex, target, names in self._patterns:
            match = regex.match(text)
            if match:
                return target.format(**{name: match.group(name) if name in VERBATIM_FIELDS
                                        else self.engine(match.group(name)) for name in names})
        if re.fullmatch(r"[\d\s.,%<>=()/:+×-]*", text):
            return text  # numbers and symbols read the same
        self.missing.add(text)
        return text

    def _lookup(self, text: str) -> str:
        if self.language == "en":
            return text
        if text not in self._exact:
            self.missing.add(text)
            return text
        return self._exact[text]
