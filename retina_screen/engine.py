"""The screening engine: photograph in, :class:`ImageResult` / :class:`PatientResult` out.

One :class:`Screener` per process loads the model once and is safe to call from several
threads (onnxruntime sessions are thread-safe; everything else is pure).
"""

from __future__ import annotations

import datetime as dt
import logging
from collections.abc import Iterable, Sequence
from pathlib import Path

import cv2
import numpy as np

from .decision import ReferralTable, combine_patient, load_referral_table
from .errors import ImageLoadError
from .fov import FovCrop
from .inference import GradingModel
from .laterality import optic_disc_side
from .likeness import photo_signature
from .loading import LoadedImage, load_image
from .preprocess import DECODE_MAX_SIDE, model_input, screening_crop
from .quality import (
    WORKING_SIDE,
    QualityMeasures,
    Thresholds,
    assess,
    borderline_check,
    load_thresholds,
    measure,
    with_check,
)
from .results import (
    Eye,
    Grading,
    ImageResult,
    ImageStatus,
    ModelInfo,
    PatientInfo,
    PatientResult,
    QualityReport,
)
from .settings import Settings, load_settings

log = logging.getLogger(__name__)

__all__ = ["DECODE_MAX_SIDE", "Screener", "now_iso"]

DISPLAY_SIDE = 512


def now_iso() -> str:
    return dt.datetime.now().astimezone().replace(microsecond=0).isoformat()


class Screener:
    """Loads the model, quality thresholds and referral table once; screens photographs."""

    def __init__(self, settings: Settings | None = None, model: GradingModel | None = None,
                 threads: int | None = None, borderline_rules: bool = True) -> None:
        """``borderline_rules=False`` leaves out the quality gate's borderline retake rules
        (dim, small), which depend on the referral threshold: only for choosing that threshold
        (``training/export.py``) and for measuring the rules themselves (benchmarks)."""
        self.settings = settings or load_settings()
        self.model = model or GradingModel(
            self.settings.model, threads=threads,
            allow_unverified=self.settings.allow_unverified_model)
        self.thresholds: Thresholds = load_thresholds()
        self.referral_table: ReferralTable = load_referral_table(self.settings.referral_table)
        self.borderline_rules = borderline_rules

    @property
    def model_info(self) -> ModelInfo:
        return self.model.info

    def screen_image(self, path: Path | str, eye: Eye = Eye.UNKNOWN, source: str | None = None,
                     keep_display: bool = True) -> ImageResult:
        """Load and screen one file. Never raises for a bad file: status ERROR with a reason."""
        label = source if source is not None else str(path)
        try:
            loaded = load_image(path, max_side=DECODE_MAX_SIDE)
            return self.screen_loaded(loaded, label, eye, keep_display)
        except ImageLoadError as exc:
            return ImageResult(label, eye, ImageStatus.ERROR, error=str(exc),
                               model=self.model_info)
        except Exception as exc:  # a decoder or measure bug must not stop the patient's screening
            log.exception("unexpected failure screening an image")
            return ImageResult(label, eye, ImageStatus.ERROR,
                               error=f"internal error while screening ({type(exc).__name__})",
                               model=self.model_info)

    def screen_in_memory(self, photo: np.ndarray | LoadedImage, eye: Eye = Eye.UNKNOWN,
                         source: str = "photo in memory") -> ImageResult:
        """Screen a photograph held in memory: RGB uint8 pixels (see
        :meth:`LoadedImage.from_pixels`) or one already loaded; no display copy is kept."""
        loaded = photo if isinstance(photo, LoadedImage) else LoadedImage.from_pixels(photo)
        return self.screen_loaded(loaded, source, eye, keep_display=False)

    def quality_gate(self, loaded: LoadedImage) -> tuple[FovCrop, QualityMeasures, QualityReport]:
        """The screening crop of a decoded photograph, its quality measures and the gate's
        verdict before grading (the borderline rules, which need the grade, come after)."""
        crop = screening_crop(loaded.pixels)
        gate = self.model.manifest.gate
        measures = measure(crop, self.model.p_fundus(crop.image), loaded.jpeg_quality,
                           loaded.earlier_jpeg_quality, loaded.palette_colours,
                           loaded.photographs)
        return crop, measures, assess(measures, self.thresholds, gate.threshold if gate else None)

    def screen_loaded(self, loaded: LoadedImage, source: str, eye: Eye = Eye.UNKNOWN,
                      keep_display: bool = True) -> ImageResult:
        """Quality gate, then grading if gradable, of an already decoded photograph."""
        crop, measures, quality = self.quality_gate(loaded)
        display = crop.image if keep_display else None
        if display is not None and DISPLAY_SIDE != WORKING_SIDE:
            display = cv2.resize(display, (DISPLAY_SIDE, DISPLAY_SIDE),
                                 interpolation=cv2.INTER_AREA)
        common = dict(source=source, eye=eye, sha256=loaded.sha256, quality=quality,
                      width=loaded.original_width, height=loaded.original_height,
                      display_image=display, model=self.model_info,
                      colour_profile=loaded.colour_profile or "",
                      signature=photo_signature(crop.image), taken=loaded.taken or "")
        if not quality.gradable:
            return ImageResult(status=ImageStatus.UNGRADABLE, **common)
        probabilities, heatmaps = self.model.predict(model_input(crop.image, self.model.spec)[None])
        grading = self._grading(probabilities[0], heatmaps)
        rules = self.thresholds.borderline if self.borderline_rules else ()
        checks = [borderline_check(measures, grading.p_referable,
                                   self.model.manifest.referable_threshold, rule)
                  for rule in rules]
        for check in checks:
            if check is not None:
                common["quality"] = with_check(common["quality"], check)
        if any(check is not None and not check.passed for check in checks):
            # the checks record P(referable) as their value
            return ImageResult(status=ImageStatus.UNGRADABLE, **common)
        return ImageResult(status=ImageStatus.OK, grading=grading,
                           disc_side=optic_disc_side(crop.image).side, **common)

    def _grading(self, probabilities: np.ndarray, heatmaps: np.ndarray | None) -> Grading:
        p = tuple(float(v) for v in probabilities)
        p_referable = float(sum(p[2:]))
        return Grading(
            probabilities=p,  # type: ignore[arg-type]
            p_referable=p_referable,
            referable=p_referable >= self.model.manifest.referable_threshold,
            heatmap=None if heatmaps is None else heatmaps[0],
        )

    def decide(self, patient: PatientInfo, images: Iterable[ImageResult],
               screened_at: str | None = None) -> PatientResult:
        """Combine image results into the patient's outcome (no I/O)."""
        if not patient.screening_date:
            patient = PatientInfo(**{**patient.__dict__,
                                     "screening_date": dt.date.today().isoformat()})
        return combine_patient(patient, tuple(images), self.referral_table,
                               screened_at or now_iso(), self.model_info,
                               self.thresholds.version)

    def screen_patient(self, photos: Sequence[tuple[Path | str, Eye]],
                       patient: PatientInfo | None = None) -> PatientResult:
        """Screen one patient's photographs (path, eye) and decide."""
        results = [self.screen_image(path, eye) for path, eye in photos]
        return self.decide(patient or PatientInfo(), results)
