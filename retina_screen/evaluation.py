"""Evaluate the shipped model through the application's own pipeline.

``retina-screen evaluate --data ../shared/data`` loads every evaluation photograph from disk and
screens it exactly as the app does (loader, field of view, quality gate, fundus gate,
preprocessing, ONNX model, operating threshold). Ungradable images are counted separately and
excluded from the accuracy figures (a screening device would send them for a retake). It
measures, with 95% patient-level bootstrap intervals:

- external: ``srahim_dev`` (a camera and population never seen in training), referable =
  ICDR >= 2 or maculopathy, as labelled by ophthalmologists;
- internal validation: the patient-level validation split of each training source (patients
  whose hash falls in the validation split; see ``training.cache.split_for``), referable =
  ICDR >= 2.

Figures: AUC for referable DR, sensitivity and specificity at the shipped threshold, quadratic
weighted kappa of the 5 grades, expected calibration error of P(referable), and the share of
ungradable images. Results go to a JSON file, and the model card's results section is rewritten
from it.
"""

from __future__ import annotations

import argparse
import csv
import datetime as dt
import json
import logging
from pathlib import Path

import numpy as np

from .engine import Screener
from .metrics import (
    bootstrap_ci,
    expected_calibration_error,
    quadratic_kappa,
    roc_auc,
    sensitivity_specificity,
)
from .results import Eye, ImageStatus
from .settings import Settings

log = logging.getLogger(__name__)

INTERNAL_SOURCES = ("aptos2019", "eyepacs_equalised", "eyepacs_raw")
CARD_START = "<!-- results:start -->"
CARD_END = "<!-- results:end -->"


def _rows(data: Path, source: str) -> list[dict[str, str]]:
    with open(data / source / "labels.csv", newline="") as handle:
        return list(csv.DictReader(handle))


def evaluation_sets(data: Path, external_only: bool) -> dict[str, list[dict]]:
    """Per set: rows with 'path', 'patient', 'grade', 'referable'."""
    from .training.cache import split_for

    sets: dict[str, list[dict]] = {"srahim_dev": [
        {"path": data / "srahim_dev" / r["file"], "patient": r["patient"],
         "grade": int(r["icdr_grade"]), "referable": r["referable"] == "1"}
        for r in _rows(data, "srahim_dev")]}
    if not external_only:
        for source in INTERNAL_SOURCES:
            rows = []
            for r in _rows(data, source):
                patient = r.get("patient") or r["image"]
                if split_for(source, patient) == "val":
                    grade = int(r["icdr_grade"])
                    rows.append({"path": data / source / r["file"], "patient": patient,
                                 "grade": grade, "referable": grade >= 2})
            sets[f"{source} (internal validation)"] = rows
    return sets


def _metric_block(referable: np.ndarray, p_ref: np.ndarray, flagged: np.ndarray,
                  grades: np.ndarray, predicted: np.ndarray, patients: np.ndarray,
                  resamples: int) -> dict:
    sens, spec = sensitivity_specificity(referable, flagged)

    def with_ci(value: float, function, *arrays) -> dict:  # noqa: ANN001
        low, high = bootstrap_ci(function, *arrays, resamples=resamples, groups=patients)
        return {"value": round(value, 4), "ci95": [round(low, 4), round(high, 4)]}

    return {
        "auc": with_ci(roc_auc(referable, p_ref), roc_auc, referable, p_ref),
        "sensitivity": with_ci(sens, lambda y, f: sensitivity_specificity(y, f)[0],
                               referable, flagged),
        "specificity": with_ci(spec, lambda y, f: sensitivity_specificity(y, f)[1],
                               referable, flagged),
        "kappa": with_ci(quadratic_kappa(grades, predicted), quadratic_kappa, grades,
                         predicted),
        "ece": with_ci(expected_calibration_error(referable, p_ref),
                       expected_calibration_error, referable, p_ref),
    }


def evaluate_set(screener: Screener, rows: list[dict], resamples: int) -> dict:
    """Screen every photograph of one set and measure."""
    p_ref, flagged, predicted, keep = [], [], [], []
    ungradable = errors = 0
    for index, row in enumerate(rows):
        result = screener.screen_image(row["path"], Eye.UNKNOWN, keep_display=False)
        if result.status is ImageStatus.ERROR:
            errors += 1
            continue
        if result.status is ImageStatus.UNGRADABLE:
            ungradable += 1
            continue
        keep.append(index)
        p_ref.append(result.grading.p_referable)
        flagged.append(result.grading.referable)
        predicted.append(result.grading.grade)
    kept = [rows[i] for i in keep]
    referable = np.array([r["referable"] for r in kept], dtype=bool)
    grades = np.array([r["grade"] for r in kept])
    patients = np.array([r["patient"] for r in kept])
    block = _metric_block(referable, np.array(p_ref), np.array(flagged, dtype=bool), grades,
                          np.array(predicted), patients, resamples)
    all_referable = np.array([r["referable"] for r in rows], dtype=bool)
    kept_set = set(keep)
    ungradable_ref = sum(1 for i, r in enumerate(rows) if i not in kept_set and r["referable"])
    return {
        "images": len(rows), "gradable": len(kept), "ungradable": ungradable, "errors": errors,
        "referable_gradable": int(referable.sum()),
        "referable_among_ungradable": ungradable_ref,
        "referable_all": int(all_referable.sum()),
        **block,
    }


def _fmt(metric: dict, percent: bool = False) -> str:
    value, (low, high) = metric["value"], metric["ci95"]
    if percent:
        return f"{value * 100:.1f}% ({low * 100:.1f}-{high * 100:.1f})"
    return f"{value:.3f} ({low:.3f}-{high:.3f})"


def results_markdown(report: dict) -> str:
    lines = [
        f"Measured by `retina-screen evaluate` on {report['date']} through the application's "
        f"pipeline (quality gate included), model sha256 `{report['model_sha256'][:12]}`, "
        f"threshold P(referable) >= {report['threshold']:.4f}. 95% intervals: patient-level "
        f"bootstrap, {report['bootstrap']} resamples. Ungradable images are excluded from the "
        "accuracy figures and counted in their own column.",
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
                   resamples: int = 2000) -> dict:
    screener = Screener(settings)
    manifest = screener.model.manifest
    report = {
        "date": dt.date.today().isoformat(),
        "model": manifest.name, "model_version": manifest.version,
        "model_sha256": manifest.sha256, "threshold": manifest.referable_threshold,
        "quality_thresholds_version": screener.thresholds.version, "bootstrap": resamples,
        "sets": {},
    }
    for name, rows in evaluation_sets(data, external_only).items():
        log.info("evaluating %s (%d images)", name, len(rows))
        report["sets"][name] = evaluate_set(screener, rows, resamples)
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
