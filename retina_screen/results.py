"""The result objects every part of the application shares: engine, CLI, report, GUI, batch.

All are frozen dataclasses. The GUI and the report only read them; all screening logic lives in
the engine (:mod:`.engine`, :mod:`.quality`, :mod:`.decision`).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from enum import StrEnum

import numpy as np

ICDR_LABELS = (
    "no apparent DR",
    "mild NPDR",
    "moderate NPDR",
    "severe NPDR",
    "proliferative DR",
)
REFERABLE_MIN_GRADE = 2
#: The flag on every result, report and audit record of a model outside the trusted list.
UNVERIFIED_MODEL = "UNVERIFIED MODEL (not the model shipped with this application)"


class Eye(StrEnum):
    RIGHT = "right"
    LEFT = "left"
    UNKNOWN = "unknown"

    @property
    def label(self) -> str:
        return {"right": "Right eye (OD)", "left": "Left eye (OS)", "unknown": "Eye not known"}[
            self.value
        ]


class ImageStatus(StrEnum):
    OK = "ok"  # gradable and graded
    UNGRADABLE = "ungradable"  # read, but failed the quality gate (or not a fundus photo)
    ERROR = "error"  # could not be read at all


class Outcome(StrEnum):
    """A screening outcome, for an eye or a patient, ordered from least to most severe."""

    NO_REFERABLE = "no_referable"
    INSUFFICIENT = "insufficient"
    REFER = "refer"
    REFER_URGENT = "refer_urgent"

    @property
    def severity(self) -> int:
        return list(Outcome).index(self)

    @property
    def is_referral(self) -> bool:
        return self in (Outcome.REFER, Outcome.REFER_URGENT)


@dataclass(frozen=True)
class QualityCheck:
    """One quality measurement: its value, the threshold it is held to, and the verdict."""

    name: str  # e.g. "focus"
    value: float
    threshold: float
    passed: bool
    #: What failed and what to do, for the operator; empty when passed.
    reason: str = ""


#: The quality problems an ungradable photograph's reasons name before counting the rest.
REASONS_SHOWN = 3
#: The last of a photograph's reasons where the quality check found more than it names.
MORE_PROBLEMS = "{count} more problems found by the quality check"


@dataclass(frozen=True)
class QualityReport:
    checks: tuple[QualityCheck, ...]
    is_fundus: bool
    #: Version of the thresholds used (recorded on every result and report).
    thresholds_version: str

    @property
    def gradable(self) -> bool:
        return self.is_fundus and all(c.passed for c in self.checks)

    @property
    def reasons(self) -> tuple[str, ...]:
        """What failed and what to do, for the operator: at most :data:`REASONS_SHOWN`, in the
        checks' order (the frame, the fundus verdict, then acquisition faults before finer
        ones), then how many more problems the checks found (every check stays in the record).
        A photograph that is not a fundus photograph is said to be that (the verdict, not its
        parts), with the first quality problems: a badly blurred or dark fundus photograph can
        fail the fundus checks too, and then a retake may be all it needs."""
        failed = [c for c in self.checks if not c.passed and c.reason]
        if not self.is_fundus:
            failed = [c for c in failed if c.name == "fundus" or not c.name.startswith("fundus")]
            if not failed:
                return ("not a fundus photograph",)
        shown = [c.reason for c in failed[:REASONS_SHOWN]]
        more = len(failed) - len(shown)
        return (*shown, MORE_PROBLEMS.format(count=more)) if more > 0 else tuple(shown)

    def check(self, name: str) -> QualityCheck | None:
        return next((c for c in self.checks if c.name == name), None)

    def to_record(self) -> dict:
        return {"version": self.thresholds_version, "is_fundus": self.is_fundus,
                "checks": [{"name": c.name, "value": c.value, "threshold": c.threshold,
                            "passed": c.passed, "reason": c.reason} for c in self.checks]}

    @classmethod
    def from_record(cls, record: dict) -> QualityReport:
        return cls(tuple(QualityCheck(c["name"], c["value"], c["threshold"], c["passed"],
                                      c["reason"]) for c in record["checks"]),
                   record["is_fundus"], record["version"])


@dataclass(frozen=True)
class Grading:
    """The model's grading of one gradable image."""

    probabilities: tuple[float, float, float, float, float]  # ICDR grades 0-4
    p_referable: float  # P(grade >= 2)
    referable: bool  # p_referable >= the manifest's operating threshold
    #: Heatmap (0..1, float32, small grid) over the square FOV crop; None if the model has none.
    heatmap: np.ndarray | None = field(default=None, compare=False, repr=False)

    @property
    def grade(self) -> int:
        """The ICDR grade shown to people, consistent with the referable decision.

        The referable decision uses the manifest's (sensitive) threshold on P(grade >= 2), so the
        grade is the most probable referable grade (2-4) when referable, else the most probable
        of 0-1.
        """
        p = np.asarray(self.probabilities)
        if self.referable:
            return REFERABLE_MIN_GRADE + int(np.argmax(p[REFERABLE_MIN_GRADE:]))
        return int(np.argmax(p[:REFERABLE_MIN_GRADE]))

    @property
    def grade_label(self) -> str:
        return ICDR_LABELS[self.grade]


@dataclass(frozen=True)
class ModelInfo:
    name: str
    version: str
    sha256: str
    threshold: float
    #: sha256 of the manifest file (its thresholds, labels, ...), recorded with every result.
    manifest_sha256: str = ""
    #: True only when the manifest, model and gate match the package's trusted-model list
    #: (:mod:`.trust`); False for a model accepted through ``allow_unverified_model``.
    verified: bool = False

    @property
    def short_sha(self) -> str:
        return self.sha256[:12]

    @property
    def trust_label(self) -> str:
        """"verified" or the warning printed on every result and report of an unverified model."""
        return "verified" if self.verified else UNVERIFIED_MODEL


@dataclass(frozen=True)
class ImageResult:
    """Everything known about one input photograph after screening."""

    source: str  # path as given (or relative to the batch input folder)
    eye: Eye
    status: ImageStatus
    sha256: str = ""
    quality: QualityReport | None = None
    grading: Grading | None = None
    error: str = ""  # one-line reason when status is ERROR
    width: int = 0  # original pixel size
    height: int = 0
    #: The square FOV crop shown to people (RGB uint8, ~512 px); not kept in batch runs.
    display_image: np.ndarray | None = field(default=None, compare=False, repr=False)
    model: ModelInfo | None = None
    #: The colour space the photo's pixels were converted from to sRGB before screening (its
    #: ICC profile's name, or "Adobe RGB (1998)" from a camera's Exif marks); "" when none.
    colour_profile: str = ""
    #: The fine detail of the screening crop (:func:`likeness.photo_signature`), compared by the
    #: patient decision between the eyes; not kept in records or sent between processes.
    signature: np.ndarray | None = field(default=None, compare=False, repr=False)
    #: The sha256 of a photograph of the other eye that this one is a copy or mirror image of
    #: (:func:`decision.mark_copies`); "" when none was found.
    copy_of: str = ""
    #: The date the photograph was taken by the camera's clock (ISO yyyy-mm-dd, from its Exif
    #: data or DICOM acquisition date); "" where the file does not say.
    taken: str = ""
    #: The side of the photograph its optic disc lies on (:func:`laterality.optic_disc_side`):
    #: 1 right, -1 left, 0 undecided or not looked for (ungradable photographs).
    disc_side: int = 0
    #: The other patients (``ID``) and this patient's other visits (``ID visit``) under which a
    #: batch's input folder files the same content (sha256): one of them has the other's
    #: photograph (``batch.filed_elsewhere``); empty outside a batch.
    filed_also_for: tuple[str, ...] = ()
    #: The patient ID the file itself carries (a DICOM file's PatientID), where the desktop app
    #: read it; compared by the patient decision with the visit's patient. Not recorded: a
    #: batch groups DICOM files by it, and ``screen`` refuses files of different IDs.
    file_patient_id: str = field(default="", compare=False)
    #: The person the file itself names (a DICOM file's name, birth date and sex:
    #: :func:`decision.person_of`); compared by the patient decision between the photographs.
    person: str = ""
    #: Whether this installation's audit trail holds the same content (sha256) screened for
    #: another patient, in another batch output folder, before it was screened for this one:
    #: a wrong-patient export of an earlier patient's photograph
    #: (``batch.BatchRun._screened_before``).
    screened_for_another: bool = False

    @property
    def reasons(self) -> tuple[str, ...]:
        if self.status is ImageStatus.ERROR:
            return (self.error,)
        if self.quality is not None and not self.quality.gradable:
            return self.quality.reasons
        return ()

    def to_record(self) -> dict:
        """The one serialised form of an image result, JSON-serialisable and without pictures:
        the batch journal (which adds where the file came from), ``screen --json`` and the
        audit trail (a subset, without the path) are all made from it."""
        grading, quality, model = self.grading, self.quality, self.model
        return {
            "path": self.source,
            "eye": self.eye.value,
            "status": self.status.value,
            "reasons": list(self.reasons),
            "icdr_grade": grading.grade if grading else None,
            "p_referable": round(grading.p_referable, 6) if grading else None,
            "referable": grading.referable if grading else None,
            "probabilities": [round(p, 6) for p in grading.probabilities] if grading else None,
            "quality": None if quality is None else quality.to_record(),
            "sha256": self.sha256,
            "width": self.width,
            "height": self.height,
            "error": self.error,
            "model_version": model.version if model else "",
            "model_sha256": model.sha256 if model else "",
            "referable_threshold": model.threshold if model else None,
            "manifest_sha256": model.manifest_sha256 if model else "",
            "model_verified": model.verified if model else None,
            "colour_profile": self.colour_profile,
            "copy_of": self.copy_of,
            "taken": self.taken,
            "disc_side": self.disc_side,
            "filed_also_for": list(self.filed_also_for),
            "person": self.person,
            "screened_for_another": self.screened_for_another,
        }

    @classmethod
    def from_record(cls, record: dict, model: ModelInfo | None = None) -> ImageResult:
        """Rebuild an image result (without pictures) from :meth:`to_record`'s form; the model
        is given by the caller (a record holds its hashes, not its name)."""
        grading = None
        if record.get("probabilities") is not None:
            grading = Grading(tuple(record["probabilities"]), record["p_referable"],
                              bool(record["referable"]))
        quality = QualityReport.from_record(record["quality"]) if record.get("quality") else None
        return cls(record["path"], Eye(record["eye"]), ImageStatus(record["status"]),
                   record.get("sha256", ""), quality, grading, record.get("error", ""),
                   record.get("width", 0), record.get("height", 0), model=model,
                   colour_profile=record.get("colour_profile") or "",
                   copy_of=record.get("copy_of") or "", taken=record.get("taken") or "",
                   disc_side=int(record.get("disc_side") or 0),
                   filed_also_for=tuple(record.get("filed_also_for") or ()),
                   person=record.get("person") or "",
                   screened_for_another=bool(record.get("screened_for_another")))


@dataclass(frozen=True)
class Referral:
    """One row of the referral table: what an outcome means for the patient."""

    outcome: Outcome
    headline: str  # e.g. "REFER - referable diabetic retinopathy detected"
    action: str  # e.g. "Refer to the eye service"
    interval: str  # e.g. "within 4 weeks", "rescreen in 12 months"
    urgency: str  # "urgent", "routine", "none", "retake"


@dataclass(frozen=True)
class EyeResult:
    eye: Eye
    images: tuple[ImageResult, ...]
    outcome: Outcome
    #: Most severe gradable grade (None when no image of this eye was gradable).
    grade: int | None
    p_referable: float | None
    note: str = ""

    @property
    def gradable_images(self) -> tuple[ImageResult, ...]:
        return tuple(i for i in self.images if i.status is ImageStatus.OK)


@dataclass(frozen=True)
class PatientInfo:
    patient_id: str = ""
    name: str = ""
    birth_date: str = ""  # ISO yyyy-mm-dd or ""
    diabetes_type: str = ""  # "type 1", "type 2", "gestational", "other", ""
    screening_date: str = ""  # ISO yyyy-mm-dd; filled by the engine when empty
    sex: str = ""  # DICOM Patient's Sex: "F", "M", "O" (other) or "" (not recorded)
    accession: str = ""  # the order's accession number (worklist / RIS), "" if none


#: DICOM Patient's Sex codes (PS3.3 C.7.1.1) and their English words.
SEXES = {"F": "female", "M": "male", "O": "other"}


def sex_code(value: str | None) -> str:
    """A DICOM Patient's Sex code from a tag or form value ("" when unknown)."""
    code = (value or "").strip().upper()[:1]
    return code if code in SEXES else ""


@dataclass(frozen=True)
class PatientResult:
    patient: PatientInfo
    eyes: tuple[EyeResult, ...]  # right first, then left, then unknown; only eyes with images
    outcome: Outcome
    referral: Referral
    screened_at: str  # ISO timestamp (local time, seconds)
    model: ModelInfo | None
    thresholds_version: str
    notes: tuple[str, ...] = ()

    def eye(self, eye: Eye) -> EyeResult | None:
        return next((e for e in self.eyes if e.eye is eye), None)

    @property
    def images(self) -> tuple[ImageResult, ...]:
        return tuple(i for e in self.eyes for i in e.images)

    def to_record(self) -> dict:
        """The serialised decision (``screen --json``): outcome, referral, model, and per eye
        its outcome and its images' :meth:`ImageResult.to_record`."""
        model = self.model
        return {
            "patient_id": self.patient.patient_id,
            "outcome": self.outcome.value,
            "decision": self.referral.headline,
            "action": self.referral.action,
            "interval": self.referral.interval,
            "urgency": self.referral.urgency,
            "notes": list(self.notes),
            "screened_at": self.screened_at,
            "model": {"name": model.name, "version": model.version, "sha256": model.sha256,
                      "manifest_sha256": model.manifest_sha256,
                      "referable_threshold": model.threshold,
                      "verified": model.verified} if model else None,
            "quality_thresholds_version": self.thresholds_version,
            "eyes": [{"eye": eye.eye.value, "outcome": eye.outcome.value, "grade": eye.grade,
                      "p_referable": eye.p_referable, "note": eye.note,
                      "images": [i.to_record() for i in eye.images]} for eye in self.eyes],
        }

    @classmethod
    def from_record(cls, record: dict, patient: PatientInfo | None = None) -> PatientResult:
        """Rebuild a decision from :meth:`to_record`'s form (pictures and heatmaps are not
        kept)."""
        m = record.get("model")
        model = None if m is None else ModelInfo(m["name"], m["version"], m["sha256"],
                                                 m["referable_threshold"],
                                                 m.get("manifest_sha256", ""),
                                                 bool(m.get("verified")))
        eyes = tuple(EyeResult(Eye(e["eye"]),
                               tuple(ImageResult.from_record(i, model) for i in e["images"]),
                               Outcome(e["outcome"]), e["grade"], e["p_referable"],
                               e.get("note", "")) for e in record["eyes"])
        outcome = Outcome(record["outcome"])
        referral = Referral(outcome, record["decision"], record["action"], record["interval"],
                            record["urgency"])
        return cls(patient or PatientInfo(patient_id=record["patient_id"]), eyes, outcome,
                   referral, record.get("screened_at", ""), model,
                   record.get("quality_thresholds_version", ""), tuple(record.get("notes", ())))
