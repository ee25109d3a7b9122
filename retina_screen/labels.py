"""The labelled photographs of the shared data: their sources, splits and referable labels.

One place for what both evaluation (core) and training read from a source's ``labels.csv``:
which sources train the model and which are external checks, which photographs are internal
validation (a stable hash of the patient; IDRiD's official test split), and when a photograph
counts as referable.
"""

from __future__ import annotations

import csv
import hashlib
from pathlib import Path

#: The sources the grading model is trained on; their validation split is internal validation.
TRAINING_SOURCES = ("aptos2019", "eyepacs_equalised", "eyepacs_raw", "idrid")
#: External checks: never used for training, model selection or the threshold.
EXTERNAL_SOURCES = ("srahim_dev", "messidor2_dev")
VALIDATION_PERCENT = 15


def read_labels(data_root: Path, source: str) -> list[dict[str, str]]:
    """The rows of ``<data_root>/<source>/labels.csv``."""
    with open(Path(data_root) / source / "labels.csv", newline="") as handle:
        return list(csv.DictReader(handle))


def split_for(source: str, patient: str) -> str:
    """Stable patient-level split: about VALIDATION_PERCENT% of patients go to validation."""
    digest = hashlib.sha256(f"{source}/{patient}".encode()).digest()
    return "val" if int.from_bytes(digest[:4], "big") % 100 < VALIDATION_PERCENT else "train"


def record_split(source: str, row: dict[str, str]) -> str:
    """"train" or "val" for one labelled photograph of a training source."""
    if source == "idrid":
        return "train" if row["official_split"] == "train" else "val"
    return split_for(source, row.get("patient") or row["image"])


def record_referable(row: dict[str, str]) -> bool:
    """Referable DR: the source's own ``referable`` column where it has one (macular oedema,
    maculopathy), otherwise ICDR grade 2 or worse."""
    if row.get("referable", "") != "":
        return row["referable"] == "1"
    return int(row["icdr_grade"]) >= 2
