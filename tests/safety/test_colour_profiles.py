"""Photographs in another colour space than sRGB (a camera in Adobe RGB mode, software that kept
a wide-gamut profile) are converted to sRGB before the gate and the model see them.

Read as sRGB, Adobe RGB numbers look washed out and brighter in the shadows: undamaged
``srahim_dev`` Patient157_R is refused as too dark, but its Adobe RGB copy passed the gate and
read "no referable DR" (P 0.10). The copies here are made with the published conversion
matrices (IEC 61966-2-1 for sRGB, Adobe RGB (1998) specification), independently of the
application's ICC profile and of littlecms.
"""

from __future__ import annotations

import csv
import io
import json
import shutil
from pathlib import Path

import numpy as np
from PIL import Image, ImageCms
from safety_helpers import (
    ADOBE_GAMMA,
    ADOBE_TO_XYZ,
    SRGB_TO_XYZ,
    encode,
    make_dicom,
    srgb_to_adobe,
)

from retina_screen.colour import ADOBE_RGB_NAME, adobe_rgb_profile, to_srgb
from retina_screen.loading import load_image, load_image_bytes
from retina_screen.results import ImageStatus


def adobe_to_srgb(adobe: np.ndarray) -> np.ndarray:
    linear = (adobe.astype(np.float64) / 255) ** ADOBE_GAMMA
    srgb = np.clip(linear @ (np.linalg.inv(SRGB_TO_XYZ) @ ADOBE_TO_XYZ).T, 0, 1)
    return np.where(srgb <= 0.0031308, 12.92 * srgb, 1.055 * srgb ** (1 / 2.4) - 0.055) * 255


def adobe_rgb_exif() -> bytes:
    """Exif of a DCF camera in Adobe RGB mode: colour space uncalibrated, interoperability
    index R03, no embedded profile."""
    exif = Image.Exif()
    exif[0x8769] = {0xA001: 0xFFFF, 0xA005: {1: "R03"}}
    return exif.tobytes()


def test_adobe_rgb_profile_converts_as_the_standard_does() -> None:
    colours = np.random.default_rng(3).integers(0, 256, (64, 64, 3)).astype(np.uint8)
    converted, name = to_srgb(colours, adobe_rgb_profile())
    assert name == ADOBE_RGB_NAME
    assert np.abs(converted - adobe_to_srgb(colours)).max() <= 1.0


def test_srgb_and_foreign_profiles_leave_the_pixels_as_they_are() -> None:
    colours = np.random.default_rng(4).integers(0, 256, (32, 32, 3)).astype(np.uint8)
    srgb = ImageCms.ImageCmsProfile(ImageCms.createProfile("sRGB")).tobytes()
    lab = ImageCms.ImageCmsProfile(ImageCms.createProfile("LAB")).tobytes()
    for icc in (None, b"", srgb, lab, b"not a profile at all"):
        converted, name = to_srgb(colours, icc)
        assert name is None and np.array_equal(converted, colours)


def test_adobe_rgb_files_load_as_their_srgb_colours(srahim: Path) -> None:
    rgb = np.asarray(Image.open(srahim / "images" / "Patient157_R.jpg").convert("RGB"))
    adobe = srgb_to_adobe(rgb)
    plain = load_image_bytes(encode(rgb, "PNG"))
    files = {
        "JPEG with an ICC profile": encode(adobe, "JPEG", quality=95,
                                           icc_profile=adobe_rgb_profile()),
        "PNG with an ICC profile": encode(adobe, "PNG", icc_profile=adobe_rgb_profile()),
        "TIFF with an ICC profile": encode(adobe, "TIFF", icc_profile=adobe_rgb_profile()),
        "JPEG with Adobe RGB Exif marks": encode(adobe, "JPEG", quality=95,
                                                 exif=adobe_rgb_exif()),
        "DICOM with an ICC Profile attribute": _dicom_with_profile(adobe),
    }
    for kind, data in files.items():
        loaded = load_image_bytes(data)
        assert loaded.colour_profile == ADOBE_RGB_NAME, kind
        difference = np.abs(loaded.pixels.astype(int) - plain.pixels)
        assert difference.mean() < 2.0, (kind, difference.mean())
    untagged = load_image_bytes(encode(adobe, "PNG"))
    assert untagged.colour_profile is None and np.array_equal(untagged.pixels, adobe)


def _dicom_with_profile(rgb: np.ndarray) -> bytes:
    import pydicom

    dataset = pydicom.dcmread(io.BytesIO(make_dicom(rgb, patient_id="C1")))
    dataset.ICCProfile = adobe_rgb_profile()
    buffer = io.BytesIO()
    dataset.save_as(buffer, enforce_file_format=True)
    return buffer.getvalue()


def test_referable_eyes_in_adobe_rgb_are_screened_as_in_srgb(srahim: Path, screener,  # noqa: ANN001
                                                             tmp_path: Path) -> None:
    """Every referable srahim_dev eye, written as a camera in Adobe RGB mode writes it (with
    its profile, or with the Exif marks alone), gets the outcome of its sRGB file: none reads
    "no referable DR" where the sRGB file is refused or referred."""
    with open(srahim / "labels.csv", newline="") as handle:
        names = [r["image"] for r in csv.DictReader(handle) if r["referable"] == "1"]
    assert len(names) == 45
    differences = []
    for name in names:
        rgb = np.asarray(Image.open(srahim / "images" / f"{name}.jpg").convert("RGB"))
        adobe = srgb_to_adobe(rgb)
        paths = {"srgb": (rgb, {}), "profile": (adobe, {"icc_profile": adobe_rgb_profile()}),
                 "exif": (adobe, {"exif": adobe_rgb_exif()})}
        results = {}
        for kind, (pixels, options) in paths.items():
            path = tmp_path / f"{name}_{kind}.jpg"
            path.write_bytes(encode(pixels, "JPEG", quality=95, **options))
            results[kind] = screener.screen_image(path, keep_display=False)
        expected = results.pop("srgb")
        for kind, result in results.items():
            if expected.status is ImageStatus.OK and result.status is ImageStatus.OK:
                differences.append(abs(result.grading.p_referable
                                       - expected.grading.p_referable))
                assert result.grading.referable == expected.grading.referable or \
                    abs(result.grading.p_referable - expected.grading.p_referable) < 0.03, \
                    (name, kind)
            else:
                assert result.status is not ImageStatus.OK or result.grading.referable, \
                    (name, kind, "no referable DR where the sRGB file is",
                     expected.status.value)
    # Two 8-bit roundings (sRGB -> Adobe RGB numbers -> sRGB) and a JPEG of other numbers move
    # P(referable) a little: median 0.009, at most 0.07 on these eyes.
    assert np.median(differences) < 0.02 and max(differences) < 0.1, \
        (np.median(differences), max(differences))


def test_adobe_rgb_copy_was_the_danger_without_conversion(srahim: Path, screener,  # noqa: ANN001
                                                          tmp_path: Path) -> None:
    """Why the conversion exists: the same Adobe RGB numbers without any colour tag (which
    the application cannot tell from sRGB) pass the gate and read not referable."""
    rgb = np.asarray(Image.open(srahim / "images" / "Patient157_R.jpg").convert("RGB"))
    tagged, untagged = tmp_path / "tagged.jpg", tmp_path / "untagged.jpg"
    tagged.write_bytes(encode(srgb_to_adobe(rgb), "JPEG", quality=95,
                              icc_profile=adobe_rgb_profile()))
    untagged.write_bytes(encode(srgb_to_adobe(rgb), "JPEG", quality=95))
    assert screener.screen_image(srahim / "images" / "Patient157_R.jpg").status \
        is ImageStatus.UNGRADABLE
    assert screener.screen_image(tagged).status is ImageStatus.UNGRADABLE
    result = screener.screen_image(untagged)
    assert result.status is ImageStatus.OK and not result.grading.referable
    assert load_image(untagged).colour_profile is None


def test_the_conversion_is_recorded_in_the_results_and_the_report(srahim: Path,
                                                                  isolated_settings,  # noqa: ANN001
                                                                  tmp_path: Path) -> None:
    """A converted photo says so: results.csv's ``colour_converted_from`` column, the journal
    and the patient's report name the space its pixels were converted from; an sRGB photo's
    are empty."""
    import pypdf

    from retina_screen.batch import run_batch

    photos = tmp_path / "camera"
    photos.mkdir()
    rgb = np.asarray(Image.open(srahim / "images" / "Patient013_L.jpg").convert("RGB"))
    (photos / "Patient013_L.jpg").write_bytes(
        encode(srgb_to_adobe(rgb), "JPEG", quality=95, icc_profile=adobe_rgb_profile()))
    shutil.copy(srahim / "images" / "Patient013_R.jpg", photos / "Patient013_R.jpg")
    summary = run_batch(photos, tmp_path / "out", isolated_settings, workers=1)
    with open(summary.results_csv, newline="", encoding="utf-8") as handle:
        rows = {r["path"]: r for r in csv.DictReader(handle)}
    assert rows["Patient013_L.jpg"]["colour_converted_from"] == ADOBE_RGB_NAME
    assert rows["Patient013_R.jpg"]["colour_converted_from"] == ""
    records = [json.loads(line) for line in summary.journal.read_text("utf-8").splitlines()]
    assert {r["path"]: r["colour_profile"] for r in records if r["kind"] == "image"} == \
        {"Patient013_L.jpg": ADOBE_RGB_NAME, "Patient013_R.jpg": ""}
    (report,) = (tmp_path / "out" / "reports").glob("*.pdf")
    text = " ".join(" ".join(page.extract_text() for page in pypdf.PdfReader(report).pages)
                    .split())
    assert f"Colour: converted to sRGB from {ADOBE_RGB_NAME}" in text
    assert text.count("converted to sRGB") == 1
