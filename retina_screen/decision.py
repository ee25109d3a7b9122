"""Decisions: combine image results into eye results and a patient outcome.

Rules (conservative by design: nothing unscreened ever reads as "no DR"):

- An image votes only if it is gradable. An eye's grade is the most severe grade among its
  gradable images, and its P(referable) the largest.
- Each image is referable when its P(referable) reaches the model's operating threshold. That
  threshold is chosen *per patient* (see ``training/export.py``): on internal validation data,
  a patient's score is the highest P(referable) of their gradable photographs, so "refer when
  either eye is referable" has the patient-level specificity the threshold was chosen for,
  instead of compounding two per-image error rates.
- An eye with no gradable image is *insufficient*.
- The patient is referred if any eye is referable (urgency from the most severe grade); if no
  eye is referable but an eye is insufficient, missing or of unknown side, the patient outcome
  is *insufficient*; only two screened, non-referable eyes give "no referable DR". The same
  photograph (by content) given for both eyes screens one eye only: such a patient is not
  "no referable DR" either; nor is one photograph given for both eyes as a copy with other
  bytes or a mirror image (:func:`mark_copies`, docs/decisions.md), nor an eye with more
  photographs than one visit plausibly takes (``MAX_PHOTOGRAPHS_PER_EYE``: file names that put
  many patients under one ID, where one patient's ungradable eye would hide behind another's
  gradable photographs), nor a visit whose photographs their cameras dated more than
  ``DAYS_APART_MAX`` days apart (another day's photograph, e.g. last year's, given for an eye:
  that eye was not screened at this visit), nor a visit whose right- and left-eye photographs
  show the optic disc on the same side (:mod:`.laterality`: one eye photographed for both),
  nor a visit whose photographs' frames have different proportions (:func:`frames_differ`:
  another camera's photograph, e.g. another person's).
- The referral table (grade to headline, action, interval) is read from one JSON file,
  ``data/referral_table.json``, or from the file the ``referral_table`` setting names.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
import re
import unicodedata
from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass, replace
from pathlib import Path

from .errors import ConfigError
from .likeness import COPY_LIKENESS_MIN, copy_likeness
from .results import (
    Eye,
    EyeResult,
    ImageResult,
    ImageStatus,
    ModelInfo,
    Outcome,
    PatientInfo,
    PatientResult,
    Referral,
)

DEFAULT_REFERRAL_TABLE = Path(__file__).resolve().parent / "data" / "referral_table.json"


@dataclass(frozen=True)
class ReferralTable:
    version: str
    by_grade: tuple[Referral, ...]  # index = ICDR grade
    insufficient: Referral

    def for_grade(self, grade: int) -> Referral:
        return self.by_grade[grade]

    @property
    def sha256(self) -> str:
        """A digest of every entry (outcome, wording, interval, urgency), whatever the file's
        layout: two tables decide and word every visit alike exactly when it is the same."""
        entries = [[r.outcome.value, r.headline, r.action, r.interval, r.urgency]
                   for r in (*self.by_grade, self.insufficient)]
        text = json.dumps([self.version, entries], ensure_ascii=False)
        return hashlib.sha256(text.encode("utf-8")).hexdigest()


def _referral(entry: dict) -> Referral:
    try:
        return Referral(Outcome(entry["outcome"]), entry["headline"], entry["action"],
                        entry["interval"], entry["urgency"])
    except (KeyError, ValueError) as exc:
        raise ConfigError(f"referral table entry is invalid: {exc}") from exc


def load_referral_table(path: Path | None = None) -> ReferralTable:
    path = Path(path) if path else DEFAULT_REFERRAL_TABLE
    try:
        raw = json.loads(path.read_text(encoding="utf-8"))
        grades = tuple(_referral(raw["grades"][str(g)]) for g in range(5))
        insufficient = _referral(raw["insufficient"])
    except (OSError, ValueError, KeyError) as exc:
        raise ConfigError(f"referral table {path} cannot be read: {exc}") from exc
    if insufficient.outcome is not Outcome.INSUFFICIENT:
        raise ConfigError("referral table: the 'insufficient' entry must have that outcome")
    severity = {Outcome.NO_REFERABLE: 0, Outcome.REFER: 1, Outcome.REFER_URGENT: 2}
    for grade, referral in enumerate(grades):
        if (grade >= 2) != referral.outcome.is_referral:
            raise ConfigError(
                f"referral table: grade {grade} must {'' if grade >= 2 else 'not '}be a referral"
            )
        if grade and severity.get(referral.outcome, 0) < severity.get(grades[grade - 1].outcome,
                                                                       0):
            raise ConfigError(f"referral table: grade {grade} must be referred at least as "
                              f"urgently as grade {grade - 1}")
        # The words the patient and the clinician read must not undo a referral: a table
        # whose grade 2-4 said "No referable diabetic retinopathy - rescreen in 12 months"
        # loaded, and printed that on a proliferative eye's report (found 2026-12-02).
        words = " ".join((referral.headline, referral.action, referral.interval)).lower()
        if referral.outcome.is_referral and (referral.urgency.strip().lower() in ("", "none")
                                             or "no referable" in words
                                             or "rescreen" in words):
            raise ConfigError(f"referral table: grade {grade} is a referral, but its wording "
                              "or urgency says it is not (no urgency, 'no referable', "
                              "'rescreen'): word it as a referral")
    return ReferralTable(str(raw.get("version", "custom")), grades, insufficient)


def combine_eye(eye: Eye, images: tuple[ImageResult, ...], table: ReferralTable) -> EyeResult:
    gradable = [i for i in images if i.status is ImageStatus.OK and i.grading is not None]
    if not gradable:
        # A file that could not be read is not counted as a photograph: its remedy is the
        # camera's export, not a retake.
        unreadable = sum(i.status is ImageStatus.ERROR for i in images)
        count = len(images) - unreadable
        files = f"{unreadable} file{'s' if unreadable != 1 else ''} could not be read"
        if not unreadable:
            note = f"{count} photograph{'s' if count != 1 else ''}, none gradable"
        elif not count:
            note = files
        else:
            note = (f"none gradable: {count} photograph{'s' if count != 1 else ''} ungradable, "
                    f"{files}")
        return EyeResult(eye, images, Outcome.INSUFFICIENT, None, None, note)
    grade = max(i.grading.grade for i in gradable)
    p_referable = max(i.grading.p_referable for i in gradable)
    skipped = len(images) - len(gradable)
    note = f"{skipped} of {len(images)} photographs ungradable, not used" if skipped else ""
    return EyeResult(eye, images, table.for_grade(grade).outcome, grade, p_referable, note)


#: One file given twice for one eye (found 2026-12-02: nothing said so; the operator meant
#: to add the eye's second field). It counts once; the outcome does not change.
SAME_PHOTOGRAPH_TWICE = (
    "{eye}: the same photograph was given more than once (the same file content); it counts "
    "once: add the eye's other photographs if it has some")

#: A photograph whose content a batch's input folder files for another patient or visit too:
#: one of them has the other's photograph, so neither can be "no referable DR" (found
#: 2026-12-02: two patients sharing a right-eye photograph both read "rescreen in 12 months").
FILED_ALSO_FOR = (
    "A photograph of this visit is filed for another patient or visit too (the same file "
    "content: {ids}): one of them has the other's photograph; check whose it is and when it "
    "was taken")

#: More photographs of one eye than a visit plausibly takes (seven fields and retakes): the
#: file names may have put several patients under one ID (docs/decisions.md).
MAX_PHOTOGRAPHS_PER_EYE = 12
TOO_MANY_PHOTOGRAPHS = (
    "{eye}: {count} photographs in one visit, more than one eye plausibly has: the file names "
    "may have put several patients under this ID; check them")

SAME_PHOTOGRAPH_FOR_BOTH_EYES = (
    "The same photograph was given for the right and the left eye: only one eye was screened; "
    "photograph each eye")
#: Photographs of one visit taken more than this many days apart by their cameras' dates.
DAYS_APART_MAX = 1
TAKEN_ON_DIFFERENT_DAYS = (
    "The photographs of this visit were taken on different days by their cameras' dates "
    "({dates}): check that each one was taken at this visit")
COPY_FOR_BOTH_EYES = (
    "The photographs of the right and the left eye are one photograph (a copy or a mirror "
    "image of the other): only one eye was screened; photograph each eye")

DISC_ON_ONE_SIDE = (
    "The photographs of the right and the left eye show the optic disc on the same side, as "
    "two photographs of one eye do: one eye may have been photographed for both, or given "
    "under the wrong eye; check which eye each photograph shows and photograph each eye")

FRAMES_DIFFER = (
    "The photographs of this visit have frames of different proportions ({sizes}), as "
    "photographs from different cameras do: check that each one was taken at this visit, of "
    "this patient")


NAMED_FOR_OTHER_PATIENTS = (
    "The photographs' file names name different patients ({ids}): check that each photograph "
    "is this patient's")


def patients_named(images: list[ImageResult] | tuple[ImageResult, ...]) -> tuple[str, ...]:
    """The patients that a visit's photographs' file names name, by the built-in naming
    conventions (names that carry an eye word only), when they name more than one: another
    patient's photograph added to this one in the desktop app, or given to ``screen`` with
    ``--patient-id`` (found 2026-12-02: such a visit read "no referable DR")."""
    from .naming import parse_name

    named: dict[str, str] = {}
    for image in images:
        parsed = parse_name(Path(image.source).stem)
        if parsed.eye is not Eye.UNKNOWN:
            patient = unicodedata.normalize("NFC", parsed.patient)
            named.setdefault(patient.casefold(), patient)
    return tuple(sorted(named.values())) if len(named) > 1 else ()


#: Photographs whose files (DICOM) carry a patient ID that is not the visit's, or several IDs:
#: the desktop app screened patient A's DICOM files under patient B's form as "no referable
#: DR" (found 2026-12-02).
FILES_OF_OTHER_PATIENTS = (
    "The photographs' DICOM files carry another patient ID than this visit's ({ids}): check "
    "that each photograph is this patient's")


#: Photographs under one patient ID whose DICOM files name different people (name, birth
#: date or sex): a reused or placeholder ID merged two people, one's ungradable eye covered by
#: the other's photograph (found 2026-12-02). The names are not repeated on the report.
PEOPLE_IN_FILES = (
    "The photographs' DICOM files name {count} different people under this patient ID: check "
    "that each photograph is this patient's")


#: A photograph this installation's batch screened before for another patient (its audit trail):
#: an earlier patient's photograph exported again under this one's name read "no referable
#: DR" (found 2026-12-02).
SCREENED_FOR_ANOTHER = (
    "A photograph of this visit was screened before for another patient (the same file "
    "content, in this installation's audit trail): check that it is this patient's")


def person_of(name: str | None, birth_date: str | None, sex: str | None) -> str:
    """The person a DICOM file names, as ``ImageResult.person``: the words of the name
    (:func:`_name_words`, sorted, space-separated), birth date and sex, joined by ``|``; ""
    when it names nobody."""
    fields = (" ".join(sorted(_name_words(name or ""))), (birth_date or "").strip(),
              (sex or "").strip().upper())
    return "|".join(fields) if any(fields) else ""


#: Letters a name is written with in plain ASCII by another system (MÜLLER as MUELLER).
_TRANSLITERATED = str.maketrans({"ä": "ae", "ö": "oe", "ü": "ue", "ß": "ss", "æ": "ae",
                                 "ø": "oe", "å": "aa"})


def _name_words(name: str) -> set[str]:
    """The words of a name (DICOM's ``^`` parts and spaces) as systems that spell them
    differently still agree on them: without case, accents, punctuation and initials,
    umlauts as two letters ("MÜLLER^Hans^J." and "Mueller Hans")."""
    text = unicodedata.normalize("NFC", name).casefold().translate(_TRANSLITERATED)
    text = "".join(c for c in unicodedata.normalize("NFKD", text)
                   if not unicodedata.combining(c))
    words = ("".join(c for c in word if c.isalnum()) for word in re.split(r"[\s^,]+", text))
    return {word for word in words if len(word) > 1}


def people_in_files(images: list[ImageResult] | tuple[ImageResult, ...]) -> int:
    """How many different people the photographs' files name (``ImageResult.person``)."""
    return count_people(image.person for image in images)


def _same_person(a: list[str], b: list[str]) -> bool:
    """Whether two :func:`person_of` field lists may name one person: not where both give a
    birth date or a sex and they differ, nor where both give a name and the names share no
    word (a name spelt two ways, a middle name added or a married name keep one)."""
    name, born, sex = range(3)
    if (a[born] and b[born] and a[born] != b[born]) or (a[sex] and b[sex] and a[sex] != b[sex]):
        return False
    return not (a[name] and b[name] and not set(a[name].split()) & set(b[name].split()))


def count_people(persons: Iterable[str]) -> int:
    """How many different people :func:`person_of`'s strings name (:func:`_same_person`)."""
    people: list[list[str]] = []
    for person in persons:
        if not person:
            continue
        fields = (person.split("|") + ["", "", ""])[:3]
        for known in people:
            if _same_person(known, fields):
                words = sorted(set(known[0].split()) | set(fields[0].split()))
                known[:] = [" ".join(words), known[1] or fields[1], known[2] or fields[2]]
                break
        else:
            people.append(fields)
    return len(people)


def patients_carried(patient_id: str, images: list[ImageResult] | tuple[ImageResult, ...]
                     ) -> tuple[str, ...]:
    """The patient IDs the photographs' files carry (``ImageResult.file_patient_id``) when
    one of them is not ``patient_id`` (where one is given) or they are not all one; compared
    in NFC and without case, as file names are."""
    def same(text: str) -> str:
        return unicodedata.normalize("NFC", text.strip()).casefold()

    carried = {same(i.file_patient_id): i.file_patient_id.strip() for i in images
               if i.file_patient_id.strip()}
    if len(carried) > 1 or (patient_id.strip() and carried
                            and set(carried) != {same(patient_id)}):
        return tuple(sorted(carried.values()))
    return ()


def mark_copies(images: list[ImageResult] | tuple[ImageResult, ...]) -> tuple[ImageResult, ...]:
    """``images`` with ``copy_of`` set on each gradable right-eye photograph that is a copy or
    a mirror image of a gradable left-eye one, and the other way round (``copy_likeness`` of
    their signatures at least ``COPY_LIKENESS_MIN``). Images without a signature (rebuilt from
    records) keep the ``copy_of`` they were recorded with."""
    compared = [i for i in images if i.signature is not None and i.status is ImageStatus.OK
                and i.eye in (Eye.RIGHT, Eye.LEFT)]
    if not compared:
        return tuple(images)
    copies: dict[int, str] = {}
    for right in (i for i in compared if i.eye is Eye.RIGHT):
        for left in (i for i in compared if i.eye is Eye.LEFT):
            if right.sha256 != left.sha256 \
                    and copy_likeness(right.signature, left.signature) >= COPY_LIKENESS_MIN:
                copies.setdefault(id(right), left.sha256)
                copies.setdefault(id(left), right.sha256)
    return tuple(replace(i, copy_of=copies.get(id(i), "")) if i.signature is not None else i
                 for i in images)


def _same_photograph_for_both_eyes(images: list[ImageResult] | tuple[ImageResult, ...]) -> bool:
    """Whether one photograph (by content: its sha256) was given for both the right and the
    left eye (a file dropped or exported twice)."""
    right = {i.sha256 for i in images if i.eye is Eye.RIGHT and i.sha256}
    return any(i.eye is Eye.LEFT and i.sha256 in right for i in images)


def _copy_for_both_eyes(images: list[ImageResult] | tuple[ImageResult, ...]) -> bool:
    """Whether a right-eye photograph is a copy or mirror image of a left-eye one present
    (:func:`mark_copies`)."""
    sides = {Eye.RIGHT: {i.sha256 for i in images if i.eye is Eye.RIGHT},
             Eye.LEFT: {i.sha256 for i in images if i.eye is Eye.LEFT}}
    return any(i.copy_of and i.copy_of in sides[Eye.LEFT if i.eye is Eye.RIGHT else Eye.RIGHT]
               for i in images if i.eye in sides)


def _disc_on_one_side(images: list[ImageResult] | tuple[ImageResult, ...]) -> bool:
    """Whether the gradable right- and left-eye photographs show the optic disc on the same
    side (each eye's side by the majority of its photographs; see :mod:`.laterality`, which
    also says why a photograph's side is not checked against its eye alone)."""
    sides = {eye: sum(i.disc_side for i in images
                      if i.eye is eye and i.status is ImageStatus.OK)
             for eye in (Eye.RIGHT, Eye.LEFT)}
    return sides[Eye.RIGHT] * sides[Eye.LEFT] > 0


def _one_frame(first: tuple[int, int], second: tuple[int, int]) -> bool:
    """Whether two (width, height) frames have one proportion, up to what whole pixels explain:
    half a pixel a side of the larger (an original, or a copy rounded to whole pixels) and a
    pixel a side of the smaller (a smaller export, rounded or cut to whole pixels)."""
    (w1, h1), (w2, h2) = sorted((first, second), key=lambda frame: frame[0] * frame[1])
    small, large = w1 / h1, w2 / h2
    whole_pixels = small * (1 / w1 + 1 / h1) + large * (0.5 / w2 + 0.5 / h2)
    return abs(small - large) <= whole_pixels


def frames_differ(images: list[ImageResult] | tuple[ImageResult, ...]) -> tuple[str, ...]:
    """The pixel sizes ("width × height", sorted, each once; a photograph turned a quarter counts
    as unturned) of a visit's gradable photographs when their frames are not all of one
    proportion: one camera's sitting gives one frame, a smaller export keeps its proportion,
    another camera's usually has another; () otherwise."""
    frames = sorted({tuple(sorted((i.width, i.height), reverse=True)) for i in images
                     if i.status is ImageStatus.OK and i.width and i.height})
    if len(frames) < 2 or all(_one_frame(frames[0], other) for other in frames[1:]):
        return ()
    return tuple(f"{w} × {h}" for w, h in frames)


def eyes_in_doubt(images: list[ImageResult] | tuple[ImageResult, ...]) -> bool:
    """Whether a visit's photographs may not be the eyes they are filed as: one photograph
    (the same file, a copy or a mirror image) or one eye's photographs (the optic disc on one
    side) given for both eyes, or a photograph from another camera (:func:`frames_differ`).
    Such a visit is never "no referable DR"; a batch names it for a look."""
    return (_same_photograph_for_both_eyes(images) or _copy_for_both_eyes(images)
            or _disc_on_one_side(images) or bool(frames_differ(images))
            or bool(patients_named(images)))


#: A photograph its camera dated more than this many days before a patient's screening in the
#: desktop app or ``screen`` is pointed out (a warning: an archive screened in a batch is old).
OLD_PHOTOGRAPH_DAYS = 30


def days_before(image: ImageResult, day: dt.date) -> int | None:
    """How many days before ``day`` the photograph's camera dated it; None where undated."""
    try:
        return (day - dt.date.fromisoformat(image.taken)).days if image.taken else None
    except ValueError:
        return None


def taken_days_apart(taken: Iterable[str]) -> tuple[str, ...]:
    """The camera dates of a visit's photographs (``ImageResult.taken``; sorted, each once)
    when any two lie more than ``DAYS_APART_MAX`` days apart (another day's photograph in this
    visit); () otherwise, and where fewer than two photographs carry a date."""
    dates = sorted({day for day in taken if day})
    try:
        span = (dt.date.fromisoformat(dates[-1]) - dt.date.fromisoformat(dates[0])).days \
            if len(dates) > 1 else 0
    except ValueError:  # not a date as this application records them
        return ()
    return tuple(dates) if span > DAYS_APART_MAX else ()


FILED_UNDER_ANOTHER_DATE = (
    "A photograph of this visit was taken on {taken} by its camera's date but is filed in a "
    "folder dated {filed}: check that it was taken at this visit")


def filed_under_another_date(images: list[ImageResult] | tuple[ImageResult, ...]
                             ) -> tuple[str, str] | None:
    """(camera date, folder date) of the first photograph whose camera dated it more than
    ``DAYS_APART_MAX`` days from the date of the folder it is filed in (a batch visit's date:
    ``naming.folder_date``): last year's pair exported again into today's folder read "no
    referable DR" for today's visit (found 2026-12-02). None otherwise, and for photographs
    without a camera date or a dated folder."""
    from .naming import folder_date

    for image in images:
        filed = folder_date(image.source)
        if not (image.taken and filed):
            continue
        try:
            days = abs((dt.date.fromisoformat(filed) - dt.date.fromisoformat(image.taken)).days)
        except ValueError:
            continue
        if days > DAYS_APART_MAX:
            return image.taken, filed
    return None


def combine_patient(patient: PatientInfo, images: list[ImageResult] | tuple[ImageResult, ...],
                    table: ReferralTable, screened_at: str, model: ModelInfo | None,
                    thresholds_version: str) -> PatientResult:
    """The patient outcome from all of a patient's image results (copies between the eyes
    marked first: :func:`mark_copies`)."""
    images = mark_copies(images)
    eyes = []
    for eye in (Eye.RIGHT, Eye.LEFT, Eye.UNKNOWN):
        members = tuple(i for i in images if i.eye is eye)
        if members:
            eyes.append(combine_eye(eye, members, table))
    notes: list[str] = []
    graded = [e for e in eyes if e.grade is not None]
    referable = [e for e in graded if e.outcome.is_referral]
    present = {e.eye for e in eyes}
    for eye in (Eye.RIGHT, Eye.LEFT):
        if eye not in present:
            notes.append(f"{eye.label}: no photograph; screen this eye or record why it cannot "
                         "be photographed")
    if Eye.UNKNOWN in present:
        notes.append("Some photographs have no known eye (right/left): assign the eye")
    both_eyes = _same_photograph_for_both_eyes(images)
    if both_eyes:
        notes.append(SAME_PHOTOGRAPH_FOR_BOTH_EYES)
    elif _copy_for_both_eyes(images):
        both_eyes = True
        notes.append(COPY_FOR_BOTH_EYES)
    elif _disc_on_one_side(images):
        both_eyes = True
        notes.append(DISC_ON_ONE_SIDE)
    days = taken_days_apart(i.taken for i in images)
    if days:
        notes.append(TAKEN_ON_DIFFERENT_DAYS.format(dates=", ".join(days)))
    frames = frames_differ(images)
    if frames:
        notes.append(FRAMES_DIFFER.format(sizes=", ".join(frames)))
    filed = filed_under_another_date(images)
    if filed:
        notes.append(FILED_UNDER_ANOTHER_DATE.format(taken=filed[0], filed=filed[1]))
    named = patients_named(images)
    if named:
        notes.append(NAMED_FOR_OTHER_PATIENTS.format(ids=", ".join(named)))
    elsewhere = sorted({other for i in images for other in i.filed_also_for})
    if elsewhere:
        notes.append(FILED_ALSO_FOR.format(ids=", ".join(elsewhere)))
    carried = patients_carried(patient.patient_id, images)
    if carried:
        notes.append(FILES_OF_OTHER_PATIENTS.format(ids=", ".join(carried)))
    people = people_in_files(images)
    if people > 1:
        notes.append(PEOPLE_IN_FILES.format(count=people))
    before = any(i.screened_for_another for i in images)
    if before:
        notes.append(SCREENED_FOR_ANOTHER)
    for e in eyes:  # the same file twice for one eye: said, as the operator may have meant
        repeated = Counter(i.sha256 for i in e.images if i.sha256)  # the eye's other field
        if any(count > 1 for count in repeated.values()):
            notes.append(SAME_PHOTOGRAPH_TWICE.format(eye=e.eye.label))
    crowded = [e for e in eyes if len(e.images) > MAX_PHOTOGRAPHS_PER_EYE]
    for e in crowded:
        notes.append(TOO_MANY_PHOTOGRAPHS.format(eye=e.eye.label, count=len(e.images)))
    # An unknown side counts as screened only alongside both known eyes (see module docstring).
    for e in eyes:
        if e.outcome is Outcome.INSUFFICIENT:
            notes.append(f"{e.eye.label}: images insufficient ({e.note})")

    if referable:
        worst = max(e.grade for e in referable)
        referral = table.for_grade(worst)
    elif (not images or any(e.outcome is Outcome.INSUFFICIENT for e in eyes)
          or not {Eye.RIGHT, Eye.LEFT} <= present or both_eyes or crowded or days
          or frames or named or filed or elsewhere or carried or people > 1 or before):
        referral = table.insufficient
    else:
        referral = table.for_grade(max(e.grade for e in graded))
    return PatientResult(
        patient=patient, eyes=tuple(eyes), outcome=referral.outcome, referral=referral,
        screened_at=screened_at, model=model, thresholds_version=thresholds_version,
        notes=tuple(notes),
    )
