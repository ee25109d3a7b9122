"""What a batch run found that the operator should check, worded once for the command line
and the window (Qt-free): whose photographs are whose, when they were taken, what was not
screened, a damaged journal.

Each finding is English text built from one template of :data:`FINDINGS`; the window shows it
in its language through the engine's catalogue (``retina_screen/data/i18n``), whose patterns
hold the same templates (``{ids}`` kept verbatim: patient IDs and paths).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from .decision import MAX_PHOTOGRAPHS_PER_EYE

#: How the operator describes file names the built-in conventions do not read, on the command
#: line and in the window (the ``{remedy}`` of the naming findings).
REMEDY_COMMAND_LINE = "give --pattern"
REMEDY_WINDOW = "describe them under File names"

#: Patient IDs or paths a finding names before it counts the rest.
IDS_SHOWN = 8


@dataclass(frozen=True)
class BatchFinding:
    """One finding of a batch run: ``level`` is "warning" or "info"; ``field`` the
    :class:`~retina_screen.batch.BatchSummary` attribute it reads; ``text`` its wording."""

    field: str
    level: str
    text: str


# (BatchSummary field, level, template), the weightiest first. A field holding IDs fills
# {count} and {ids}; a field holding a number fills {count}; {remedy} is the interface's way
# to describe file names; {most} the photographs of one eye a visit may have.
FINDINGS: tuple[tuple[str, str, str], ...] = (
    ("referrals_missing", "warning",
     "{count} referrals this output folder made, by this installation's audit trail, are "
     "missing from its results file (lines deleted, or an older copy put back without them): "
     "compare the results folder with its backups, and screen their photographs again."),
    ("differing_from_trail", "warning",
     "{count} patient visits of the results file differ from this installation's audit trail "
     "(the file edited, or from another installation): {ids}. They were screened again."),
    ("left_out_unconfirmed", "warning",
     "{count} patient visits of the results file whose photographs are no longer in the input "
     "folder are not confirmed by this installation's audit trail (the file edited, an older "
     "copy put back, or from another installation): {ids}. They were left out of patients.csv "
     "and results.csv; their records stay in results.jsonl."),
    ("referrals_withdrawn", "warning",
     "{count} patient visits referred by an earlier run were decided again (a photograph "
     "added, changed or retaken) and no longer refer: {ids}. Check that their referral should "
     "be withdrawn."),
    ("kept_apart_by_folder", "warning",
     "The file names gave one patient ID to photographs in several folders; each folder's were "
     "screened as a patient of their own ({count}): {ids}. If the folders are the patients, "
     "this is right; otherwise name the files by patient, or {remedy}."),
    ("shared_with_another_patient", "warning",
     "{count} patients have a photograph that is also another patient's (the same file "
     "content): {ids}. One of them has the other's result: check which photographs are whose "
     "before using these results."),
    ("screened_before_for_another", "warning",
     "{count} patients have a photograph that this installation screened before for another "
     "patient (the same file content, in its audit trail): {ids}. Such a visit is never 'no "
     "referable DR': check whose each photograph is."),
    ("in_two_visits", "warning",
     "{count} patients have a photograph that is in two of their visits (the same file "
     "content): {ids}. One visit's result may rest on a photograph taken at the other: check "
     "when each was taken."),
    ("taken_days_apart", "warning",
     "{count} patient visits have photographs their cameras dated on different days, or on "
     "another day than their dated folder's: {ids}. Another day's photograph may stand for an "
     "eye (such a visit is never 'no referable DR'): check when each was taken."),
    ("eyes_in_doubt", "warning",
     "{count} patient visits have photographs that may not be the eyes they are filed as: "
     "{ids}. One eye's photographs may stand for both, or a photograph may come from another "
     "camera (such a visit is never 'no referable DR'): check which eye and whose each "
     "photograph is."),
    ("crowded", "warning",
     "{count} patient visits have more than {most} photographs of one eye: {ids}. The "
     "file names may have put several patients under one ID (such a visit is never 'no "
     "referable DR'): check the names, or {remedy}."),
    ("unprintable_on_reports", "warning",
     "{count} patients have an ID or a name that their reports cannot print in full (shown "
     "with '?', e.g. Arabic or Hebrew script): {ids}. Check each report against the patient "
     "record."),
    ("passed_over", "warning",
     "{count} files or folders in the input folder were not screened: {ids}."),
    ("damaged_records", "warning",
     "{count} damaged records of the results journal were skipped; a copy of the damaged "
     "journal is kept: {ids}. Patients whose records were damaged are screened again "
     "while their photographs are in the input folder."),
    ("split_by_naming", "warning",
     "{count} patient visits look like one patient split in two by the file names (one eye "
     "each): {ids}. Check the names, or {remedy}, and screen the folder again."),
    ("one_eyed", "info",
     "{count} patient visits have photographs of one eye only, or of an unknown eye: {ids}. "
     "If the file names carry the eye another way, {remedy}."),
    ("future_timestamps", "warning",
     "{count} photographs have a file time in the future (is the camera's clock ahead?); "
     "they were screened by content."),
    ("waiting", "info",
     "{count} photographs are still being written; they are screened once they stop "
     "changing."),
)


def listed(ids: tuple[str, ...] | list[str], most: int = IDS_SHOWN) -> str:
    """Up to ``most`` IDs, then how many more (words of no language: "A, B … (+3)")."""
    shown = ", ".join(ids[:most])
    return shown if len(ids) <= most else f"{shown} \u2026 (+{len(ids) - most:,})"


def batch_findings(summary: Any, remedy: str = REMEDY_COMMAND_LINE,
                   translate: Callable[[str], str] = str) -> list[BatchFinding]:
    """Every finding that applies to ``summary`` (a :class:`~retina_screen.batch.BatchSummary`),
    the weightiest first, worded with ``remedy`` and put into the interface's language by
    ``translate`` (the engine catalogue's ``engine``; English as it is by default). Visits of
    one eye are noted only where none looks like one patient split in two (those are among
    them)."""
    found = []
    for name, level, template in FINDINGS:
        value = getattr(summary, name, None)
        if not value or (name == "one_eyed" and getattr(summary, "split_by_naming", ())):
            continue
        if name == "passed_over":
            ids = passed_over_text(value, translate=translate)
        elif name == "damaged_records":
            ids = str(getattr(summary, "damaged_copy", "") or "")
        elif isinstance(value, int):
            ids = ""
        else:
            ids = listed(tuple(value))
        count = value if isinstance(value, int) else len(value)
        text = template.format(count=f"{count:,}", ids=ids, remedy=remedy,
                               most=MAX_PHOTOGRAPHS_PER_EYE)
        found.append(BatchFinding(name, level, translate(text)))
    return found


def passed_over_text(passed_over: list[tuple[str, str]] | tuple[tuple[str, str], ...],
                     most: int = 5, translate: Callable[[str], str] = str) -> str:
    """What was not looked at, for the operator: the first ``most`` paths (verbatim) with
    their reasons (translated), then how many more."""
    def short(path: str) -> str:  # a deep path keeps its start and its end
        return path if len(path) <= 100 else path[:40] + "\u2026" + path[-50:]

    shown = "; ".join(f"{short(path)}: {translate(why)}" for path, why in passed_over[:most])
    more = len(passed_over) - most
    return shown + (f"; \u2026 (+{more:,})" if more > 0 else "")
