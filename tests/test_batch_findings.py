"""The findings of a batch run are worded once (``batch_findings``) for the command line and
the window, and every one of them has its Spanish wording."""

from __future__ import annotations

from dataclasses import fields
from pathlib import Path

from retina_screen.batch import BatchSummary
from retina_screen.batch_findings import (
    FINDINGS,
    REMEDY_COMMAND_LINE,
    REMEDY_WINDOW,
    batch_findings,
)
from retina_screen.decision import MAX_PHOTOGRAPHS_PER_EYE
from retina_screen.i18n import Catalogue


def _summary(**found) -> BatchSummary:
    out = Path("out")
    return BatchSummary(images=0, ok=0, ungradable=0, errors=0, patients=(), out_dir=out,
                        results_csv=out / "results.csv", patients_csv=out / "patients.csv",
                        journal=out / "results.jsonl", **found)


def _everything() -> BatchSummary:
    """A summary with every finding, IDs a translation must not touch."""
    ids = ("Müller_1", "P-0002", "Smith John/fundus")
    found = {name: ids for name, _, _ in FINDINGS}
    found.update(passed_over=(("scan.heic", "a picture format this application does not read "
                               "(.heic): export the photographs as JPEG, PNG, TIFF or DICOM"),
                              ("linked", "a linked folder (symbolic link), not followed: screen "
                               "the folder it points to itself"),
                              ("old", "a folder that could not be read (Permission denied)")),
                 damaged_records=2, damaged_copy=Path("out/results.jsonl.damaged"),
                 future_timestamps=3, waiting=1, split_by_naming=())
    return _summary(**found)


def test_every_finding_reads_a_field_of_the_summary():
    names = {f.name for f in fields(BatchSummary)}
    assert {name for name, _, _ in FINDINGS} <= names


def test_findings_come_weightiest_first_and_name_what_they_found():
    every = batch_findings(_everything())
    # one_eyed is shown: no visit looks like one patient split in two
    assert [f.field for f in every] == [name for name, _, _ in FINDINGS
                                        if name != "split_by_naming"]
    by_field = {f.field: f for f in every}
    assert by_field["differing_from_trail"].level == "warning"
    assert by_field["one_eyed"].level == "info"
    assert "Müller_1, P-0002, Smith John/fundus" in by_field["eyes_in_doubt"].text
    assert by_field["crowded"].text.startswith(
        f"3 patient visits have more than {MAX_PHOTOGRAPHS_PER_EYE} photographs")
    assert REMEDY_COMMAND_LINE in by_field["crowded"].text
    assert "scan.heic: a picture format" in by_field["passed_over"].text
    assert "results.jsonl.damaged" in by_field["damaged_records"].text
    # A visit split in two by the naming is among the one-eyed: said once, as the split.
    split = batch_findings(_summary(one_eyed=("A", "B", "C"), split_by_naming=("A", "B")))
    assert [f.field for f in split] == ["split_by_naming"]
    assert batch_findings(_summary()) == []


def test_a_long_list_is_cut_and_counted():
    many = tuple(f"P{i:03d}" for i in range(20))
    text = batch_findings(_summary(crowded=many))[0].text
    assert "P007 \u2026 (+12)" in text and "P008" not in text


def test_every_finding_has_its_spanish_wording_with_the_ids_untouched():
    spanish = Catalogue("es")
    for remedy in (REMEDY_COMMAND_LINE, REMEDY_WINDOW):
        english = batch_findings(_everything(), remedy)
        translated = batch_findings(_everything(), remedy, spanish.engine)
        assert not spanish.missing, spanish.missing
        for before, after in zip(english, translated, strict=True):
            assert after.text != before.text, before.text
        by_field = {f.field: f.text for f in translated}
        assert "Müller_1, P-0002, Smith John/fundus" in by_field["eyes_in_doubt"]
        assert "Permission denied" in by_field["passed_over"]  # the system's own words
        assert "no se analizaron: scan.heic: un formato de imagen" in by_field["passed_over"]
        assert ("indique --pattern" if remedy == REMEDY_COMMAND_LINE
                else "descríbalos en Nombres de archivo") in by_field["crowded"]
