"""CSV exports never carry a cell that a spreadsheet runs as a formula (issue 13, section 7)."""

from __future__ import annotations

import csv
import json
import shutil
from pathlib import Path

import pytest

from retina_screen.csv_export import FORMULA_LEADS, csv_bytes, safe_cell

#: Patient IDs (from camera file names) that Excel, LibreOffice or Sheets would evaluate.
HOSTILE_IDS = ('=HYPERLINK("evil.example","open")', "=1+2", "@SUM(A1)", "+33 612",
               "\tcmd", "\rX", "=A1\r\n=B1")


@pytest.mark.parametrize("value,expected", [
    ("=1+2", "'=1+2"), ("@SUM(A1)", "'@SUM(A1)"), ("+1", "'+1"), ("-1", "'-1"),
    ("\tx", "'\tx"), ("\rx", "'\rx"), ("\nx", "'\nx"), ("  =1", "'  =1"), ("\uff1d1", "'\uff1d1"),
    ("Patient006", "Patient006"), ("a=b", "a=b"), ("", ""), (None, None), (3, 3), (0.25, 0.25),
    (-1, -1),
])
def test_safe_cell(value: object, expected: object) -> None:
    assert safe_cell(value) == expected


def test_csv_bytes_neutralises_every_column() -> None:
    text = csv_bytes(["a", "b"], [{"a": "=1+2", "b": "@x"}, {"a": "ok", "b": 5}]).decode()
    rows = list(csv.DictReader(text.splitlines()))
    assert rows == [{"a": "'=1+2", "b": "'@x"}, {"a": "ok", "b": "5"}]


def _read(path: Path) -> list[dict[str, str]]:
    with open(path, newline="", encoding="utf-8") as handle:
        return list(csv.DictReader(handle))


def _formula_like(cell: str) -> bool:
    stripped = cell.lstrip(" ")
    return bool(cell) and (cell[0] in FORMULA_LEADS or (bool(stripped)
                                                        and stripped[0] in FORMULA_LEADS))


def test_batch_csv_cells_from_hostile_file_names_are_text(srahim: Path, tmp_path: Path) -> None:
    """Real photographs under file names whose patient IDs are formulas: no cell of
    results.csv or patients.csv starts like a formula, the IDs read back with an apostrophe in
    front, and the journal keeps them as they were."""
    from retina_screen.batch import run_batch
    from retina_screen.settings import load_settings

    photos = tmp_path / "in"
    photos.mkdir()
    sources = sorted((srahim / "images").glob("Patient0*_R.jpg"))[:len(HOSTILE_IDS)]
    for patient_id, source in zip(HOSTILE_IDS, sources, strict=True):
        shutil.copy(source, photos / f"{patient_id}_R.jpg")
    settings = load_settings(use_environment=False, use_file=False, overrides={
        "audit_db": tmp_path / "audit.sqlite", "audit_key": tmp_path / "config" / "audit.key",
        "log_dir": tmp_path / "logs"})
    summary = run_batch(photos, tmp_path / "out", settings, workers=1, reports=False)
    results, patients = _read(summary.results_csv), _read(summary.patients_csv)
    assert len(results) == len(patients) == len(HOSTILE_IDS)
    assert {r["status"] for r in results} <= {"ok", "ungradable"}  # really screened
    for row in results + patients:
        bad = {k: v for k, v in row.items() if _formula_like(v)}
        assert not bad, bad
    assert sorted(r["patient_id"] for r in patients) == sorted("'" + i for i in HOSTILE_IDS)
    assert sorted(r["path"] for r in results) == sorted(f"'{i}_R.jpg" for i in HOSTILE_IDS)
    journal = [json.loads(line) for line in summary.journal.read_text().splitlines()]
    assert {r["patient_id"] for r in journal} == set(HOSTILE_IDS)
