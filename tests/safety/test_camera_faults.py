"""Camera faults on real photographs must never turn referable DR into "no referable DR".

The degradation suite (issue 13, section 1): every referable ``srahim_dev`` patient, both eyes
degraded the same way, under exposure and tone faults, an eyelash shadow, a cut or cropped field
of view, red-free and monochrome exports, each at several strengths and combined with JPEG
re-compression and downscaling. A faulty photo may be refused as ungradable (with its reason);
it must never let the patient read "no referable DR". Camera text burned into the black border
must not change the grade; text over the retina must be detected and reported.

Cost: photos are decoded once per module, one screener is shared, and a patient's second eye is
screened only when the first one cannot already decide that the patient is not "no referable DR"
(ungradable or referable); about 1,500 screenings in all.
"""

from __future__ import annotations

import csv
import logging
from collections.abc import Callable
from pathlib import Path

import degradation as d
import numpy as np
import pytest

from retina_screen.fov import find_fov
from retina_screen.loading import load_image
from retina_screen.preprocess import DECODE_MAX_SIDE
from retina_screen.results import Eye, ImageResult, ImageStatus, Outcome, PatientInfo

log = logging.getLogger(__name__)

Fault = Callable[[np.ndarray], np.ndarray]


class Patients:
    """srahim_dev decoded as the app decodes it, grouped by patient: {patient: [(eye, rgb)]}."""

    def __init__(self, srahim: Path) -> None:
        with open(srahim / "labels.csv", newline="") as handle:
            rows = list(csv.DictReader(handle))
        self.photos: dict[str, list[tuple[Eye, np.ndarray]]] = {}
        self.referable: set[str] = set()
        for row in rows:
            rgb = load_image(srahim / row["file"], max_side=DECODE_MAX_SIDE).pixels
            eye = Eye.LEFT if row["eye"] == "L" else Eye.RIGHT
            self.photos.setdefault(row["patient"], []).append((eye, rgb))
            if row["referable"] == "1":
                self.referable.add(row["patient"])

    def outcome(self, screener, patient: str, fault: Fault,  # noqa: ANN001
                early_exit: bool = True) -> tuple[Outcome, list[ImageResult]]:
        """The patient's outcome with ``fault`` applied to both eyes. With ``early_exit``, stop
        once an eye is ungradable or referable: the patient can then no longer be "no
        referable DR" (the outcome returned is then that eye's, enough for this suite)."""
        results = []
        for eye, rgb in self.photos[patient]:
            result = screener.screen_in_memory(fault(rgb), eye)
            results.append(result)
            if early_exit and (result.status is not ImageStatus.OK or result.grading.referable):
                return (Outcome.INSUFFICIENT if result.status is not ImageStatus.OK
                        else Outcome.REFER), results
        return screener.decide(PatientInfo(patient_id=patient), results).outcome, results


@pytest.fixture(scope="module")
def patients(srahim: Path) -> Patients:
    return Patients(srahim)


@pytest.fixture(scope="module")
def referred(patients: Patients, screener) -> list[str]:  # noqa: ANN001
    """Referable patients the engine refers on the undamaged photos (a patient the model
    misses on good photos is the model's miss, not a fault's; it is reported, not tested)."""
    kept = []
    for patient in sorted(patients.referable):
        outcome, _ = patients.outcome(screener, patient, lambda rgb: rgb, early_exit=False)
        if outcome.is_referral:
            kept.append(patient)
        else:
            log.warning("%s is referable but not referred on the undamaged photos", patient)
    assert len(kept) >= 0.9 * len(patients.referable)
    return kept


def _then(*steps: Fault) -> Fault:
    def apply(rgb: np.ndarray) -> np.ndarray:
        for step in steps:
            rgb = step(rgb)
        return rgb
    return apply


#: Faults the quality gate (qg-4) refuses or that leave the grade referable: each at the
#: strength reported in issue 13 where it is covered, and stronger.
FAULTS: dict[str, Fault] = {
    "under-exposed x0.35": lambda rgb: d.scale_exposure(rgb, 0.35),
    "over-exposed x2": lambda rgb: d.scale_exposure(rgb, 2.0),
    "gamma 2.2": lambda rgb: d.gamma(rgb, 2.2),
    "eyelash shadow 85% over 45%": lambda rgb: d.eyelash_shadow(rgb, 0.85, 0.45),
    "field cut 30% left": lambda rgb: d.cut_side(rgb, 0.3, "left"),
    "field cut 40% right": lambda rgb: d.cut_side(rgb, 0.4, "right"),
    "field cut 30% top by the frame": lambda rgb: d.cut_side(rgb, 0.3, "top", frame=True),
    "red-free, green channel only": d.green_only,
    "red-free as grey": d.green_as_grey,
    "monochrome": d.greyscale,
    # Known gaps until model 2.0.0 (448 px) and qg-2; none hides a referred patient since.
    "under-exposed x0.7": lambda rgb: d.scale_exposure(rgb, 0.7),
    "over-exposed x1.5": lambda rgb: d.scale_exposure(rgb, 1.5),
    "eyelash shadow 60% over 35%": lambda rgb: d.eyelash_shadow(rgb, 0.6, 0.35),
    "field cropped to 0.85 radius": lambda rgb: d.crop_field(rgb, 0.85),
    # Known gaps until qg-4: the dim-borderline rule sends a dark photo whose grade is just
    # below the threshold back for a retake.
    "gamma 1.6 + jpeg 40": lambda rgb: d.jpeg(d.gamma(rgb, 1.6), 40),
    "gamma 1.6 + 800 px + jpeg 40": lambda rgb: d.jpeg(d.downscale(d.gamma(rgb, 1.6), 800), 40),
    "under-exposed x0.5": lambda rgb: d.scale_exposure(rgb, 0.5),
    # Other strengths and combinations than those issue 13 reported.
    "gamma 1.4 + jpeg 40": lambda rgb: d.jpeg(d.gamma(rgb, 1.4), 40),
    "under-exposed x0.7, gamma 1.3": lambda rgb: d.gamma(d.scale_exposure(rgb, 0.7), 1.3),
    "under-exposed x0.5 + 800 px + jpeg 40":
        lambda rgb: d.jpeg(d.downscale(d.scale_exposure(rgb, 0.5), 800), 40),
    # Known gaps until model 2.3.0 (512 px) with qg-4's dim level for it.
    "under-exposed x0.6": lambda rgb: d.scale_exposure(rgb, 0.6),
    "under-exposed x0.6 + 640 px + jpeg 40":
        lambda rgb: d.jpeg(d.downscale(d.scale_exposure(rgb, 0.6), 640), 40),
    "field cropped to 0.7 radius": lambda rgb: d.crop_field(rgb, 0.7),
    # Clinic faults probed on 2026-12-01 (docs/quality.md, "Clinic faults probed after qg-19"):
    # they passed there; here they stay passing.
    "media opacity, veil 0.25": lambda rgb: d.media_opacity(rgb, 0.25),
    "media opacity, veil 0.4": lambda rgb: d.media_opacity(rgb, 0.4),
    "yellowed lens": d.yellowed_lens,
    "rim flare": d.rim_flare,
    "stray light from one side": d.haze_from_side,
    "small pupil": d.small_pupil,
    "rotated 15 degrees": lambda rgb: d.rotate(rgb, 15.0),
    "stretched 1.3 x wide": lambda rgb: d.stretch(rgb, 1.3, 1.0),
    "dust": d.dust,
    # Software colour changes probed on 2026-12-01 (docs/quality.md, qg-23): a full grey-world
    # balance is refused for its colours; partial ones and channels equalised in part are
    # refused or referred.
    "grey-world balance": d.grey_world,
    "grey-world balance, half": lambda rgb: d.grey_world(rgb, 0.5),
    "channels equalised, a quarter": lambda rgb: d.channels_equalised(rgb, 0.25),
    "channels equalised, half": lambda rgb: d.channels_equalised(rgb, 0.5),
}

#: Combined with re-compression and downscaling.
COMBINATIONS: dict[str, Fault] = {
    "jpeg 40": lambda rgb: d.jpeg(rgb, 40),
    "800 px + jpeg 40": lambda rgb: d.jpeg(d.downscale(rgb, 800), 40),
    "640 px": lambda rgb: d.downscale(rgb, 640),
    "640 px + jpeg 40": lambda rgb: d.jpeg(d.downscale(rgb, 640), 40),
}
COMBINED_FAULTS = ("gamma 2.2", "eyelash shadow 85% over 45%", "field cut 30% left",
                   "red-free, green channel only", "under-exposed x0.35")


def _hidden(patients: Patients, screener, referred: list[str],  # noqa: ANN001
            faults: dict[str, Fault]) -> tuple[list[tuple[str, str, list]], dict[str, dict]]:
    hidden = []
    counts: dict[str, dict[str, int]] = {}
    for name, fault in faults.items():
        tally = counts.setdefault(name, {})
        for patient in referred:
            outcome, results = patients.outcome(screener, patient, fault)
            tally[outcome.value] = tally.get(outcome.value, 0) + 1
            if outcome is Outcome.NO_REFERABLE:
                hidden.append((patient, name, [round(r.grading.p_referable, 2) for r in results]))
        log.info("%s: %s", name, tally)
    return hidden, counts


@pytest.mark.slow
@pytest.mark.timeout(600)
def test_camera_faults_never_read_no_referable(patients: Patients, screener,  # noqa: ANN001
                                               referred: list[str]) -> None:
    hidden, counts = _hidden(patients, screener, referred, FAULTS)
    assert not hidden, f"camera faults hid referable DR: {hidden}"
    # The gate must actually see the faults it exists for: not everything may pass as graded.
    for name in ("field cut 30% left", "field cut 40% right", "red-free, green channel only",
                 "red-free as grey", "monochrome", "under-exposed x0.35", "grey-world balance"):
        assert counts[name].get("insufficient", 0) >= 0.8 * len(referred), (name, counts[name])


@pytest.mark.slow
@pytest.mark.timeout(300)
@pytest.mark.xfail(strict=True, raises=AssertionError,
                   reason="known gap (docs/quality.md, qg-21: not built): a haze "
                   "of 0.3 with a blur of 0.15% leaves one referable patient's two eyes just "
                   "below the threshold, and no measured rule could send them back")
def test_known_gap_media_opacity_with_blur(patients: Patients, screener,  # noqa: ANN001
                                           referred: list[str]) -> None:
    hidden, _ = _hidden(patients, screener, referred, {
        "media opacity, veil 0.3 + blur 0.15%": lambda rgb: d.media_opacity(rgb, 0.3, 0.15)})
    assert not hidden, f"media opacity hid referable DR: {hidden}"


@pytest.mark.slow
@pytest.mark.timeout(300)
def test_a_histogram_equalised_photo_never_reads_no_referable_dr(
        patients: Patients, screener, referred: list[str]) -> None:  # noqa: ANN001
    """A viewer's auto-contrast that equalises the brightness histogram left both eyes of two
    referable patients below the threshold (a known gap kept as a strict expected failure
    since qg-22, which found no limit for it). Equalising the whole frame lifts its black
    surround to grey, so no corner of the frame is dark, and since qg-27 no grade below the
    threshold is taken from such a photograph (``partial_field``, docs/quality.md): it is
    referred or sent back."""
    hidden, counts = _hidden(patients, screener, referred, {
        "histogram equalised + jpeg 90": lambda rgb: d.jpeg(d.equalised(rgb), 90)})
    assert not hidden, f"histogram equalisation hid referable DR: {hidden}"
    assert counts["histogram equalised + jpeg 90"].get("insufficient", 0) >= 1  # sent back


@pytest.mark.slow
@pytest.mark.timeout(600)
def test_camera_faults_with_recompression_and_downscaling(patients: Patients, screener,  # noqa: ANN001
                                                          referred: list[str]) -> None:
    # Every fault with every combination would be 28 runs over all patients; each patient gets
    # one combination per fault instead, rotating, so every pair is covered by some patients.
    combos = list(COMBINATIONS.items())
    hidden = []
    for offset, fault_name in enumerate(COMBINED_FAULTS):
        for index, patient in enumerate(referred):
            combo_name, combo = combos[(index + offset) % len(combos)]
            outcome, results = patients.outcome(screener, patient,
                                                _then(FAULTS[fault_name], combo))
            if outcome is Outcome.NO_REFERABLE:
                hidden.append((patient, f"{fault_name} + {combo_name}",
                               [round(r.grading.p_referable, 2) for r in results]))
    assert not hidden, f"camera faults hid referable DR: {hidden}"


@pytest.mark.slow
@pytest.mark.timeout(300)
def test_border_text_does_not_change_the_grade(patients: Patients, screener) -> None:  # noqa: ANN001
    others = sorted(set(patients.photos) - patients.referable)
    plain = with_text = 0
    moved = []
    for patient in others:
        outcome, _ = patients.outcome(screener, patient, lambda rgb: rgb, early_exit=False)
        plain += outcome.is_referral
        outcome, _ = patients.outcome(screener, patient, d.border_text, early_exit=False)
        with_text += outcome.is_referral
        for _, rgb in patients.photos[patient]:
            before, after = find_fov(rgb), find_fov(d.border_text(rgb))
            if (abs(before.centre_x - after.centre_x) > 0.02 * before.radius
                    or abs(before.centre_y - after.centre_y) > 0.02 * before.radius
                    or abs(before.radius - after.radius) > 0.02 * before.radius):
                moved.append((patient, before.box, after.box))
    assert not moved, f"border text moved the field of view: {moved}"
    assert abs(with_text - plain) <= 2, (plain, with_text)


@pytest.mark.slow
@pytest.mark.timeout(300)
def test_border_text_never_reaches_the_model_input(patients: Patients) -> None:
    from retina_screen.preprocess import screening_crop

    for patient in sorted(patients.photos)[:10]:
        for _, rgb in patients.photos[patient]:
            plain = screening_crop(rgb).image.astype(np.int16)
            text = screening_crop(d.border_text(rgb)).image.astype(np.int16)
            # Identical crops: nothing of the text survives (same circle, black outside it).
            assert np.abs(plain - text).max() <= 2, patient


@pytest.mark.slow
@pytest.mark.timeout(300)
def test_text_over_the_retina_is_detected_and_reported(patients: Patients,  # noqa: ANN001
                                                       screener) -> None:
    missed = []
    for patient in sorted(patients.photos)[:12]:
        eye, rgb = patients.photos[patient][0]
        for label, image in (("white", d.text_inside(rgb)),
                             ("white, 640 px jpeg 40", d.jpeg(d.downscale(d.text_inside(rgb),
                                                                          640), 40))):
            result = screener.screen_in_memory(image, eye)
            if result.status is not ImageStatus.UNGRADABLE or not any(
                    "text" in reason for reason in result.reasons):
                missed.append((patient, label, result.status.value, result.reasons))
    assert not missed, missed


@pytest.mark.slow
@pytest.mark.timeout(300)
def test_new_checks_report_value_threshold_and_action(patients: Patients,  # noqa: ANN001
                                                      screener) -> None:
    eye, rgb = patients.photos[sorted(patients.photos)[0]][0]
    expected = {"field cut 40% right": ("field_of_view", "retake"),
                "red-free, green channel only": ("colour", "colour"),
                "eyelash shadow 85% over 45%": ("shadow", "retake")}
    for fault, (check_name, action) in expected.items():
        result = screener.screen_in_memory(FAULTS[fault](rgb), eye)
        assert result.status is ImageStatus.UNGRADABLE, fault
        failed = [c for c in result.quality.checks if not c.passed]
        assert any(c.name.startswith(check_name) and action in c.reason for c in failed), (
            fault, failed)
        for check in failed:
            assert np.isfinite(check.value) and np.isfinite(check.threshold) and check.reason
