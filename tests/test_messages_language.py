"""Errors an operator meets read whole in the app's language: the window translates the
engine's message through the core catalogue, and its Spanish said only "No se pudo analizar la
carpeta:" before the English reason (found 2026-12-02)."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from retina_screen.atomic import write_atomic
from retina_screen.batch import run_batch
from retina_screen.errors import RetinaScreenError
from retina_screen.i18n import Catalogue
from retina_screen.report import check_report_target


def _raised(call, *args, **kwargs) -> str:  # noqa: ANN001
    with pytest.raises(RetinaScreenError) as caught:
        call(*args, **kwargs)
    return str(caught.value)


def test_the_errors_of_a_folder_run_and_a_report_read_in_spanish(isolated_settings, srahim: Path,
                                                                 tmp_path: Path) -> None:
    camera = tmp_path / "cámara"
    camera.mkdir()
    shutil.copy(srahim / "images" / "Patient006_R.jpg", camera)
    blocker = tmp_path / "a file"
    blocker.write_text("not a folder")
    errors = [
        _raised(run_batch, tmp_path / "missing", tmp_path / "out", isolated_settings),
        _raised(run_batch, blocker, tmp_path / "out", isolated_settings),
        _raised(run_batch, camera, blocker / "out", isolated_settings),
        _raised(check_report_target, tmp_path / "Patient006.txt"),
        _raised(check_report_target, camera),
        _raised(check_report_target, camera / "Patient006_R.jpg"),
        _raised(write_atomic, blocker / "P.pdf", b"%PDF", 0o600, "report"),
    ]
    spanish = Catalogue("es")
    translated = [spanish.engine(text) for text in errors]
    assert not spanish.missing, spanish.missing
    for english, text in zip(errors, translated, strict=True):
        assert text != english, english
    # Paths and the system's own words stay as they are.
    assert str(tmp_path / "missing") in translated[0]
    assert translated[2].startswith(f"no se puede crear la carpeta de resultados {blocker}")
    assert "Patient006.txt" in translated[3] and "cámara" in translated[4]
    assert translated[6].startswith("no se pudo guardar el informe en ")
