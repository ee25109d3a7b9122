"""Where the optic disc lies in real photographs (:mod:`retina_screen.laterality`)."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from retina_screen.laterality import optic_disc_side
from retina_screen.loading import load_image
from retina_screen.preprocess import DECODE_MAX_SIDE, screening_crop

PATIENTS = ("Patient006", "Patient036", "Patient108", "Patient221", "Patient296")


def _crop(path: Path) -> np.ndarray:
    return screening_crop(load_image(path, max_side=DECODE_MAX_SIDE).pixels).image


def test_the_disc_is_found_on_the_nasal_side_and_moves_with_a_mirror_image(srahim: Path) -> None:
    """``srahim_dev``'s camera shows the fundus the usual way: a right eye's disc on the right
    of its macula-centred photograph, a left eye's on the left; mirrored, the other side."""
    for patient in PATIENTS:
        for eye, side in (("R", 1), ("L", -1)):
            crop = _crop(srahim / f"images/{patient}_{eye}.jpg")
            found = optic_disc_side(crop)
            assert found.side == side and abs(found.offset) >= 0.3, (patient, eye, found)
            assert optic_disc_side(np.ascontiguousarray(crop[:, ::-1])).side == -side


def test_a_disc_centred_photograph_is_left_undecided(srahim: Path) -> None:
    """Moved so the disc lies at the middle (as in a disc-centred field), no side is given."""
    crop = _crop(srahim / "images/Patient006_R.jpg")
    offset = optic_disc_side(crop).offset
    shift = int(round(offset * crop.shape[1] / 2))
    centred = np.zeros_like(crop)
    centred[:, : crop.shape[1] - shift] = crop[:, shift:]
    found = optic_disc_side(centred)
    assert found.side == 0 and abs(found.offset) < 0.1, found
