"""Bounded fuzzing (hypothesis) of the image and DICOM loaders, the screening of whatever they
decode, and the file-name parser and sanitiser.

Inputs are real JPEG/PNG/TIFF/BMP/DICOM bytes made from a real fundus photograph, mutated
(bytes overwritten, deleted, inserted, boundary values, truncation), plus random bytes behind
real magic numbers. The contract: a loader returns an RGB uint8 image or raises ImageLoadError
with a one-line reason, quickly; never anything else.

The run is derandomised (the same examples every CI run, about a minute in all). For a longer,
exploratory run: ``FUZZ_SCALE=20 FUZZ_RANDOM=1 python -m pytest tests/safety/test_fuzz.py``.
"""

from __future__ import annotations

import os
import re
import time
import warnings
from pathlib import Path

import cv2
import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from safety_helpers import REFERABLE_PHOTO, encode, make_dicom, real_rgb

from retina_screen.errors import ConfigError, ImageLoadError
from retina_screen.loading import LoadedImage, load_image_bytes
from retina_screen.naming import compile_pattern, parse_stem, safe_file_stem
from retina_screen.results import Eye, ImageStatus

SCALE = float(os.environ.get("FUZZ_SCALE", "1"))
SECONDS_PER_INPUT = 2.0


def fuzz_settings(examples: int) -> settings:
    return settings(max_examples=max(1, int(examples * SCALE)), deadline=None,
                    derandomize=os.environ.get("FUZZ_RANDOM") != "1", database=None,
                    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large,
                                           HealthCheck.function_scoped_fixture])


def build_seeds(photo: Path) -> tuple[dict[str, bytes], dict[str, bytes]]:
    """Real raster files and real DICOM files made from a fundus photo at 320 px."""
    rgb = real_rgb(photo, max_side=320)
    raster = {
        "jpeg": encode(rgb, "JPEG", quality=90),
        "jpeg_progressive": encode(rgb, "JPEG", quality=90, progressive=True),
        "png": encode(rgb, "PNG"),
        "tiff": encode(rgb, "TIFF"),
        "bmp": encode(rgb, "BMP"),
        "png16": cv2.imencode(".png", cv2.cvtColor(rgb, cv2.COLOR_RGB2BGR).astype(np.uint16)
                               * 257)[1].tobytes(),
    }
    dicom = {
        "dicom_raw": make_dicom(rgb, patient_id="F1", patient_name="Fuzz^Test", laterality="R"),
        "dicom_jpeg": make_dicom(rgb, patient_id="F2", laterality="L", compressed=True),
        "dicom_frames": make_dicom(rgb[:160, :160].copy(), compressed=True, frames=3),
        "dicom_no_pixels": make_dicom(None, patient_id="F3", patient_name="No^Pixels"),
    }
    return raster, dicom


@pytest.fixture(scope="module")
def seeds(srahim: Path) -> tuple[dict[str, bytes], dict[str, bytes]]:
    return build_seeds(srahim / "images" / REFERABLE_PHOTO)


INTERESTING = (b"\x00", b"\xff", b"\xff\xff\xff\xff", b"\x00\x00\x00\x00", b"\x7f\xff\xff\xff",
               b"\x80\x00\x00\x00", b"\xff\xd9", b"\xff\xda", b"\xff\xc0", b"IEND", b"IDAT",
               b"\xe0\x7f", b"\x02\x00", b"OB", b"UN", b"SQ", b"\xfe\xff\xdd\xe0")

#: One mutation: (kind, position as a fraction of the file, bytes or a length).
MUTATION = st.tuples(
    st.sampled_from(("overwrite", "delete", "insert", "interesting", "truncate")),
    st.floats(0.0, 1.0, allow_nan=False),
    st.binary(min_size=1, max_size=32),
    st.integers(1, 256),
    st.sampled_from(INTERESTING),
)


def mutate(data: bytes, mutations: list, head_bias: bool) -> bytes:
    """Apply mutations; with ``head_bias`` most land in the first kilobyte (the headers)."""
    out = bytearray(data)
    for kind, where, payload, length, special in mutations:
        if not out:
            break
        span = min(len(out), 1024) if head_bias and where < 0.8 else len(out)
        position = min(int(where / (0.8 if head_bias and where < 0.8 else 1.0) * span),
                       len(out) - 1)
        if kind == "overwrite":
            out[position:position + len(payload)] = payload
        elif kind == "delete":
            del out[position:position + length]
        elif kind == "insert":
            out[position:position] = payload
        elif kind == "interesting":
            out[position:position + len(special)] = special
        else:
            del out[max(position, 1):]
    return bytes(out)


def check_loader(data: bytes) -> LoadedImage | None:
    """The loader contract for one input."""
    started = time.monotonic()
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            loaded = load_image_bytes(data)
    except ImageLoadError as exc:
        message = str(exc)
        assert message and "\n" not in message and len(message) < 200, message
        loaded = None
    elapsed = time.monotonic() - started
    assert elapsed < SECONDS_PER_INPUT, f"decoding took {elapsed:.1f} s"
    if loaded is not None:
        pixels = loaded.pixels
        assert pixels.dtype == np.uint8 and pixels.ndim == 3 and pixels.shape[2] == 3
        assert min(pixels.shape[:2]) >= 1
        assert loaded.original_width >= 64 and loaded.original_height >= 64
        assert re.fullmatch(r"[0-9a-f]{64}", loaded.sha256)
    return loaded


RASTER_NAMES = ("jpeg", "jpeg_progressive", "png", "tiff", "bmp", "png16")
DICOM_NAMES = ("dicom_raw", "dicom_jpeg", "dicom_frames", "dicom_no_pixels")


@pytest.mark.timeout(600)  # a hang guard, not a speed target
@fuzz_settings(4000)
@given(name=st.sampled_from(RASTER_NAMES), mutations=st.lists(MUTATION, min_size=1, max_size=6),
       head_bias=st.booleans())
def test_fuzz_raster_loader(seeds, name: str, mutations: list, head_bias: bool) -> None:  # noqa: ANN001
    check_loader(mutate(seeds[0][name], mutations, head_bias))


@pytest.mark.timeout(600)  # a hang guard, not a speed target (CI machines may be busy)
@fuzz_settings(3000)
@given(name=st.sampled_from(DICOM_NAMES), mutations=st.lists(MUTATION, min_size=1, max_size=6),
       head_bias=st.booleans())
def test_fuzz_dicom_loader(seeds, name: str, mutations: list, head_bias: bool) -> None:  # noqa: ANN001
    loaded = check_loader(mutate(seeds[1][name], mutations, head_bias))
    if loaded is not None and loaded.dicom is not None:
        assert loaded.dicom.laterality in (None, "right", "left")


MAGIC = (b"", b"\xff\xd8\xff\xe0", b"\x89PNG\r\n\x1a\n", b"II*\x00", b"MM\x00*", b"BM",
         b"GIF89a", b"\x00" * 128 + b"DICM", b"RIFF\x00\x00\x00\x00WEBP")


@pytest.mark.timeout(600)  # a hang guard, not a speed target
@fuzz_settings(1500)
@given(magic=st.sampled_from(MAGIC), body=st.binary(max_size=4096))
def test_fuzz_random_bytes_behind_real_magic_numbers(magic: bytes, body: bytes) -> None:
    check_loader(magic + body)


@pytest.mark.timeout(600)  # a hang guard, not a speed target
@fuzz_settings(200)
@given(name=st.sampled_from(("jpeg", "png", "tiff")),
       mutations=st.lists(MUTATION, min_size=1, max_size=3))
def test_fuzz_screening_of_damaged_photographs(seeds, screener, name: str,  # noqa: ANN001
                                                mutations: list) -> None:
    """Whatever a damaged file decodes to, screening it gives a status, never an exception.

    Whether a damaged copy of a referable eye can read 'no referable DR' is not asserted here:
    it can (see test_found_shifted_tiff_of_a_referable_eye_is_not_graded_no_referable)."""
    data = mutate(seeds[0][name], mutations, head_bias=False)
    loaded = check_loader(data)
    if loaded is None:
        return
    result = screener.screen_loaded(loaded, "fuzz.jpg", Eye.RIGHT, keep_display=False)
    assert result.status in (ImageStatus.OK, ImageStatus.UNGRADABLE)
    if result.status is ImageStatus.UNGRADABLE:
        assert result.reasons and result.grading is None
    else:
        assert result.grading is not None and 0.0 <= result.grading.p_referable <= 1.0
        assert abs(sum(result.grading.probabilities) - 1.0) < 1e-3


@pytest.mark.timeout(600)  # a hang guard, not a speed target (CI machines may be busy)
@fuzz_settings(300)
@given(shape=st.tuples(st.integers(64, 700), st.integers(64, 700)),
       kind=st.sampled_from(("uniform", "noise", "gradient", "disc", "stripes")),
       colour=st.tuples(st.integers(0, 255), st.integers(0, 255), st.integers(0, 255)),
       seed=st.integers(0, 2**16))
def test_fuzz_screening_of_synthetic_frames(screener, shape: tuple[int, int], kind: str,  # noqa: ANN001
                                             colour: tuple[int, int, int], seed: int) -> None:
    """Frames that are not photographs at all (any size a loader accepts): a status, never an
    exception, and never gradable (except RGB noise in some portrait frames: see
    test_found_noise_frame_is_not_a_fundus_photograph)."""
    height, width = shape
    if max(height, width) / min(height, width) > 4:
        return
    rng = np.random.default_rng(seed)
    frame = np.zeros((height, width, 3), np.uint8)
    if kind == "uniform":
        frame[:] = colour
    elif kind == "noise":
        frame = rng.integers(0, 256, (height, width, 3), np.uint8)
    elif kind == "gradient":
        frame[:] = (np.linspace(0, 1, width)[None, :, None] * np.array(colour)).astype(np.uint8)
    elif kind == "disc":
        cv2.circle(frame, (width // 2, height // 2), min(height, width) // 2 - 1, colour, -1)
    else:
        frame[::8] = colour
    result = screener.screen_in_memory(LoadedImage.from_pixels(frame, "PNG"),
                                       source="synthetic.png")
    assert result.status in (ImageStatus.OK, ImageStatus.UNGRADABLE)
    if kind != "noise":
        assert result.status is ImageStatus.UNGRADABLE, (kind, shape, colour)
        assert result.reasons


# ---------------------------------------------------------------------------------------------
# File names

FILE_NAME_TEXT = st.text(
    alphabet=st.characters(blacklist_categories=("Cs",), blacklist_characters="/\x00"),
    max_size=120)
SAFE_NAME = re.compile(r"[A-Za-z0-9_][A-Za-z0-9._-]*")
RESERVED = re.compile(r"(CON|PRN|AUX|NUL|COM[1-9]|LPT[1-9])(\..*)?", re.IGNORECASE)


@pytest.mark.timeout(600)  # a hang guard, not a speed target
@fuzz_settings(1500)
@given(stem=FILE_NAME_TEXT.filter(bool))
def test_fuzz_parse_stem(stem: str) -> None:
    started = time.monotonic()
    patient, eye = parse_stem(stem)
    assert time.monotonic() - started < 0.5
    assert isinstance(eye, Eye)
    assert patient and patient in stem
    if eye is Eye.UNKNOWN:
        assert patient == stem


@pytest.mark.timeout(600)  # a hang guard, not a speed target
@fuzz_settings(1500)
@given(text=st.one_of(FILE_NAME_TEXT, st.text(max_size=300),
                      st.sampled_from(("../../x", "..", ".", "CON", "con.txt", "LPT1", "/",
                                       "\\\\server\\share", "C:\\x", " ", "\u202e", "NUL.pdf"))))
def test_fuzz_safe_file_stem(tmp_path_factory, text: str) -> None:  # noqa: ANN001
    stem = safe_file_stem(text)
    assert SAFE_NAME.fullmatch(stem), stem
    assert len(stem) <= 65 and not RESERVED.fullmatch(stem)
    folder = Path("/clinic/out/reports")
    assert (folder / f"{stem}.pdf").resolve().parent == folder


TEMPLATE_PART = st.one_of(st.sampled_from(("{patient}", "{eye}", "{any}", "-", "_", " ", ".",
                                           "{other}", "(", "[", "\\", "*", "+", "?")),
                          st.text(max_size=5))


@pytest.mark.timeout(600)  # a hang guard, not a speed target
@fuzz_settings(600)
@given(parts=st.lists(TEMPLATE_PART, min_size=1, max_size=6), regex=st.booleans(),
       stem=FILE_NAME_TEXT)
def test_fuzz_file_name_patterns(parts: list[str], regex: bool, stem: str) -> None:
    """Any user pattern either compiles or is refused with ConfigError; a compiled pattern
    parses any file name (up to the 255 characters a file system allows) without error and
    quickly."""
    pattern = "".join(parts)
    if regex:
        pattern = f"(?P<patient>{pattern})" if "(?P<patient>" not in pattern else pattern
    try:
        compiled = compile_pattern(pattern)
    except ConfigError as exc:
        assert str(exc) and "\n" not in str(exc)
        return
    started = time.monotonic()
    patient, eye = parse_stem(stem[:255], compiled)
    assert time.monotonic() - started < 1.0, pattern
    assert isinstance(patient, str) and isinstance(eye, Eye)


def test_a_pattern_with_a_nested_looking_set_compiles_without_a_warning() -> None:
    """A user's "[[" (which Python's re warns about: "Possible nested set") is used as written,
    without a FutureWarning reaching the operator's terminal."""
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        compiled = compile_pattern(r"(?P<patient>[[a-z0-9]+)_(?P<eye>[LR])")
    assert parse_stem("[p01_R", compiled) == ("[p01", Eye.RIGHT)


# ---------------------------------------------------------------------------------------------
# Counterexamples found by longer fuzz runs (FUZZ_SCALE=8 FUZZ_RANDOM=1), kept as regression
# tests. Both were gaps of the quality gate and the fundus gate model, not of the loaders; both
# closed with quality gate qg-2 and the 448 px model (the shifted TIFF is now refused or
# referred; the noise frame is refused).


def test_found_shifted_tiff_of_a_referable_eye_is_not_graded_no_referable(seeds,  # noqa: ANN001
                                                                          screener) -> None:  # noqa: ANN001
    data = mutate(seeds[0]["tiff"], [("insert", 0.25, b"\x00\x00", 1, b"\x00")], False)
    loaded = check_loader(data)
    assert loaded is not None
    result = screener.screen_loaded(loaded, "shifted.tif", Eye.RIGHT, keep_display=False)
    assert result.status is not ImageStatus.OK or result.grading.referable, \
        f"P(referable) {result.grading.p_referable:.2f}"


def test_found_noise_frame_is_not_a_fundus_photograph(screener) -> None:  # noqa: ANN001
    frame = np.random.default_rng(0).integers(0, 256, (359, 180, 3), np.uint8)
    result = screener.screen_in_memory(LoadedImage.from_pixels(frame, "PNG"), source="noise.png")
    assert result.status is ImageStatus.UNGRADABLE
