"""The app's language: Qt translations of the GUI's own text, the core catalogue for the engine's.

The GUI's text is marked with ``self.tr()`` / ``QCoreApplication.translate()`` and collected
with ``pyside6-lupdate`` into ``retina_screen/gui/i18n/retina_screen_<lang>.ts``; translated
there (Qt Linguist or by hand) and compiled with ``pyside6-lrelease`` into the ``.qm`` file the
app loads. To refresh after changing the GUI's text::

    pyside6-lupdate retina_screen/gui/*.py -ts retina_screen/gui/i18n/retina_screen_es.ts
    pyside6-lrelease retina_screen/gui/i18n/retina_screen_es.ts

The engine's wording shown in the app (referral table, grades, quality reasons, notes) comes
from :class:`retina_screen.i18n.Catalogue`, the same catalogue as the report's.
"""

from __future__ import annotations

import logging
from pathlib import Path

from PySide6.QtCore import QCoreApplication, QLibraryInfo, QLocale, QTranslator

from ..i18n import Catalogue, resolve_language

log = logging.getLogger(__name__)

TRANSLATIONS = Path(__file__).resolve().parent / "i18n"
_state: dict[str, object] = {"language": "en", "catalogue": Catalogue("en"), "translators": []}


def install_language(app: QCoreApplication, setting: str) -> str:
    """Load the translations for the ``language`` setting ("system", "en", "es"); returns the
    language code in use. Call before the first window is built."""
    language = resolve_language(setting)
    for translator in _state["translators"]:  # type: ignore[union-attr]
        app.removeTranslator(translator)
    translators: list[QTranslator] = []
    if language != "en":
        ours = QTranslator(app)
        if ours.load(str(TRANSLATIONS / f"retina_screen_{language}.qm")):
            translators.append(ours)
        else:
            log.warning("no translation file for %s: the app stays in English", language)
            language = "en"
        qt = QTranslator(app)  # Qt's own dialogs and buttons (Cancel, Save, ...)
        if language != "en" and qt.load(QLocale(language), "qtbase", "_",
                                        QLibraryInfo.path(QLibraryInfo.LibraryPath
                                                          .TranslationsPath)):
            translators.append(qt)
    for translator in translators:
        app.installTranslator(translator)
    _state.update(language=language, catalogue=Catalogue(language), translators=translators)
    QLocale.setDefault(QLocale(language))
    return language


def current_language() -> str:
    return str(_state["language"])


def engine_text(text: str) -> str:
    """The engine's wording (referral table, grades, reasons, notes) in the app's language."""
    return _state["catalogue"].engine(text)  # type: ignore[union-attr]


def untranslated_engine_text() -> set[str]:
    """Engine wording the app showed without a translation (for the tests)."""
    return set(_state["catalogue"].missing)  # type: ignore[union-attr]
