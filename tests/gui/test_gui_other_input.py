"""The batch view asks before it adds another camera folder's results to an output folder
(issue 13, section 2), on real photographs."""

from __future__ import annotations

import shutil

from gui_helpers import WAIT_MS
from PySide6.QtCore import Qt

from retina_screen.errors import OtherInputFolderError

RUN_MS = max(WAIT_MS, 120_000)


def test_another_input_folder_needs_the_operators_word(open_window, isolated_settings, srahim,
                                                       tmp_path, qtbot):
    first, second, out = tmp_path / "a", tmp_path / "b", tmp_path / "results"
    for folder, patient in ((first, "Patient006"), (second, "Patient036")):
        folder.mkdir()
        for eye in "RL":
            shutil.copy(srahim / "images" / f"{patient}_{eye}.jpg", folder)
    window = open_window(settings=isolated_settings.replace(workers=1))
    page = window.batch_page
    window.show_page(page)
    page.output_dir.setText(str(out))
    asked: list[str] = []
    answer = [False]
    page.confirm_other_input = lambda message: asked.append(message) or answer[0]

    def run(folder):  # noqa: ANN001, ANN202
        page.input_dir.setText(str(folder))
        with qtbot.waitSignal(page.runFinished, timeout=RUN_MS) as finished:
            qtbot.mouseClick(page.start_button, Qt.MouseButton.LeftButton)
        return finished.args

    summary, error = run(first)
    assert error is None and not asked
    before = (out / "patients.csv").read_bytes()
    summary, error = run(second)  # refused: the operator said no
    assert isinstance(error, OtherInputFolderError) and len(asked) == 1
    assert "another input folder" in asked[0]
    assert (out / "patients.csv").read_bytes() == before
    answer[0] = True
    summary, error = run(second)  # the operator said yes: the run goes on with this folder
    assert error is None and len(asked) == 2
    assert {row.patient_id for row in summary.patients} == {"Patient036"}
    assert b"Patient006" in (out / "patients.csv").read_bytes()
    assert b"Patient036" in (out / "patients.csv").read_bytes()
