"""Helpers shared by the safety tests: real photographs, encoders, DICOM files, the CLI."""

from __future__ import annotations

import csv
import ctypes
import io
import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
from PIL import Image

ROOT = Path(__file__).resolve().parents[2]

#: Both eyes of these srahim_dev patients (a mix of referable and non-referable eyes).
BATCH_PATIENTS = ("Patient006", "Patient008", "Patient013", "Patient016", "Patient017",
                  "Patient033", "Patient044", "Patient049")
#: A referable eye (ICDR 2, P(referable) about 0.9): every variant of it must never read as
#: "no referable DR".
REFERABLE_PHOTO = "Patient013_L.jpg"


def real_rgb(path: Path, max_side: int | None = None) -> np.ndarray:
    """A real photograph as RGB uint8, optionally downscaled so that its long side is max_side."""
    with Image.open(path) as image:
        image = image.convert("RGB")
        if max_side and max(image.size) > max_side:
            image.thumbnail((max_side, max_side), Image.Resampling.LANCZOS)
        return np.asarray(image).copy()


def encode(rgb: np.ndarray, fmt: str, **options: object) -> bytes:
    """Encode an RGB array with Pillow (fmt: JPEG, PNG, TIFF, BMP, GIF)."""
    buffer = io.BytesIO()
    Image.fromarray(rgb).save(buffer, fmt, **options)
    return buffer.getvalue()


#: The published conversions: IEC 61966-2-1 (sRGB) and the Adobe RGB (1998) specification.
SRGB_TO_XYZ = np.array([[0.4124, 0.3576, 0.1805], [0.2126, 0.7152, 0.0722],
                        [0.0193, 0.1192, 0.9505]])
ADOBE_TO_XYZ = np.array([[0.5767, 0.1856, 0.1882], [0.2973, 0.6274, 0.0753],
                         [0.0270, 0.0707, 0.9911]])
ADOBE_GAMMA = 563 / 256


def srgb_to_adobe(rgb: np.ndarray) -> np.ndarray:
    """The numbers a camera in Adobe RGB mode writes for the colours of an sRGB photograph."""
    value = rgb.astype(np.float64) / 255
    linear = np.where(value <= 0.04045, value / 12.92, ((value + 0.055) / 1.055) ** 2.4)
    adobe = np.clip(linear @ (np.linalg.inv(ADOBE_TO_XYZ) @ SRGB_TO_XYZ).T, 0, 1)
    return np.round(adobe ** (1 / ADOBE_GAMMA) * 255).astype(np.uint8)


def drawn_fundus(seed: int, noise: float, side: int = 1024) -> np.ndarray:
    """A drawing of a fundus (RGB uint8): an orange disc shaded to its edge, darker curves
    for vessels fanning out from a bright optic disc, a darker fovea, blurred slightly, with
    Gaussian noise of ``noise`` grey levels, as a photographed illustration, a printed
    picture or a model eye gives. Colour, vessel count and width, disc place and blur vary
    with ``seed``. Not a photograph of a retina: it must never be graded (qg-24)."""
    import cv2

    rng = np.random.default_rng(seed)
    yy, xx = np.mgrid[:side, :side].astype(np.float32)
    radius = rng.uniform(0.42, 0.48) * side
    r = np.hypot(xx - side / 2, yy - side / 2) / radius
    shade = np.clip(1 - rng.uniform(0.3, 0.6) * r ** 2, 0, 1)
    base = np.array([rng.uniform(170, 230), rng.uniform(60, 120), rng.uniform(15, 50)],
                    np.float32)
    image = shade[..., None] * base
    disc_x = side * (0.5 + rng.choice((-1, 1)) * rng.uniform(0.12, 0.2))
    disc_y = side * rng.uniform(0.45, 0.55)
    fovea_x = side - disc_x
    fovea = np.exp(-((xx - fovea_x) ** 2 + (yy - side / 2) ** 2) / (2 * (0.06 * side) ** 2))
    image *= (1 - rng.uniform(0.15, 0.35) * fovea)[..., None]
    vessel = base * rng.uniform(0.45, 0.65)
    for k in range(int(rng.integers(8, 17))):
        angle = 2 * np.pi * k / 16 + rng.uniform(-0.2, 0.2)
        bend = rng.uniform(-0.8, 0.8)
        t = np.linspace(0, 1, 80)
        length = rng.uniform(0.5, 0.9) * side
        points = np.stack([disc_x + np.cos(angle + bend * t) * t * length,
                           disc_y + np.sin(angle + bend * t) * t * length], 1)
        cv2.polylines(image, [points.astype(np.int32)], False, vessel.tolist(),
                      int(rng.integers(3, 9)), cv2.LINE_AA)
    cv2.circle(image, (int(disc_x), int(disc_y)), int(0.06 * side),
               (250.0, 225.0, 170.0), -1, cv2.LINE_AA)
    image = cv2.GaussianBlur(image, (0, 0), rng.uniform(1.0, 3.0))
    image = image + rng.normal(0, noise, (side, side, 1)).astype(np.float32)
    image *= (r < 1)[..., None]
    return np.clip(image, 0, 255).astype(np.uint8)


def textured_disc(seed: int, noise: float, side: int = 1024) -> np.ndarray:
    """An orange disc on black with a natural-looking texture (fractal noise) and, for most
    seeds, dark round spots, as a photograph of Mars, an orange or a ball gives (RGB uint8).
    It has texture at every scale but no vessel tree: not a retina, never to be graded
    (qg-25)."""
    import cv2

    rng = np.random.default_rng(seed)
    freq = np.fft.fftfreq(side)[:, None] ** 2 + np.fft.fftfreq(side)[None, :] ** 2
    freq[0, 0] = 1.0
    spectrum = rng.normal(size=(side, side)) + 1j * rng.normal(size=(side, side))
    texture = np.real(np.fft.ifft2(spectrum / freq ** (rng.uniform(2.0, 3.2) / 4)))
    texture = ((texture - texture.mean()) / texture.std()).astype(np.float32)
    yy, xx = np.mgrid[:side, :side].astype(np.float32)
    r = np.hypot(xx - side / 2, yy - side / 2) / (rng.uniform(0.42, 0.48) * side)
    base = np.array([rng.uniform(170, 230), rng.uniform(70, 120), rng.uniform(20, 60)],
                    np.float32)
    shade = np.clip(1 - rng.uniform(0.3, 0.6) * r ** 2, 0, 1)
    image = (shade * (1 + rng.uniform(0.08, 0.25) * texture))[..., None] * base
    for _ in range(int(rng.integers(0, 30))):
        centre = (int(rng.uniform(0.2, 0.8) * side), int(rng.uniform(0.2, 0.8) * side))
        cv2.circle(image, centre, int(rng.uniform(4, 40)), (base * 0.6).tolist(), -1,
                   cv2.LINE_AA)
    image = cv2.GaussianBlur(image, (0, 0), 1.0)
    image = image + rng.normal(0, noise, (side, side, 1)).astype(np.float32)
    image *= (r < 1)[..., None]
    return np.clip(image, 0, 255).astype(np.uint8)


def make_dicom(rgb: np.ndarray | None, *, patient_id: str = "", patient_name: str = "",
               laterality: str = "", compressed: bool = False, frames: int = 1,
               jpeg_quality: int = 92, lossless: str | None = None) -> bytes:
    """A DICOM Ophthalmic Photography file; ``rgb`` None gives one without pixel data.

    ``compressed`` stores the image as JPEG Baseline (YBR_FULL_422) at ``jpeg_quality``, as
    fundus cameras do. ``lossless`` ("jpeg-ls", "jpeg2000", "rle", "jpeg-lossless" or
    "jpeg-lossless-plain") stores one frame losslessly compressed instead, as archives (PACS)
    often store what they receive.
    """
    if lossless is not None:
        return _lossless_dicom(make_dicom(rgb, patient_id=patient_id, patient_name=patient_name,
                                          laterality=laterality), rgb, lossless)
    from pydicom.dataset import FileDataset, FileMetaDataset
    from pydicom.encaps import encapsulate
    from pydicom.uid import ExplicitVRLittleEndian, JPEGBaseline8Bit, generate_uid

    meta = FileMetaDataset()
    meta.MediaStorageSOPClassUID = "1.2.840.10008.5.1.4.1.1.77.1.5.1"
    meta.MediaStorageSOPInstanceUID = generate_uid()
    meta.TransferSyntaxUID = JPEGBaseline8Bit if compressed else ExplicitVRLittleEndian
    ds = FileDataset("photo.dcm", {}, file_meta=meta, preamble=b"\0" * 128)
    ds.SOPClassUID = meta.MediaStorageSOPClassUID
    ds.SOPInstanceUID = meta.MediaStorageSOPInstanceUID
    ds.Modality = "OP"
    ds.PatientID = patient_id
    ds.PatientName = patient_name
    ds.PatientBirthDate = "19580214"
    ds.StudyDate = "20250301"
    if laterality:
        ds.ImageLaterality = laterality
    if rgb is not None:
        ds.Rows, ds.Columns = rgb.shape[:2]
        ds.SamplesPerPixel = 3
        ds.PlanarConfiguration = 0
        ds.BitsAllocated = 8
        ds.BitsStored = 8
        ds.HighBit = 7
        ds.PixelRepresentation = 0
        if frames > 1:
            ds.NumberOfFrames = frames
        if compressed:
            ds.PhotometricInterpretation = "YBR_FULL_422"
            ds.PixelData = encapsulate([encode(rgb, "JPEG", quality=jpeg_quality)] * frames)
            ds["PixelData"].VR = "OB"
        else:
            ds.PhotometricInterpretation = "RGB"
            ds.PixelData = rgb.tobytes() * frames
    buffer = io.BytesIO()
    ds.save_as(buffer, enforce_file_format=True)
    return buffer.getvalue()


def _lossless_dicom(data: bytes, rgb: np.ndarray | None, kind: str) -> bytes:
    from pydicom.uid import JPEG2000Lossless, JPEGLosslessSV1, JPEGLSLossless, RLELossless

    if kind.startswith("jpeg-lossless"):
        return encapsulated_dicom(data, JPEGLosslessSV1,
                                  jpeg_lossless(rgb, plain=kind.endswith("plain")),
                                  PhotometricInterpretation="RGB")
    if kind == "jpeg2000":  # pydicom encodes JPEG 2000 only through pylibjpeg: Pillow does it
        return encapsulated_dicom(data, JPEG2000Lossless,
                                  encode(rgb, "JPEG2000", irreversible=False))
    import pydicom

    dataset = pydicom.dcmread(io.BytesIO(data))
    dataset.compress({"jpeg-ls": JPEGLSLossless, "rle": RLELossless}[kind], rgb)
    buffer = io.BytesIO()
    dataset.save_as(buffer, enforce_file_format=True)
    return buffer.getvalue()


def encapsulated_dicom(data: bytes, syntax: str, frame: bytes, **elements: object) -> bytes:
    """The DICOM file ``data`` with one compressed ``frame`` as its pixel data, in transfer
    syntax ``syntax``, and the data ``elements`` given set (None: removed), e.g.
    ``PhotometricInterpretation="RGB"``."""
    import pydicom
    from pydicom.encaps import encapsulate

    dataset = pydicom.dcmread(io.BytesIO(data))
    dataset.file_meta.TransferSyntaxUID = syntax
    for keyword, value in elements.items():
        if value is None:
            delattr(dataset, keyword)
        else:
            setattr(dataset, keyword, value)
    dataset.PixelData = encapsulate([frame])
    dataset["PixelData"].VR = "OB"
    buffer = io.BytesIO()
    dataset.save_as(buffer, enforce_file_format=True)
    return buffer.getvalue()


def jpeg_lossless(rgb: np.ndarray, plain: bool = False, bits: int = 8) -> bytes:
    """A lossless JPEG stream (process 14, first-order prediction) of ``rgb``, written by
    libjpeg-turbo (imagecodecs), with its Adobe "no colour transform" marker and component
    ids R, G, B; ``plain``: without the marker and with ids 1, 2, 3, as some DICOM encoders
    write it. ``bits`` above 8 stores ``rgb`` scaled to that precision."""
    import imagecodecs

    pixels = rgb if bits == 8 else (rgb.astype(np.uint16) << (bits - 8))
    stream = bytearray(imagecodecs.jpeg8_encode(pixels, lossless=True, colorspace="RGB",
                                                bitspersample=bits))
    if plain:
        adobe = stream.index(b"\xff\xee")
        del stream[adobe:adobe + 2 + int.from_bytes(stream[adobe + 2:adobe + 4], "big")]
        frame = stream.index(b"\xff\xc3")
        scan = stream.index(b"\xff\xda")
        for number in range(3):
            stream[frame + 10 + 3 * number] = number + 1
            stream[scan + 5 + 2 * number] = number + 1
    return bytes(stream)


def running_as_root() -> bool:
    """Root reads any file whatever its permissions, so chmod alone cannot deny it anything."""
    return hasattr(os, "geteuid") and os.geteuid() == 0


def enforce_permissions() -> None:
    """``preexec_fn`` making permission bits apply to a command even when it runs as root.

    Drops CAP_DAC_OVERRIDE and CAP_DAC_READ_SEARCH from the capability bounding set, so the
    command executed next gets neither (Linux; nothing to do for an ordinary user).
    """
    if not running_as_root():
        return
    libc = ctypes.CDLL(None, use_errno=True)
    pr_capbset_drop = 24
    for capability in (1, 2):  # CAP_DAC_OVERRIDE, CAP_DAC_READ_SEARCH
        if libc.prctl(pr_capbset_drop, capability, 0, 0, 0) != 0:
            raise OSError(ctypes.get_errno(), "cannot drop the file permission override")


def permissions_enforceable(folder: Path) -> str:
    """Empty when a command run with ``enforce_permissions`` is refused a mode-000 file;
    otherwise why not (the reason for a skip)."""
    probe = folder / ".permission-probe"
    probe.write_text("x")
    probe.chmod(0)
    try:
        result = subprocess.run(
            [sys.executable, "-c", f"open({str(probe)!r}).read()"], capture_output=True,
            text=True, timeout=60, preexec_fn=enforce_permissions, check=False)
    except OSError as exc:
        return f"cannot drop the permission override here ({exc})"
    finally:
        probe.chmod(0o600)
        probe.unlink()
    if "PermissionError" not in result.stderr:
        return "file permissions are not enforced here even without CAP_DAC_OVERRIDE"
    return ""


def cli_env(home: Path, **extra: str) -> dict[str, str]:
    """Environment for a CLI subprocess: user folders under ``home``, no user settings."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("RETINA_SCREEN_")}
    env.update({
        "PYTHONPATH": os.pathsep.join(filter(None, [str(ROOT), env.get("PYTHONPATH", "")])),
        "XDG_DATA_HOME": str(home / "xdg-data"),
        "XDG_CONFIG_HOME": str(home / "xdg-config"),
        "HOME": str(home),
        "PYTHONDONTWRITEBYTECODE": "1",
    })
    env.update(extra)
    return env


def cli_command(*args: str) -> list[str]:
    return [sys.executable, "-m", "retina_screen", *args]


def run_cli(args: list[str], env: dict[str, str], timeout: float = 240,
            **kwargs: object) -> subprocess.CompletedProcess[str]:
    """Run ``python -m retina_screen ARGS`` to completion (a hang fails the test)."""
    return subprocess.run(cli_command(*args), env=env, cwd=ROOT, capture_output=True,
                          text=True, timeout=timeout, check=False, **kwargs)


def read_csv(path: Path) -> list[dict[str, str]]:
    with open(path, newline="", encoding="utf-8") as handle:
        return list(csv.DictReader(handle, strict=True))


def read_journal(path: Path, allow_torn_tail: bool = False) -> list[dict]:
    """Every record of a results.jsonl; a torn last line is allowed only when asked for."""
    data = path.read_bytes() if path.exists() else b""
    lines = data.split(b"\n")
    tail = lines.pop()  # after the last newline: empty for a complete journal
    if tail and not allow_torn_tail:
        raise AssertionError(f"journal ends with an incomplete line: {tail[:80]!r}")
    return [json.loads(line) for line in lines]


def link_batch_input(srahim: Path, folder: Path, patients: tuple[str, ...] = BATCH_PATIENTS,
                     copy: bool = False) -> list[str]:
    """Both eyes of ``patients`` from srahim_dev/images into ``folder`` (symlinks or copies)."""
    folder.mkdir(parents=True, exist_ok=True)
    names = []
    for patient in patients:
        for eye in ("L", "R"):
            name = f"{patient}_{eye}.jpg"
            target = folder / name
            if copy:
                target.write_bytes((srahim / "images" / name).read_bytes())
            else:
                target.symlink_to(srahim / "images" / name)
            names.append(name)
    return names


def table_rows(out_dir: Path) -> tuple[list[dict[str, str]], list[dict[str, str]]]:
    """results.csv and patients.csv rows (neither holds a timestamp)."""
    return read_csv(out_dir / "results.csv"), read_csv(out_dir / "patients.csv")
