"""The patient being screened: its photographs, their results and the engine's decision.

No screening logic lives here: photographs are screened by :meth:`Screener.screen_image` on a
worker thread, and the patient outcome always comes from :meth:`Screener.decide`. This object
only keeps track of which photo belongs to which eye and re-asks the engine when that changes.
"""

from __future__ import annotations

import dataclasses
import logging
import time
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from PySide6.QtCore import QCoreApplication, QObject, Signal

from ..decision import person_of
from ..loading import DicomInfo, read_dicom_info
from ..naming import parse_stem
from ..results import Eye, ImageResult, ImageStatus, PatientInfo, PatientResult
from .i18n import engine_text
from .workers import run_task

if TYPE_CHECKING:
    from ..engine import Screener

translate = QCoreApplication.translate  # pyside6-lupdate reads translate("context", "text")
log = logging.getLogger(__name__)


@dataclass
class Photo:
    """One photograph added to the patient."""

    id: int
    path: Path
    eye: Eye
    eye_source: str  # "file name", "DICOM", "slot", "operator", "unknown"
    result: ImageResult | None = None
    dicom: DicomInfo | None = None
    error: str = ""  # why it could not be screened at all (model unavailable)
    #: Not screened because the grading model is unavailable (the file itself may be fine).
    no_model: bool = False
    added_at: float = 0.0
    screened_in: float | None = None  # seconds from being added to its result

    @property
    def pending(self) -> bool:
        return self.result is None and not self.error

    @property
    def name(self) -> str:
        return self.path.name


def screen_photo(screener: Screener, path: Path, eye: Eye) -> tuple[ImageResult, DicomInfo | None]:
    """Worker-thread job: the engine's result for one file, plus its DICOM tags if any."""
    return screener.screen_image(path, eye), read_dicom_info(path)


def guess_eye(path: Path) -> Eye:
    """The eye suggested by the file name (``Patient006_L.jpg`` is a left eye)."""
    return parse_stem(path.stem)[1]


class PatientSession(QObject):
    """Photos of one patient and the engine's decision for them."""

    photoAdded = Signal(int)  # noqa: N815
    photoChanged = Signal(int)  # noqa: N815
    photoRemoved = Signal(int)  # noqa: N815
    cleared = Signal()
    resultChanged = Signal(object)  # noqa: N815  PatientResult or None
    dicomFound = Signal(object)  # noqa: N815  DicomInfo
    notice = Signal(str)
    busyChanged = Signal(bool)  # noqa: N815

    def __init__(self, parent: QObject | None = None) -> None:
        super().__init__(parent)
        self.screener: Screener | None = None
        self.model_problem = ""
        self.photos: dict[int, Photo] = {}
        self.patient = PatientInfo()
        self.result: PatientResult | None = None
        self.saved = True
        self._next_id = 1
        self._screened_at: str | None = None
        self._busy = False
        self._busy_count = 0

    # engine ------------------------------------------------------------------------------------
    def set_screener(self, screener: Screener | None, problem: str = "") -> None:
        """Called once the model is loaded (or failed to load, with ``problem`` set)."""
        self.screener = screener
        self.model_problem = problem
        for photo in self.photos.values():
            if photo.pending:
                if screener is None:
                    photo.error = problem or "the grading model is not available"
                    photo.no_model = True
                    self.photoChanged.emit(photo.id)
                else:
                    self._start(photo)
        self._update_busy()

    # photos ------------------------------------------------------------------------------------
    @property
    def pending(self) -> int:
        return sum(1 for p in self.photos.values() if p.pending)

    def add_photos(self, paths: list[Path], slot_eye: Eye | None = None) -> list[int]:
        """Add photographs; each eye comes from the file name, else from the slot dropped on."""
        ids = []
        moved: list[tuple[str, Eye]] = []
        for path in paths:
            path = Path(path)
            eye, source = guess_eye(path), "file name"
            if eye is Eye.UNKNOWN:
                eye, source = (slot_eye, "slot") if slot_eye else (Eye.UNKNOWN, "unknown")
            elif slot_eye is not None and slot_eye is not Eye.UNKNOWN and eye is not slot_eye:
                moved.append((path.name, eye))
            photo = Photo(self._next_id, path, eye, source, added_at=time.perf_counter())
            self._next_id += 1
            self.photos[photo.id] = photo
            ids.append(photo.id)
            self.photoAdded.emit(photo.id)
            if self.screener is not None:
                self._start(photo)
            elif self.model_problem:
                photo.error = self.model_problem
                photo.no_model = True
                self.photoChanged.emit(photo.id)
        log.info("%d photograph(s) added", len(ids))
        if len(moved) == 1:  # one message for the drop, not one per photograph
            name, eye = moved[0]
            self.notice.emit(translate("PatientSession", "{0} was placed under {1} because of "
                                       "its file name. Change its eye if this is wrong.")
                             .format(name, engine_text(eye.label)))
        elif moved:
            self.notice.emit(translate("PatientSession", "{0} photographs were placed under the "
                                       "eye their file names give, not the box they were "
                                       "dropped on. Change an eye if it is wrong.")
                             .format(len(moved)))
        self._photos_changed()
        return ids

    def set_eye(self, photo_id: int, eye: Eye) -> None:
        """The operator moved a photo to another eye: no new screening, a new decision."""
        photo = self.photos.get(photo_id)
        if photo is None or photo.eye is eye:
            return
        photo.eye, photo.eye_source = eye, "operator"
        if photo.result is not None:
            photo.result = dataclasses.replace(photo.result, eye=eye)
        self.photoChanged.emit(photo_id)
        self._photos_changed()

    def remove(self, photo_id: int) -> None:
        if self.photos.pop(photo_id, None) is not None:
            self.photoRemoved.emit(photo_id)
            self._photos_changed()

    def clear(self) -> None:
        """Forget everything (results of photos still being screened are ignored)."""
        self.photos.clear()
        self.patient = PatientInfo()
        self.result = None
        self.saved = True
        self._screened_at = None
        self.cleared.emit()
        self.resultChanged.emit(None)
        self._update_busy()

    def set_patient(self, info: PatientInfo) -> None:
        """New patient details from the form: the same decision, with the new details."""
        if info == self.patient:
            return
        self.patient = info
        if self.result is not None:
            self.saved = False  # a saved or printed report no longer matches the details
            self._decide()

    def mark_saved(self) -> None:
        self.saved = True

    @property
    def unsaved(self) -> bool:
        """A screening result exists that has not been saved or printed."""
        return self.result is not None and not self.saved

    # internals ---------------------------------------------------------------------------------
    def _start(self, photo: Photo) -> None:
        assert self.screener is not None
        photo_id, screener = photo.id, self.screener

        def done(value: object, error: BaseException | None) -> None:
            self._screened(photo_id, value, error)

        run_task(screen_photo, screener, photo.path, photo.eye, on_done=done)
        self._update_busy()

    def _screened(self, photo_id: int, value: object, error: BaseException | None) -> None:
        photo = self.photos.get(photo_id)
        if photo is None:  # removed or cleared meanwhile
            self._update_busy()
            return
        if error is not None:
            from .messages import plain_message

            photo.error = plain_message(error, "screen this photograph")
        else:
            result, dicom = value  # type: ignore[misc]
            photo.dicom = dicom
            if dicom is not None and dicom.laterality and photo.eye_source != "operator":
                eye = Eye(dicom.laterality)
                if eye is not photo.eye:
                    photo.eye, photo.eye_source = eye, "DICOM"
            photo.result = (result if result.eye is photo.eye
                            else dataclasses.replace(result, eye=photo.eye))
            photo.screened_in = time.perf_counter() - photo.added_at
            log.info("photograph screened: %s in %.2f s", result.status.value, photo.screened_in)
            if dicom is not None:
                self.dicomFound.emit(dicom)
        self.photoChanged.emit(photo_id)
        self._photos_changed()

    def _photos_changed(self) -> None:
        self._update_busy()
        self._screened_at = None
        if not self.photos:
            if self.result is not None:
                self.result = None
                self.resultChanged.emit(None)
            return
        if self.pending or self.screener is None:
            return
        self.saved = False
        self._decide()

    def _decide(self) -> None:
        if self.screener is None:
            return
        # A DICOM file's own patient ID goes with its result: the decision compares it with
        # the form's (another patient's files never read "no referable DR").
        results = [dataclasses.replace(p.result, file_patient_id=p.dicom.patient_id or "",
                                       person=person_of(p.dicom.patient_name,
                                                        p.dicom.birth_date, p.dicom.sex))
                   if p.dicom is not None else p.result
                   for p in self.photos.values() if p.result is not None]
        results += [self._unscreenable(p) for p in self.photos.values()
                    if p.result is None and p.error]
        if not results:
            return
        self.result = self.screener.decide(self.patient, results, screened_at=self._screened_at)
        self._screened_at = self.result.screened_at
        # The decision marks a photograph that is a copy of the other eye's: its card says so.
        marks = {(i.source, i.eye): i.copy_of for i in self.result.images}
        for photo in self.photos.values():
            result = photo.result
            if result is not None and marks.get((result.source, result.eye), "") != result.copy_of:
                photo.result = dataclasses.replace(
                    result, copy_of=marks.get((result.source, result.eye), ""))
                self.photoChanged.emit(photo.id)
        log.info("patient decision: %s", self.result.outcome.value)
        self.resultChanged.emit(self.result)

    @staticmethod
    def _unscreenable(photo: Photo) -> ImageResult:
        return ImageResult(str(photo.path), photo.eye, ImageStatus.ERROR, error=photo.error)

    def _update_busy(self) -> None:
        """Say when screening starts, ends, or its count of photographs changes (the banner
        said "1 photograph being checked" while 12 were: found 2026-12-02)."""
        count = self.pending if self.screener is not None else 0
        if count != self._busy_count:
            self._busy_count = count
            self._busy = count > 0
            self.busyChanged.emit(self._busy)
