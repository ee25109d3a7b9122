"""Wording shown to operators for engine results (presentation only, no decisions).

The words are English here and translated when shown (Qt's ``translate``, context "Results";
the engine's own wording through :func:`~retina_screen.gui.i18n.engine_text`).
"""

from __future__ import annotations

import datetime as dt

from PySide6.QtCore import QT_TRANSLATE_NOOP, QCoreApplication

from ..decision import OLD_PHOTOGRAPH_DAYS, days_before
from ..results import (
    ICDR_LABELS,
    Eye,
    EyeResult,
    ImageResult,
    ImageStatus,
    Outcome,
    PatientResult,
)
from .i18n import engine_text

translate = QCoreApplication.translate  # pyside6-lupdate reads translate("context", "text")


def tr(text: str) -> str:
    """A text marked elsewhere (QT_TRANSLATE_NOOP), translated in the "Results" context."""
    return translate("Results", text)


#: The outcome in large words.
OUTCOME_TITLES = {
    Outcome.REFER_URGENT: QT_TRANSLATE_NOOP("Results", "REFER URGENTLY"),
    Outcome.REFER: QT_TRANSLATE_NOOP("Results", "REFER"),
    Outcome.NO_REFERABLE: QT_TRANSLATE_NOOP("Results", "NO REFERABLE DR"),
    Outcome.INSUFFICIENT: QT_TRANSLATE_NOOP("Results", "RETAKE PHOTOGRAPHS"),
}

MISSING_EYE_TITLE = QT_TRANSLATE_NOOP("Results", "PHOTOGRAPH BOTH EYES")
CHECK_PHOTOGRAPHS_TITLE = QT_TRANSLATE_NOOP("Results", "CHECK THE PHOTOGRAPHS")


def outcome_title(result: PatientResult) -> str:
    """The large words for the engine's outcome. "Insufficient" with every photograph taken
    gradable reads differently from "insufficient" because photographs failed: an eye is
    missing ("photograph both eyes"), or both were photographed and the decision doubts the
    photographs themselves (another patient's file, a copy of the other eye, another day's:
    "check the photographs"; it said "photograph both eyes" there until 2026-12-02)."""
    if result.outcome is Outcome.INSUFFICIENT and result.eyes and all(
            e.grade is not None for e in result.eyes if e.eye is not Eye.UNKNOWN) and \
            not any(e.eye is Eye.UNKNOWN for e in result.eyes):
        present = {e.eye for e in result.eyes}
        return tr(CHECK_PHOTOGRAPHS_TITLE if {Eye.RIGHT, Eye.LEFT} <= present
                  else MISSING_EYE_TITLE)
    return tr(OUTCOME_TITLES[result.outcome])


#: Short outcome words for tables (translated when shown: :func:`outcome_short`).
OUTCOME_SHORT = {
    Outcome.REFER_URGENT: QT_TRANSLATE_NOOP("Results", "Refer urgently"),
    Outcome.REFER: QT_TRANSLATE_NOOP("Results", "Refer"),
    Outcome.NO_REFERABLE: QT_TRANSLATE_NOOP("Results", "No referable DR"),
    Outcome.INSUFFICIENT: QT_TRANSLATE_NOOP("Results", "Retake / human grader"),
}

EYE_NAMES = {Eye.RIGHT: "Right eye (OD)", Eye.LEFT: "Left eye (OS)", Eye.UNKNOWN: "Eye not known"}


def outcome_short(outcome: Outcome) -> str:
    return tr(OUTCOME_SHORT[outcome])


def eye_name(eye: Eye) -> str:
    """"Right eye (OD)" etc. in the app's language (the engine's eye names)."""
    return engine_text(EYE_NAMES[eye])


def grade_text(grade: int | None) -> str:
    if grade is None:
        return translate("Results", "not gradable")
    return translate("Results", "Grade {grade}: {label}").format(grade=grade,
                                                label=engine_text(ICDR_LABELS[grade]))


def probability_text(p: float | None) -> str:
    """P(referable) as a whole percentage ("<1%" and ">99%" at the ends)."""
    if p is None:
        return "–"
    percent = 100.0 * p
    if 0 < percent < 0.5:
        return "<1%"
    if 99.5 <= percent < 100:
        return ">99%"
    return f"{percent:.0f}%"


def eye_summary(eye: EyeResult) -> tuple[str, str]:
    """(grade, probability) texts of one eye in the result panel."""
    if eye.grade is None:
        return translate("Results", "No gradable photograph"), "–"
    return grade_text(eye.grade), probability_text(eye.p_referable)


#: Words with which a quality reason (the engine's English text) already says what to do.
_ACTIONS = ("retake", "load ", "export")


def _with_retake(reasons: tuple[str, ...]) -> str:
    """The reasons as one sentence, with "Retake this photograph" only where none of them says
    what to do: a new photograph is not the remedy for a file holding two photographs or for a
    compressed export, whose reasons ask for the original file instead."""
    says_what_to_do = any(action in r.lower() for r in reasons for action in _ACTIONS)
    text = "; ".join(engine_text(r).rstrip(".") for r in reasons if r) or \
        translate("Results", "quality check failed")
    if not says_what_to_do:
        text += translate("Results", ". Retake this photograph")
    return text[0].upper() + text[1:] + "."


def image_verdict(result: ImageResult) -> tuple[str, str]:
    """(level, text) describing one photograph's screening: level is ok, warning or error."""
    if result.status is ImageStatus.ERROR:
        reason = (engine_text(result.error) if result.error
                  else translate("Results", "unreadable file"))
        return "error", translate("Results", "Cannot use this file: {reason}. Check the file, "
                                             "or export it from the camera again.").format(
                                                 reason=reason)
    if result.status is ImageStatus.UNGRADABLE:
        return "warning", translate("Results", "Ungradable.") + " " + _with_retake(result.reasons)
    grading = result.grading
    if grading is None:  # gradable without a grading cannot happen; shown defensively
        return "warning", translate("Results", "Quality passed, not graded.")
    graded = (translate("Results", "Quality: pass") + "\n" + grade_text(grading.grade) + "\n"
              + translate("Results", "P(referable) {p}").format(
                  p=probability_text(grading.p_referable))
              + (translate("Results", " · referable") if grading.referable else ""))
    level = "ok"
    if result.taken:  # the camera's date: the patient decision compares a visit's dates
        graded += "\n" + translate("Results", "Taken {date}").format(date=result.taken)
        age = days_before(result, dt.date.today())
        if age is not None and age > OLD_PHOTOGRAPH_DAYS:
            level = "warning"
            graded += translate("Results", ", {days} days ago: is it today's photograph?"
                                ).format(days=age)
    if result.copy_of:  # marked by the patient decision (decision.mark_copies)
        level = "warning"
        graded += "\n" + translate("Results", "Copy of the other eye")
    return level, graded
