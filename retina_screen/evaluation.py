"""Evaluate the shipped model through the application's own pipeline.

``retina-screen evaluate --data ../shared/data`` loads every evaluation photograph from disk and
screens it exactly as the app does (loader, field of view, quality gate, fundus gate, the one
model-input path, ONNX model, operating threshold). Ungradable images are counted separately and
excluded from the per-photo accuracy figures (a screening device would send them for a retake).

Sets:

- external: ``srahim_dev`` (a camera and population never seen in training; referable = ICDR
  >= 2 or maculopathy, ophthalmologists) and ``messidor2_dev`` (a European screening programme,
  adjudicated grades; referable = ICDR >= 2 or macular oedema). Neither is ever used for
  training, model selection or the threshold;
- internal validation: the validation split of each training source (patients whose hash falls
  in the validation split, see ``labels.split_for``; IDRiD's official test split),
  referable = ICDR >= 2 (or IDRiD's macular oedema within one disc diameter).

Per photo: AUC for referable DR, sensitivity and specificity at the shipped threshold, quadratic
weighted kappa, expected calibration error of P(referable), share ungradable; 95% bootstrap
intervals resampling patients (Messidor-2: its groups of photos that may share a patient).
Per patient, for the sets that record both eyes: the application's own outcome
(:meth:`Screener.decide`): sensitivity and specificity of "refer" against "no referable DR"
among the patients it decided, the share it called "images insufficient", and the AUC of the
patient score (the highest P(referable) of the patient's gradable photos).
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import logging
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from .engine import Screener
from .labels import (
    EXTERNAL_SOURCES,
    TRAINING_SOURCES,
    read_labels,
    record_referable,
    record_split,
)
from .metrics import (
    bootstrap_ci,
    expected_calibration_error,
    quadratic_kappa,
    roc_auc,
    sensitivity_specificity,
)
from .results import Eye, ImageResult, ImageStatus, Outcome, PatientInfo
from .settings import Settings

log = logging.getLogger(__name__)

CARD_START = "<!-- results:start -->"
CARD_END = "<!-- results:end -->"
_EYES = {"l": Eye.LEFT, "left": Eye.LEFT, "os": Eye.LEFT, "r": Eye.RIGHT, "right": Eye.RIGHT,
         "od": Eye.RIGHT}


@dataclass(frozen=True)
class EvaluationPhoto:
    """One labelled photograph of an evaluation set."""

    path: Path
    patient: str
    eye: Eye
    grade: int
    referable: bool


def _photo(data: Path, source: str, row: dict[str, str]) -> EvaluationPhoto:
    patient = row.get("patient") or row.get("group") or row["image"]
    return EvaluationPhoto(data / source / row["file"], patient,
                           _EYES.get(row.get("eye", "").lower(), Eye.UNKNOWN),
                           int(row["icdr_grade"]), record_referable(row))


def evaluation_sets(data: Path, external_only: bool = False,
                    sources: tuple[str, ...] | None = None) -> dict[str, list[EvaluationPhoto]]:
    """The evaluation sets by name: external sets whole, internal ones their validation split."""
    sets: dict[str, list[EvaluationPhoto]] = {}
    for source in EXTERNAL_SOURCES:
        if sources is None or source in sources:
            sets[source] = [_photo(data, source, r) for r in read_labels(data, source)]
    if external_only:
        return sets
    for source in TRAINING_SOURCES:
        if sources is not None and source not in sources:
            continue
        sets[f"{source} (internal validation)"] = [
            _photo(data, source, r) for r in read_labels(data, source)
            if record_split(source, r) == "val"]
    return sets


def screen_set(screener: Screener, photos: list[EvaluationPhoto]) -> list[ImageResult]:
    """Screen every photograph of a set through the app's pipeline."""
    return [screener.screen_image(p.path, p.eye, keep_display=False) for p in photos]


def _with_ci(value: float, function: Callable[..., float], arrays: tuple, groups: np.ndarray,
             resamples: int) -> dict:
    if len(arrays[0]) == 0:  # no gradable photo in the set: nothing to measure
        return {"value": None, "ci95": [None, None]}
    low, high = bootstrap_ci(function, *arrays, resamples=resamples, groups=groups)
    return {"value": round(value, 4), "ci95": [round(low, 4), round(high, 4)]}


def photo_metrics(photos: list[EvaluationPhoto], results: list[ImageResult],
                  resamples: int) -> dict:
    """Per-photo figures over the gradable photographs."""
    kept = [i for i, r in enumerate(results) if r.status is ImageStatus.OK]
    errors = sum(1 for r in results if r.status is ImageStatus.ERROR)
    referable = np.array([photos[i].referable for i in kept], dtype=bool)
    p_ref = np.array([results[i].grading.p_referable for i in kept])
    flagged = np.array([results[i].grading.referable for i in kept], dtype=bool)
    grades = np.array([photos[i].grade for i in kept])
    predicted = np.array([results[i].grading.grade for i in kept])
    groups = np.array([photos[i].patient for i in kept])
    sens, spec = sensitivity_specificity(referable, flagged)
    kept_set = set(kept)
    return {
        "images": len(photos), "gradable": len(kept),
        "ungradable": len(photos) - len(kept) - errors, "errors": errors,
        "referable_gradable": int(referable.sum()),
        "referable_among_ungradable": sum(1 for i, p in enumerate(photos)
                                          if i not in kept_set and p.referable),
        "referable_all": sum(1 for p in photos if p.referable),
        "auc": _with_ci(roc_auc(referable, p_ref), roc_auc, (referable, p_ref), groups,
                        resamples),
        "sensitivity": _with_ci(sens, lambda y, f: sensitivity_specificity(y, f)[0],
                                (referable, flagged), groups, resamples),
        "specificity": _with_ci(spec, lambda y, f: sensitivity_specificity(y, f)[1],
                                (referable, flagged), groups, resamples),
        "kappa": _with_ci(quadratic_kappa(grades, predicted), quadratic_kappa,
                          (grades, predicted), groups, resamples),
        "ece": _with_ci(expected_calibration_error(referable, p_ref),
                        expected_calibration_error, (referable, p_ref), groups, resamples),
    }


def patient_metrics(screener: Screener, photos: list[EvaluationPhoto],
                    results: list[ImageResult], resamples: int) -> dict | None:
    """Per-patient figures from the app's own patient outcome; None without eye labels."""
    if any(p.eye is Eye.UNKNOWN for p in photos):
        return None
    by_patient: dict[str, list[int]] = {}
    for index, photo in enumerate(photos):
        by_patient.setdefault(photo.patient, []).append(index)
    truth, outcome_refer, decided, score, scored = [], [], [], [], []
    insufficient = 0
    for patient, members in by_patient.items():
        decision = screener.decide(PatientInfo(patient_id=patient),
                                   [results[i] for i in members], screened_at="evaluation")
        referable = any(photos[i].referable for i in members)
        gradable = [results[i].grading.p_referable for i in members
                    if results[i].status is ImageStatus.OK]
        if gradable:
            score.append(max(gradable))
            scored.append(referable)
        if decision.outcome is Outcome.INSUFFICIENT:
            insufficient += 1
            continue
        truth.append(referable)
        outcome_refer.append(decision.outcome.is_referral)
        decided.append(patient)
    truth_a = np.array(truth, dtype=bool)
    refer_a = np.array(outcome_refer, dtype=bool)
    score_a, scored_a = np.array(score), np.array(scored, dtype=bool)
    sens, spec = sensitivity_specificity(truth_a, refer_a)
    ids = np.arange(len(truth_a))
    return {
        "patients": len(by_patient), "insufficient": insufficient,
        "referable_decided": int(truth_a.sum()),
        "auc": _with_ci(roc_auc(scored_a, score_a), roc_auc, (scored_a, score_a),
                        np.arange(len(scored_a)), resamples),
        "sensitivity": _with_ci(sens, lambda y, f: sensitivity_specificity(y, f)[0],
                                (truth_a, refer_a), ids, resamples),
        "specificity": _with_ci(spec, lambda y, f: sensitivity_specificity(y, f)[1],
                                (truth_a, refer_a), ids, resamples),
    }


def evaluate_set(screener: Screener, photos: list[EvaluationPhoto], resamples: int) -> dict:
    """Screen every photograph of one set and measure it per photo and per patient."""
    results = screen_set(screener, photos)
    block = photo_metrics(photos, results, resamples)
    patients = patient_metrics(screener, photos, results, resamples)
    if patients is not None:
        block["per_patient"] = patients
    return block


def _fmt(metric: dict, percent: bool = False) -> str:
    value, (low, high) = metric["value"], metric["ci95"]
    if value is None:
        return "n/a"
    if percent:
        return f"{value * 100:.1f}% ({low * 100:.1f}-{high * 100:.1f})"
    return f"{value:.3f} ({low:.3f}-{high:.3f})"


def results_markdown(report: dict) -> str:
    lines = [
        f"Measured by `retina-screen evaluate` on {report['date']} through the application's "
        f"pipeline (quality gate included), model sha256 `{report['model_sha256'][:12]}`, "
        f"threshold P(referable) >= {report['threshold']:.4f}. 95% intervals: patient-level "
        f"bootstrap, {report['bootstrap']} resamples. Ungradable images are excluded from the "
        "per-photo accuracy figures and counted in their own column.",
        "",
        "Per photograph:",
        "",
        "| set | images | ungradable | referable (gradable) | AUC | sensitivity | specificity "
        "| quadratic kappa | ECE |",
        "|---|---|---|---|---|---|---|---|---|",
    ]
    for name, s in report["sets"].items():
        lines.append(
            f"| {name} | {s['images']} | {s['ungradable'] + s['errors']} "
            f"({(s['ungradable'] + s['errors']) / max(s['images'], 1) * 100:.0f}%) | "
            f"{s['referable_gradable']} | {_fmt(s['auc'])} | {_fmt(s['sensitivity'], True)} | "
            f"{_fmt(s['specificity'], True)} | {_fmt(s['kappa'])} | {_fmt(s['ece'])} |")
    per_patient = {name: s["per_patient"] for name, s in report["sets"].items()
                   if "per_patient" in s}
    if per_patient:
        lines += [
            "",
            "Per patient (the application's own outcome; sensitivity and specificity of "
            "\"refer\" among the patients it decided; AUC of the highest P(referable) of the "
            "patient's gradable photos):",
            "",
            "| set | patients | images insufficient | referable (decided) | AUC | sensitivity "
            "| specificity |",
            "|---|---|---|---|---|---|---|",
        ]
        for name, p in per_patient.items():
            lines.append(
                f"| {name} | {p['patients']} | {p['insufficient']} "
                f"({p['insufficient'] / max(p['patients'], 1) * 100:.0f}%) | "
                f"{p['referable_decided']} | {_fmt(p['auc'])} | {_fmt(p['sensitivity'], True)} | "
                f"{_fmt(p['specificity'], True)} |")
    return "\n".join(lines)


def update_model_card(card: Path, report: dict) -> None:
    text = card.read_text(encoding="utf-8")
    if CARD_START not in text or CARD_END not in text:
        log.warning("model card has no results markers; not updated")
        return
    head, rest = text.split(CARD_START, 1)
    _, tail = rest.split(CARD_END, 1)
    card.write_text(f"{head}{CARD_START}\n{results_markdown(report)}\n{CARD_END}{tail}",
                    encoding="utf-8")


def run_evaluation(settings: Settings, data: Path, external_only: bool = False,
                   resamples: int = 2000, sources: tuple[str, ...] | None = None) -> dict:
    screener = Screener(settings)
    manifest = screener.model.manifest
    report = {
        "date": dt.date.today().isoformat(),
        "model": manifest.name, "model_version": manifest.version,
        "model_sha256": manifest.sha256, "threshold": manifest.referable_threshold,
        "quality_thresholds_version": screener.thresholds.version, "bootstrap": resamples,
        "sets": {},
    }
    for name, photos in evaluation_sets(data, external_only, sources).items():
        log.info("evaluating %s (%d images)", name, len(photos))
        report["sets"][name] = evaluate_set(screener, photos, resamples)
    return report


def main(args: argparse.Namespace, settings: Settings) -> int:
    report = run_evaluation(settings, Path(args.data), args.external_only, args.bootstrap)
    out = Path(args.out)
    if not args.external_only:
        out.write_text(json.dumps(report, indent=2) + "\n", encoding="utf-8")
        card = Path(settings.model).with_suffix(".md")
        if card.is_file():
            update_model_card(card, report)
    print(results_markdown(report))
    return 0
