"""Wording shown to operators for engine results (presentation only, no decisions)."""

from __future__ import annotations

from ..results import (
    ICDR_LABELS,
    Eye,
    EyeResult,
    ImageResult,
    ImageStatus,
    Outcome,
    PatientResult,
)

#: The outcome in large words.
OUTCOME_TITLES = {
    Outcome.REFER_URGENT: "REFER URGENTLY",
    Outcome.REFER: "REFER",
    Outcome.NO_REFERABLE: "NO REFERABLE DR",
    Outcome.INSUFFICIENT: "RETAKE PHOTOGRAPHS",
}

MISSING_EYE_TITLE = "PHOTOGRAPH BOTH EYES"


def outcome_title(result: PatientResult) -> str:
    """The large words for the engine's outcome. "Insufficient" because an eye is missing (every
    photo taken is gradable) reads differently from "insufficient" because photos failed."""
    if result.outcome is Outcome.INSUFFICIENT and result.eyes and all(
            e.grade is not None for e in result.eyes if e.eye is not Eye.UNKNOWN) and \
            not any(e.eye is Eye.UNKNOWN for e in result.eyes):
        return MISSING_EYE_TITLE
    return OUTCOME_TITLES[result.outcome]


#: Short outcome words for tables.
OUTCOME_SHORT = {
    Outcome.REFER_URGENT: "Refer urgently",
    Outcome.REFER: "Refer",
    Outcome.NO_REFERABLE: "No referable DR",
    Outcome.INSUFFICIENT: "Retake / human grader",
}

EYE_NAMES = {Eye.RIGHT: "Right eye (OD)", Eye.LEFT: "Left eye (OS)", Eye.UNKNOWN: "Eye not known"}


def grade_text(grade: int | None) -> str:
    if grade is None:
        return "not gradable"
    return f"Grade {grade}: {ICDR_LABELS[grade]}"


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
        return "No gradable photograph", "–"
    return grade_text(eye.grade), probability_text(eye.p_referable)


def _with_retake(reasons: tuple[str, ...]) -> str:
    text = "; ".join(r.rstrip(".") for r in reasons if r) or "quality check failed"
    if "retake" not in text.lower():
        text += ". Retake this photograph"
    return text[0].upper() + text[1:] + "."


def image_verdict(result: ImageResult) -> tuple[str, str]:
    """(level, text) describing one photograph's screening: level is ok, warning or error."""
    if result.status is ImageStatus.ERROR:
        reason = result.error or "unreadable file"
        return "error", (f"Cannot use this file: {reason}. Check the file, or export it from "
                         "the camera again.")
    if result.status is ImageStatus.UNGRADABLE:
        return "warning", "Ungradable. " + _with_retake(result.reasons)
    grading = result.grading
    if grading is None:  # gradable without a grading cannot happen; shown defensively
        return "warning", "Quality passed, not graded."
    return "ok", (f"Quality: pass\n{grade_text(grading.grade)}\n"
                  f"P(referable) {probability_text(grading.p_referable)}"
                  + (" · referable" if grading.referable else ""))
