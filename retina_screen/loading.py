"""Loading photographs: JPEG, PNG, TIFF (8/16 bit), BMP and DICOM Ophthalmic Photography.

Everything is decoded to RGB uint8. The format is recognised from the file's content, not its
extension. Dimensions are read from the header before decoding, so a decompression bomb is
refused without allocating it. Large JPEGs are decoded at reduced scale (1/2, 1/4, 1/8) when the
caller's ``max_side`` allows, which is several times faster than a full decode.
Every failure raises :class:`ImageLoadError` with a one-line reason.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import io
import logging
import os
import re
import stat
import struct
import warnings
from collections.abc import Sequence
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

import cv2
import numpy as np
from PIL import Image, ImageOps

from .colour import adobe_rgb_profile, to_srgb
from .errors import ImageLoadError
from .results import sex_code

log = logging.getLogger(__name__)

MAX_FILE_BYTES = 300 * 2**20
MAX_PIXELS = 80_000_000  # about 10,000 x 8,000: larger than any fundus camera
MIN_SIDE = 64
MAX_ASPECT = 4.0
SUPPORTED_FORMATS = ("JPEG", "PNG", "TIFF", "BMP", "DICOM")
#: File extensions of the photographs this application reads (DICOM files may have none).
IMAGE_EXTENSIONS = frozenset({".jpg", ".jpeg", ".jfif", ".jpe", ".png", ".tif", ".tiff", ".bmp",
                              ".dcm", ".dicom", ".gif"})
#: Picture files this application does not read (a camera or phone adapter set to HEIC or
#: JPEG 2000, a RAW or WebP export): named to the operator, never passed over in silence.
UNREAD_PICTURE_EXTENSIONS = frozenset({
    ".heic", ".heif", ".avif", ".webp", ".jp2", ".j2k", ".jpx", ".jpf", ".jxl",
    ".dng", ".nef", ".cr2", ".cr3", ".arw", ".orf", ".rw2", ".raf", ".pef", ".srw", ".psd",
    ".pnm", ".ppm", ".pgm", ".exr", ".hdr"})
UNREAD_FORMAT = ("a picture format this application does not read ({0}): export the "
                 "photographs as JPEG, PNG, TIFF or DICOM")

Image.MAX_IMAGE_PIXELS = MAX_PIXELS


@dataclass(frozen=True)
class DicomInfo:
    """Patient and acquisition details read from DICOM tags (None where a tag is absent)."""

    patient_id: str | None = None
    patient_name: str | None = None
    birth_date: str | None = None  # ISO yyyy-mm-dd
    laterality: str | None = None  # "right" / "left"
    acquisition_date: str | None = None  # ISO yyyy-mm-dd
    study_uid: str | None = None  # StudyInstanceUID: one visit
    study_date: str | None = None  # ISO yyyy-mm-dd
    sex: str | None = None  # PatientSex: "F", "M" or "O"
    accession: str | None = None  # AccessionNumber


@dataclass(frozen=True)
class LoadedImage:
    """A decoded photograph."""

    pixels: np.ndarray  # RGB uint8, possibly downscaled (see ``scale``)
    original_width: int
    original_height: int
    format: str
    sha256: str
    dicom: DicomInfo | None = None
    #: The JPEG quality the file was saved at, estimated from its header
    #: (:func:`jpeg_file_quality`; for DICOM, its first frame's when that is lossy JPEG);
    #: None for other formats.
    jpeg_quality: float | None = None
    #: The quality of an earlier, harder JPEG compression that the file's block means still
    #: show (:func:`earlier_jpeg_quality`; for DICOM, in its first frame when that is lossy
    #: JPEG): 100.0 where they show none; None where not measured (other formats, photos not
    #: read from a file).
    earlier_jpeg_quality: float | None = None
    #: The colour space the file's pixels were converted from to sRGB (the name of its ICC
    #: profile, or "Adobe RGB (1998)" from a camera's Exif marks; :mod:`.colour`); None when
    #: they were sRGB or untagged.
    colour_profile: str | None = None
    #: The number of colours of the palette the file's pixels index (PNG colour type 3,
    #: palette BMP and TIFF, DICOM PALETTE COLOR); None for files without one.
    palette_colours: int | None = None
    #: The date the photograph was taken by the camera's clock (ISO yyyy-mm-dd: Exif, or the
    #: DICOM acquisition date); None where the file does not say.
    taken: str | None = None
    #: The photographs the file holds: a DICOM file's frames, a TIFF file's pages (those not
    #: marked as reduced-resolution copies); 1 for other formats. Only the first is decoded.
    photographs: int = 1

    @property
    def scale(self) -> float:
        """Decoded width divided by the original width."""
        return self.pixels.shape[1] / self.original_width

    @classmethod
    def from_pixels(cls, pixels: np.ndarray, format: str = "JPEG",  # noqa: A002
                    jpeg_quality: float | None = None) -> LoadedImage:
        """A photograph already decoded into memory (RGB uint8, full size), identified by the
        sha256 of its pixels; ``jpeg_quality``: that of the file it came from, if known."""
        rgb = np.ascontiguousarray(pixels)
        digest = hashlib.sha256(rgb.tobytes()).hexdigest()
        return cls(rgb, rgb.shape[1], rgb.shape[0], format, digest, jpeg_quality=jpeg_quality)


def is_dicom_file(path: Path) -> bool:
    """Whether ``path`` starts like a DICOM file (reads 132 bytes; False if unreadable)."""
    try:
        with open(path, "rb") as handle:
            return _is_dicom(handle.read(132))
    except OSError:
        return False


def _is_dicom(data: bytes) -> bool:
    return len(data) >= 132 and data[128:132] == b"DICM"


#: The IJG (libjpeg) standard luminance quantisation table at quality 50, in natural (row by
#: row) order, the order Pillow gives a JPEG header's tables in.
_IJG_LUMINANCE = (
    16, 11, 10, 16, 24, 40, 51, 61, 12, 12, 14, 19, 26, 58, 60, 55,
    14, 13, 16, 24, 40, 57, 69, 56, 14, 17, 22, 29, 51, 87, 80, 62,
    18, 22, 37, 56, 68, 109, 103, 77, 24, 35, 55, 64, 81, 104, 113, 92,
    49, 64, 78, 87, 103, 121, 120, 101, 72, 92, 95, 98, 112, 100, 103, 99,
)


def jpeg_quality_from_table(table: Sequence[int]) -> float:
    """The IJG quality (1-100) that a luminance quantisation table (64 values, natural order)
    corresponds to. Each entry over the standard table's gives the scale factor S in percent,
    averaged over the entries not clipped to 1 or 255 (at low quality many are); quality =
    (200 - S) / 2 for S <= 100, else 5000 / S. A camera's own table is not a scaled standard
    one; the average still places it on the same scale."""
    pairs = [(int(t), s) for t, s in zip(table, _IJG_LUMINANCE, strict=True)]
    unclipped = [(t, s) for t, s in pairs if 1 < t < 255]
    used = unclipped if len(unclipped) >= 8 else pairs
    scale = 100.0 * float(np.mean([t / s for t, s in used]))
    quality = (200.0 - scale) / 2.0 if scale <= 100.0 else 5000.0 / max(scale, 1e-6)
    return float(min(max(quality, 1.0), 100.0))


def jpeg_file_quality(header: Image.Image) -> float | None:
    """The quality a JPEG file was saved at, from the luminance table in its header (an opened,
    not decoded, Pillow image); None where the header has no usable table."""
    tables = getattr(header, "quantization", None) or {}
    table = tables.get(0)
    if table is None or len(table) != 64:
        return None
    return jpeg_quality_from_table(list(table))


#: DC quantisation steps tried for an earlier compression (lattice periods of 2.1-32 grey
#: levels): 17 is about IJG quality 47, 255 below quality 4.
_EARLIER_DC_STEPS = np.arange(17, 256)
#: Block means are multiples of 1/8 grey level (a DC coefficient / 8): histogram bins of that.
_EIGHTH_BINS = 256 * 8
#: Least concentration on a lattice taken as an earlier compression (docs/quality.md, qg-15).
EARLIER_LATTICE_MIN = 0.6
_EARLIER_MIN_BLOCKS = 1000


@lru_cache(maxsize=1)
def _earlier_lattices() -> np.ndarray:
    """(steps, bins): each histogram bin's phase on each step's lattice (levels - 128 over the
    period, the step / 8), built once, on the first JPEG."""
    levels = np.arange(_EIGHTH_BINS) / 8.0 - 128.0
    periods = _EARLIER_DC_STEPS[:, None] / 8.0
    return np.exp(2j * np.pi * levels[None, :] / periods).astype(np.complex64)


def block_luminance(rgb: np.ndarray, block: int) -> np.ndarray:
    """Mean JFIF luminance of each ``block`` x ``block`` pixel square from the top-left corner
    (a JPEG decoded at 1 / reduction of its size: ``block`` = 8 / reduction, so each square is
    one 8 x 8 block of the file, and its mean luminance that block's DC coefficient / 8 + 128,
    up to rounding)."""
    rows, columns = rgb.shape[0] // block, rgb.shape[1] // block
    luminance = cv2.cvtColor(rgb[:rows * block, :columns * block].astype(np.float32),
                             cv2.COLOR_RGB2GRAY)
    if block == 1:
        return luminance
    return cv2.resize(luminance, (columns, rows), interpolation=cv2.INTER_AREA)


def earlier_jpeg_quality(block_means: np.ndarray, dc_step: int) -> float:
    """The quality of an earlier, harder JPEG compression that a file's block means still
    show, or 100.0 where they show none (docs/quality.md, qg-15).

    ``block_means``: :func:`block_luminance` of the decoded file; ``dc_step``: the file's own
    luminance DC quantisation step. Every save quantises the block means to multiples of its
    DC step / 8, and a later, finer save leaves them clustered on the earlier lattice: the
    largest concentration of the lit blocks' histogram on a lattice of a coarser step (at least
    twice the file's own; periods over half the interquartile range are not tried, where a
    narrow histogram would look periodic), if at least ``EARLIER_LATTICE_MIN``, gives the step,
    and the step the highest IJG quality with that DC step."""
    means = block_means[(block_means > 20.5) & (block_means < 244.5)]
    if means.size < _EARLIER_MIN_BLOCKS:
        return 100.0
    bins = np.clip(np.rint(means * 8).astype(np.int64), 0, _EIGHTH_BINS - 1)
    counts = np.bincount(bins, minlength=_EIGHTH_BINS).astype(np.float32)
    low, high = np.percentile(means, (25, 75))
    steps = _EARLIER_DC_STEPS
    tried = (steps >= 2 * dc_step) & (steps / 8.0 <= (high - low) / 2)
    if not tried.any():
        return 100.0
    # Element-wise over the filled bins, not a matrix product: numpy's BLAS would start a
    # thread pool whose spinning threads slow the grading model that runs next.
    filled = np.flatnonzero(counts)
    sums = (_earlier_lattices()[:, filled] * counts[filled]).sum(axis=1)
    concentration = np.where(tried, np.abs(sums) / means.size, 0.0)
    best = int(np.argmax(concentration))
    if concentration[best] < EARLIER_LATTICE_MIN:
        return 100.0
    step = int(steps[best])
    # IJG: step = floor((16 S + 50) / 100) with S = 5000 / quality below 50: the least S.
    return float(min(80000.0 / (100.0 * step - 50.0), 100.0))


def _jpeg_earlier_quality(header: Image.Image, rgb: np.ndarray, reduction: int) -> float | None:
    """:func:`earlier_jpeg_quality` of a JPEG file decoded at 1 / ``reduction`` of its size
    (its opened header, its pixels); None where its header has no luminance table."""
    table = (getattr(header, "quantization", None) or {}).get(0)
    if table is None or len(table) != 64:
        return None
    return earlier_jpeg_quality(block_luminance(rgb, 8 // reduction), int(table[0]))


def _check_dimensions(width: int, height: int) -> None:
    if width * height > MAX_PIXELS:
        raise ImageLoadError(
            f"image dimensions {width}x{height} are implausibly large (possible decompression bomb)"
        )
    if min(width, height) < MIN_SIDE:
        raise ImageLoadError(f"image is too small ({width}x{height} px) to be a fundus photograph")
    if max(width, height) / min(width, height) > MAX_ASPECT:
        raise ImageLoadError(f"image shape {width}x{height} is not that of a fundus photograph")


def _to_rgb_uint8(array: np.ndarray, bgr: bool) -> np.ndarray:
    """Any decoded array (gray, gray+alpha, RGB(A) or BGR(A), 8/16 bit or float) to RGB uint8."""
    if array.dtype == np.uint16:
        array = (array >> 8).astype(np.uint8)
    elif array.dtype != np.uint8:
        array = array.astype(np.float64)
        top = float(array.max()) if array.size else 1.0
        scale = 255.0 / top if top > 255 else (255.0 if top <= 1.0 else 1.0)
        array = np.clip(array * scale, 0, 255).astype(np.uint8)
    if array.ndim == 2:
        return cv2.cvtColor(array, cv2.COLOR_GRAY2RGB)
    channels = array.shape[2]
    if channels == 1:
        return cv2.cvtColor(array[:, :, 0], cv2.COLOR_GRAY2RGB)
    if channels == 2:
        return cv2.cvtColor(array[:, :, 0], cv2.COLOR_GRAY2RGB)
    if channels == 4:
        array = array[:, :, :3]
    elif channels != 3:
        raise ImageLoadError(f"unsupported number of colour channels ({channels})")
    return cv2.cvtColor(array, cv2.COLOR_BGR2RGB) if bgr else np.ascontiguousarray(array)


#: In entropy-coded data, 0xFF is followed by 0x00 (a stuffed byte) or a restart marker.
_ENTROPY_MARKER = re.compile(rb"\xff(?![\x00\xd0-\xd7\xff])")


def _jpeg_is_complete(data: bytes) -> bool:
    """True when the JPEG's marker segments and scans run, in order, to the main image's EOI.

    Walks the segments from SOI (skipping each segment's payload, so the EOI of an EXIF
    thumbnail does not count) and each scan's entropy-coded data to the next marker. A file
    cut short, or one whose scan data was overwritten with other bytes, fails; data a camera
    appends after the EOI is allowed.
    """
    if not data.startswith(b"\xff\xd8"):
        return False
    offset = 2
    size = len(data)
    while offset + 2 <= size:
        if data[offset] != 0xFF:
            return False
        marker = data[offset + 1]
        if marker == 0xFF:  # fill byte before a marker
            offset += 1
            continue
        if marker == 0xD9:  # EOI
            return True
        if 0xD0 <= marker <= 0xD7 or marker == 0x01:  # RSTn / TEM: no payload
            offset += 2
            continue
        if offset + 4 > size:
            return False
        length = int.from_bytes(data[offset + 2:offset + 4], "big")
        if length < 2:
            return False
        offset += 2 + length
        if offset > size:
            return False
        if marker == 0xDA:  # SOS: entropy-coded data follows, up to the next real marker
            match = _ENTROPY_MARKER.search(data, offset)
            if match is None:
                return False
            offset = match.start()
    return False


def _png_is_complete(data: bytes) -> bool:
    """True when the PNG's chunks lie within the file and end with IEND.

    Checked before decoding: OpenCV's PNG reader spends seconds on a chunk that declares a
    length of gigabytes, and a truncated PNG is refused here with a clear reason.
    """
    offset = 8
    while offset + 12 <= len(data):
        (length,) = struct.unpack_from(">I", data, offset)
        kind = data[offset + 4:offset + 8]
        offset += 12 + length
        if offset > len(data):
            return False
        if kind == b"IEND":
            return True
    return False


def _reduced_flag(width: int, height: int, max_side: int | None) -> tuple[int, int]:
    if max_side is None:
        return cv2.IMREAD_COLOR, 1
    longest = max(width, height)
    for factor, flag in ((8, cv2.IMREAD_REDUCED_COLOR_8), (4, cv2.IMREAD_REDUCED_COLOR_4),
                         (2, cv2.IMREAD_REDUCED_COLOR_2)):
        if longest / factor >= max_side:
            return flag, factor
    return cv2.IMREAD_COLOR, 1


def _exif_colour_profile(header: Image.Image) -> bytes | None:
    """Adobe RGB (1998)'s profile when a file without an embedded profile carries the Exif
    marks of a DCF camera in Adobe RGB mode (colour space "uncalibrated", interoperability
    index "R03"); None otherwise."""
    try:
        exif = header.getexif()
        if exif.get_ifd(0x8769).get(0xA001) != 0xFFFF:  # Exif ColorSpace
            return None
        index = exif.get_ifd(0xA005).get(1)  # InteroperabilityIndex
    except Exception:  # noqa: BLE001 - damaged Exif data says nothing about colour
        return None
    if isinstance(index, bytes):
        index = index.decode("ascii", "replace")
    return adobe_rgb_profile() if str(index or "").strip("\0 ") == "R03" else None


@dataclass(frozen=True)
class _Stored:
    """How a file stores its pixels, from its header: the ICC profile of their colour space
    (if it gives one) and the number of colours of its palette (None: no palette)."""

    icc: bytes | None = None
    palette_colours: int | None = None
    taken: str | None = None  # the camera's date (ISO yyyy-mm-dd) from its Exif data
    photographs: int = 1  # frames or full-resolution pages (``LoadedImage.photographs``)


def exif_date(header: Image.Image) -> str | None:
    """The date a camera says it took the photograph (Exif DateTimeOriginal, else
    DateTimeDigitized, else DateTime) as ISO yyyy-mm-dd; None where absent or implausible."""
    try:
        exif = header.getexif()
        details = exif.get_ifd(0x8769)
        value = details.get(0x9003) or details.get(0x9004) or exif.get(0x0132)
    except Exception:  # noqa: BLE001 - damaged Exif data gives no date
        return None
    if isinstance(value, bytes):
        value = value.decode("ascii", "replace")
    text = str(value or "").strip("\0 ")
    try:
        taken = dt.date(int(text[0:4]), int(text[5:7]), int(text[8:10]))
    except ValueError:
        return None
    return taken.isoformat() if 1990 <= taken.year <= 2100 and text[4:5] in ":-/" else None


def _palette_colours(header: Image.Image) -> int | None:
    """The number of entries of the palette a raster file's pixels index (2 for a bilevel
    image); None for true-colour and grey files."""
    if header.mode == "1":
        return 2
    if header.mode in ("P", "PA"):
        palette = header.getpalette()
        return len(palette) // 3 if palette else 256
    return None


def _decode_raster(data: bytes, max_side: int | None
                   ) -> tuple[np.ndarray, int, int, str, tuple[float | None, float | None],
                              _Stored]:
    """(pixels, width, height, format, (the file's JPEG quality, an earlier one), how the
    file stores them)."""
    rgb, width, height, fmt, compression, header = _decode_raster_pixels(data, max_side)
    icc = header.info.get("icc_profile")
    if not icc and fmt in ("JPEG", "TIFF"):
        icc = _exif_colour_profile(header)
    return rgb, width, height, fmt, compression, _Stored(icc or None, _palette_colours(header),
                                                         exif_date(header),
                                                         _tiff_photographs(header, fmt))


#: Pages of a TIFF file looked at (a file with more is counted as holding this many).
_TIFF_PAGES_READ = 16


def _tiff_photographs(header: Image.Image, fmt: str) -> int:
    """The pages of a TIFF file that are photographs of their own: those whose
    NewSubfileType does not mark them as a reduced-resolution copy (a thumbnail or preview of
    another page); 1 for other formats and for a file whose pages cannot be read."""
    if fmt != "TIFF":
        return 1
    count = 0
    try:
        for index in range(min(getattr(header, "n_frames", 1), _TIFF_PAGES_READ)):
            header.seek(index)
            if not int(header.tag_v2.get(254, 0)) & 1:
                count += 1
        header.seek(0)
    except Exception:  # noqa: BLE001 - a damaged page directory: the first page is screened
        return 1
    return max(count, 1)


def _decode_raster_pixels(data: bytes, max_side: int | None
                          ) -> tuple[np.ndarray, int, int, str,
                                     tuple[float | None, float | None], Image.Image]:
    """(pixels, width, height, format, (the file's JPEG quality, an earlier one), the opened
    header)."""
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            header = Image.open(io.BytesIO(data))
    except Image.DecompressionBombError as exc:
        raise ImageLoadError("image dimensions are implausibly large (decompression bomb)") from exc
    except Exception as exc:  # UnidentifiedImageError, and many types for malformed headers
        raise ImageLoadError("not an image file, or a damaged one") from exc
    fmt = (header.format or "").upper()
    if fmt not in SUPPORTED_FORMATS:
        raise ImageLoadError(
            f"unsupported image format {fmt or 'unknown'} (use JPEG, PNG, TIFF, BMP or DICOM)"
        )
    width, height = header.size
    _check_dimensions(width, height)
    try:
        frames = getattr(header, "n_frames", 1)
    except Exception as exc:  # e.g. a TIFF whose second directory is damaged
        raise ImageLoadError(f"{fmt} file is damaged (unreadable image directory)") from exc
    if frames > 1:
        log.info("multi-frame %s: decoding the first frame (a file of several photographs is "
                 "refused by the gate)", fmt)
    if fmt == "JPEG" and not _jpeg_is_complete(data):
        raise ImageLoadError("JPEG file is truncated or damaged (incomplete download or copy)")
    if fmt == "PNG" and not _png_is_complete(data):
        raise ImageLoadError("PNG file is damaged or truncated")

    buffer = np.frombuffer(data, np.uint8)
    file_quality = jpeg_file_quality(header) if fmt == "JPEG" else None
    compression = (file_quality, None)
    array: np.ndarray | None = None
    if fmt == "JPEG" and header.mode in ("L", "RGB", "YCbCr"):
        flag, reduction = _reduced_flag(width, height, max_side)
        array = cv2.imdecode(buffer, flag)
        if array is not None:
            rgb = _to_rgb_uint8(array, bgr=True)
            return rgb, width, height, fmt, (file_quality,
                                             _jpeg_earlier_quality(header, rgb, reduction)), header
    if fmt in ("PNG", "TIFF", "BMP"):
        array = cv2.imdecode(buffer, cv2.IMREAD_UNCHANGED)
        if array is not None and fmt != "TIFF":
            return _to_rgb_uint8(array, bgr=True), width, height, fmt, compression, header
    # Pillow handles what OpenCV does not (CMYK JPEG, unusual TIFF layouts) and applies EXIF.
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            image = Image.open(io.BytesIO(data))
            image = ImageOps.exif_transpose(image)
            image.load()
    except Exception as exc:  # OSError, ValueError, SyntaxError, and others from bad EXIF/IFDs
        raise ImageLoadError(f"{fmt} file is damaged or truncated") from exc
    if image.mode in ("I;16", "I;16B", "I;16L", "I"):
        pil_array = np.asarray(image)
        if image.mode == "I":
            pil_array = np.clip(pil_array, 0, 65535).astype(np.uint16)
        pixels = _to_rgb_uint8(pil_array.astype(np.uint16), bgr=False)
        return pixels, width, height, fmt, compression, header
    if fmt == "TIFF" and array is not None and array.dtype == np.uint16:
        return _to_rgb_uint8(array, bgr=True), width, height, fmt, compression, header
    if image.mode not in ("RGB", "L"):
        image = image.convert("RGB")
    return _to_rgb_uint8(np.asarray(image), bgr=False), width, height, fmt, compression, header


def dicom_value_text(value: object) -> str:
    """A DICOM element value as text. A backslash separates values in DICOM, so an ID such as
    ``A\\B`` is read as two values; they are joined back, not shown as a Python list."""
    if isinstance(value, list | tuple) or type(value).__name__ == "MultiValue":
        return "\\".join(str(v) for v in value)  # type: ignore[union-attr]
    return "" if value is None else str(value)


def _dicom_text(dataset, keyword: str) -> str | None:
    text = dicom_value_text(dataset.get(keyword)).strip()
    return text or None


def _dicom_date(value: str | None) -> str | None:
    if value and len(value) >= 8 and value[:8].isdigit():
        return f"{value[:4]}-{value[4:6]}-{value[6:8]}"
    return None


def _dicom_info(dataset) -> DicomInfo:  # noqa: ANN001 - pydicom Dataset
    laterality = _dicom_text(dataset, "ImageLaterality") or _dicom_text(dataset, "Laterality")
    name = _dicom_text(dataset, "PatientName")
    return DicomInfo(
        patient_id=_dicom_text(dataset, "PatientID"),
        patient_name=name.replace("^", " ").strip() if name else None,
        birth_date=_dicom_date(_dicom_text(dataset, "PatientBirthDate")),
        laterality={"R": "right", "L": "left"}.get((laterality or "").upper()[:1]),
        acquisition_date=_dicom_date(
            _dicom_text(dataset, "AcquisitionDateTime")
            or _dicom_text(dataset, "AcquisitionDate")
            or _dicom_text(dataset, "ContentDate")
            or _dicom_text(dataset, "StudyDate")
        ),
        study_uid=_dicom_text(dataset, "StudyInstanceUID"),
        study_date=_dicom_date(_dicom_text(dataset, "StudyDate")),
        sex=sex_code(_dicom_text(dataset, "PatientSex")) or None,
        accession=_dicom_text(dataset, "AccessionNumber"),
    )


def read_dicom_info(path: Path | str) -> DicomInfo | None:
    """Patient and acquisition tags of a DICOM file without decoding its image; None when the
    file is not a readable DICOM file (screening it then reports why)."""
    path = Path(path)
    if not is_dicom_file(path):
        return None
    try:
        import pydicom

        return _dicom_info(pydicom.dcmread(str(path), stop_before_pixels=True))
    except Exception:  # pydicom raises many types for damaged headers
        return None


def _decode_dicom(data: bytes
                  ) -> tuple[np.ndarray, int, int, DicomInfo, tuple[float | None, float | None],
                             _Stored]:
    """(RGB pixels, width, height, the DICOM header's details, (the first frame's JPEG quality,
    an earlier one), both None unless its pixel data is lossy JPEG, how it stores its pixels
    (ICC Profile attribute, palette))."""
    import pydicom

    # pydicom parses lazily and raises many exception types (NotImplementedError,
    # BytesLengthException, struct.error, ...) for damaged headers, also when a tag is read.
    try:
        dataset = pydicom.dcmread(io.BytesIO(data))
        info = _dicom_info(dataset)
        has_pixels = "PixelData" in dataset
        rows, columns = int(dataset.get("Rows", 0) or 0), int(dataset.get("Columns", 0) or 0)
        frames = int(dataset.get("NumberOfFrames", 1) or 1)
        photometric = str(dataset.get("PhotometricInterpretation", "RGB"))
    except Exception as exc:
        raise ImageLoadError("DICOM file is damaged or not a DICOM file") from exc
    if not has_pixels:
        raise ImageLoadError("DICOM file contains no image (no pixel data)")
    _check_dimensions(columns, rows)
    _check_dicom_decoder(dataset, photometric)
    try:
        if hasattr(dataset, "pixel_array_options"):
            # pydicom 3: decode the first frame only (a small multi-frame file can hold
            # thousands of compressed frames that would need gigabytes decoded); YBR colour is
            # converted to RGB by pydicom itself (as_rgb), so it must not be converted again.
            dataset.pixel_array_options(index=0, as_rgb=True)
            pixels = dataset.pixel_array
            ybr_converted = True
        else:  # pydicom 2.x decodes every frame and leaves YBR data as it is
            if frames > 1 and rows * columns * frames > MAX_PIXELS:
                raise ImageLoadError(f"DICOM file holds too many frames ({frames})")
            pixels = dataset.pixel_array
            if frames > 1:
                pixels = pixels[0]
            ybr_converted = False
    except ImageLoadError:
        raise
    except Exception as exc:  # pydicom raises many types for damaged or unsupported streams
        raise ImageLoadError("DICOM image data is damaged or uses an unsupported encoding") from exc
    if photometric.startswith("YBR") and pixels.ndim == 3 and not ybr_converted:
        from pydicom.pixels import convert_color_space

        pixels = convert_color_space(pixels, photometric, "RGB")
    if photometric == "MONOCHROME1":
        pixels = pixels.max() - pixels
    pixels = _to_rgb_uint8(np.asarray(pixels), bgr=False)
    stored = _dicom_stored(dataset, photometric)
    header = _dicom_jpeg_header(dataset)
    if header is None or pixels.shape[:2] != (rows, columns):
        return pixels, columns, rows, info, (None, None), stored
    return pixels, columns, rows, info, (jpeg_file_quality(header),
                                         _jpeg_earlier_quality(header, pixels, 1)), stored


def _dicom_stored(dataset, photometric: str) -> _Stored:  # noqa: ANN001 - a pydicom Dataset
    """A DICOM file's ICC Profile attribute, for PALETTE COLOR pixel data the number of
    entries of its lookup tables (a descriptor's first value; 0 means 65,536), and its number
    of frames."""
    try:
        icc = dataset.get("ICCProfile")
    except Exception:  # noqa: BLE001 - a damaged attribute says nothing about colour
        icc = None
    palette = None
    if photometric == "PALETTE COLOR":
        try:
            palette = int(dataset.RedPaletteColorLookupTableDescriptor[0]) or 65536
        except Exception:  # noqa: BLE001 - a damaged descriptor: still a palette
            palette = 256
    try:
        frames = max(int(dataset.get("NumberOfFrames", 1) or 1), 1)
    except (TypeError, ValueError):
        frames = 1
    return _Stored(bytes(icc) if isinstance(icc, bytes | bytearray) and icc else None, palette,
                   photographs=frames)


def _check_dicom_decoder(dataset, photometric: str) -> None:  # noqa: ANN001 - a Dataset
    """Raise an operator-readable error when the file's pixel data is compressed in an
    encoding this installation cannot decode (rather than calling the file damaged). Adds
    OpenCV's JPEG Lossless decoder to pydicom's first (:mod:`.dicom_lossless`)."""
    try:
        from pydicom.pixels import get_decoder
    except ImportError:  # pydicom 2.x: its decode error says what is missing
        return
    from . import dicom_lossless  # imports pydicom: loaded with the first DICOM file

    dicom_lossless.register()
    try:
        syntax = dataset.file_meta.TransferSyntaxUID
        if not syntax.is_compressed:
            return
        decoder = get_decoder(syntax)
        available = decoder.is_available
        if decoder.available_plugins == (dicom_lossless.PLUGIN_LABEL,):
            # Only OpenCV's plugin: 8-bit RGB or monochrome photographs (dicom_lossless).
            available = dicom_lossless.supported(int(dataset.get("BitsStored", 8) or 8),
                                                 int(dataset.get("SamplesPerPixel", 1) or 1),
                                                 photometric)
    except NotImplementedError:  # a transfer syntax pydicom has no decoder for at all
        available = False
    except Exception:  # noqa: BLE001 - a damaged header: the decode reports it
        return
    if not available:
        raise ImageLoadError(
            f"DICOM image encoding not supported ({syntax.name}): export the photographs as "
            "JPEG, JPEG 2000, JPEG-LS or uncompressed DICOM")


#: DICOM transfer syntaxes whose frames are baseline or extended (lossy) JPEG streams.
_LOSSY_JPEG_SYNTAXES = frozenset({"1.2.840.10008.1.2.4.50", "1.2.840.10008.1.2.4.51"})


def _dicom_jpeg_header(dataset) -> Image.Image | None:  # noqa: ANN001 - a pydicom Dataset
    """The opened (not decoded) JPEG header of a DICOM dataset's first frame, when its pixel
    data is lossy JPEG (as fundus cameras' DICOM exports often are), for what it says of the
    compression; None otherwise or when it cannot be read."""
    from pydicom.encaps import generate_frames

    try:
        if str(dataset.file_meta.TransferSyntaxUID) not in _LOSSY_JPEG_SYNTAXES:
            return None
        frames = int(dataset.get("NumberOfFrames", 1) or 1)
        first = next(generate_frames(dataset.PixelData, number_of_frames=frames))
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            return Image.open(io.BytesIO(first))
    except Exception:  # noqa: BLE001 - a measure, not a decode: unreadable means unknown
        return None


def load_image_bytes(data: bytes, max_side: int | None = None) -> LoadedImage:
    """Decode an in-memory file. ``max_side`` allows a faster reduced-scale JPEG decode."""
    if len(data) == 0:
        raise ImageLoadError("file is empty (0 bytes)")
    if len(data) > MAX_FILE_BYTES:
        raise ImageLoadError(f"file is too large ({len(data) / 2**20:.0f} MB) for a photograph")
    digest = hashlib.sha256(data).hexdigest()
    if _is_dicom(data):
        pixels, width, height, info, (file_quality, earlier), stored = _decode_dicom(data)
        pixels, profile = _in_srgb(pixels, stored.icc)
        return LoadedImage(pixels, width, height, "DICOM", digest, info, file_quality, earlier,
                           profile, stored.palette_colours, info.acquisition_date,
                           stored.photographs)
    pixels, width, height, fmt, (file_quality, earlier), stored = _decode_raster(data, max_side)
    if pixels.shape[1] != width and pixels.shape[0] == width:
        width, height = height, width  # EXIF rotation swapped the sides
    pixels, profile = _in_srgb(pixels, stored.icc)
    return LoadedImage(pixels, width, height, fmt, digest, jpeg_quality=file_quality,
                       earlier_jpeg_quality=earlier, colour_profile=profile,
                       palette_colours=stored.palette_colours, taken=stored.taken,
                       photographs=stored.photographs)


def _in_srgb(pixels: np.ndarray, icc: bytes | None) -> tuple[np.ndarray, str | None]:
    """The decoded pixels in sRGB (converted from the file's colour space, if another), and
    the name of the space they were converted from. The earlier-compression measure has
    already read the pixels as decoded: its lattice lies in the file's own numbers."""
    converted, profile = to_srgb(pixels, icc)
    if profile is not None:
        log.info("photograph converted to sRGB from its colour space (%s)", profile)
    return converted, profile


def _read_file(path: Path) -> bytes:
    """The bytes of a regular file, refusing folders, pipes and devices and over-large files
    before reading them (a pipe would block forever, a device such as /dev/zero never ends)."""
    if path.is_dir():
        raise ImageLoadError("is a folder, not an image file")
    # O_NONBLOCK: opening a named pipe must not wait for a writer.
    fd = os.open(path, os.O_RDONLY | getattr(os, "O_NONBLOCK", 0) | getattr(os, "O_BINARY", 0))
    with os.fdopen(fd, "rb") as handle:
        info = os.fstat(handle.fileno())
        if stat.S_ISDIR(info.st_mode):
            raise ImageLoadError("is a folder, not an image file")
        if not stat.S_ISREG(info.st_mode):
            raise ImageLoadError("not a regular file (a device, pipe or socket)")
        if info.st_size > MAX_FILE_BYTES:
            raise ImageLoadError(
                f"file is too large ({info.st_size / 2**20:.0f} MB) for a photograph")
        return handle.read(MAX_FILE_BYTES + 1)


def load_image(path: Path | str, max_side: int | None = None) -> LoadedImage:
    """Read and decode a photograph file. Raises :class:`ImageLoadError` with a reason."""
    path = Path(path)
    try:
        data = _read_file(path)
    except PermissionError as exc:
        raise ImageLoadError("permission denied: the file cannot be read") from exc
    except FileNotFoundError as exc:
        raise ImageLoadError("file not found") from exc
    except IsADirectoryError as exc:
        raise ImageLoadError("is a folder, not an image file") from exc
    except OSError as exc:
        raise ImageLoadError(f"file cannot be read ({exc.strerror or 'I/O error'})") from exc
    try:
        return load_image_bytes(data, max_side)
    except ImageLoadError as exc:
        # Decoded by content; where that fails, a known picture format says why better.
        if path.suffix.lower() in UNREAD_PICTURE_EXTENSIONS:
            raise ImageLoadError(UNREAD_FORMAT.format(path.suffix.lower())) from exc
        raise
