"""Screening metrics in plain numpy (no scikit-learn needed at run time)."""

from __future__ import annotations

from collections.abc import Callable

import numpy as np


def roc_auc(positive: np.ndarray, score: np.ndarray) -> float:
    """Area under the ROC curve (Mann-Whitney, ties counted half). NaN if one class is absent."""
    positive = np.asarray(positive, dtype=bool)
    score = np.asarray(score, dtype=np.float64)
    n_pos, n_neg = int(positive.sum()), int((~positive).sum())
    if n_pos == 0 or n_neg == 0:
        return float("nan")
    _, inverse, counts = np.unique(score, return_inverse=True, return_counts=True)
    # Average rank of each distinct score (1-based), so ties count half.
    average_rank = np.cumsum(counts) - (counts - 1) / 2.0
    ranks = average_rank[inverse]
    return float((ranks[positive].sum() - n_pos * (n_pos + 1) / 2) / (n_pos * n_neg))


def quadratic_kappa(truth: np.ndarray, predicted: np.ndarray, classes: int = 5) -> float:
    """Quadratic weighted Cohen's kappa between two integer gradings."""
    truth = np.asarray(truth, dtype=int)
    predicted = np.asarray(predicted, dtype=int)
    observed = np.zeros((classes, classes))
    np.add.at(observed, (truth, predicted), 1)
    expected = np.outer(observed.sum(1), observed.sum(0)) / max(observed.sum(), 1)
    i, j = np.indices((classes, classes))
    weights = (i - j) ** 2 / (classes - 1) ** 2
    denominator = (weights * expected).sum()
    return float(1 - (weights * observed).sum() / denominator) if denominator else float("nan")


def sensitivity_specificity(positive: np.ndarray, flagged: np.ndarray) -> tuple[float, float]:
    positive = np.asarray(positive, dtype=bool)
    flagged = np.asarray(flagged, dtype=bool)
    sensitivity = (flagged & positive).sum() / max(positive.sum(), 1)
    specificity = (~flagged & ~positive).sum() / max((~positive).sum(), 1)
    return float(sensitivity), float(specificity)


def expected_calibration_error(positive: np.ndarray, probability: np.ndarray,
                               bins: int = 10) -> float:
    """ECE of a binary probability over equal-width bins."""
    positive = np.asarray(positive, dtype=np.float64)
    probability = np.asarray(probability, dtype=np.float64)
    edges = np.linspace(0, 1, bins + 1)
    index = np.clip(np.digitize(probability, edges[1:-1]), 0, bins - 1)
    error = 0.0
    for b in range(bins):
        sel = index == b
        if sel.any():
            error += sel.mean() * abs(positive[sel].mean() - probability[sel].mean())
    return float(error)


def bootstrap_ci(metric: Callable[..., float], *arrays: np.ndarray, resamples: int = 1000,
                 seed: int = 0, groups: np.ndarray | None = None) -> tuple[float, float]:
    """95% percentile bootstrap interval; resamples ``groups`` (e.g. patients) when given."""
    rng = np.random.default_rng(seed)
    arrays = tuple(np.asarray(a) for a in arrays)
    n = len(arrays[0])
    if groups is None:
        groups = np.arange(n)
    unique = np.unique(groups)
    members = {g: np.flatnonzero(groups == g) for g in unique}
    values = []
    for _ in range(resamples):
        chosen = rng.choice(unique, size=len(unique), replace=True)
        index = np.concatenate([members[g] for g in chosen])
        value = metric(*(a[index] for a in arrays))
        if not np.isnan(value):
            values.append(value)
    if not values:
        return float("nan"), float("nan")
    low, high = np.percentile(values, [2.5, 97.5])
    return float(low), float(high)
