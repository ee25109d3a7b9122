"""Colour spaces of decoded photographs: everything downstream (quality gate, model) expects sRGB.

A camera set to Adobe RGB (1998), or software that saved the photo in another colour space,
writes the same colours as less saturated numbers; read as sRGB they look washed out, and the
model scores some referable eyes well below the threshold (README, Safety). So a photograph's
pixels are converted to sRGB when the file says they are in another space: an embedded ICC
profile (JPEG, PNG, TIFF, DICOM), or, without one, the Exif marks of a DCF camera in Adobe RGB
mode (colour space "uncalibrated" with the interoperability index "R03").
"""

from __future__ import annotations

import functools
import io
import logging
import struct

import numpy as np

log = logging.getLogger(__name__)

#: sRGB's red, green and blue colorants (XYZ, adapted to D50 as ICC profiles store them).
_SRGB_COLORANTS = ((0.4361, 0.2225, 0.0139), (0.3851, 0.7169, 0.0971), (0.1431, 0.0606, 0.7141))
#: Adobe RGB (1998)'s colorants, adapted to D50 (the values of Adobe's own profile), and its
#: tone curve, a pure gamma of 563/256.
_ADOBE_COLORANTS = ((0.60974, 0.31111, 0.01947), (0.20528, 0.62567, 0.06087),
                    (0.14919, 0.06322, 0.74457))
_ADOBE_GAMMA_U8F8 = 563
_D50 = (0.9642, 1.0, 0.8249)
_D65 = (0.9505, 1.0, 1.0891)
ADOBE_RGB_NAME = "Adobe RGB (1998)"


def _s15f16(values: tuple[float, ...]) -> bytes:
    return b"".join(struct.pack(">i", round(v * 65536)) for v in values)


def _xyz_tag(xyz: tuple[float, float, float]) -> bytes:
    return b"XYZ \0\0\0\0" + _s15f16(xyz)


def _text_description(text: str) -> bytes:
    ascii_text = text.encode("ascii") + b"\0"
    return (b"desc\0\0\0\0" + struct.pack(">I", len(ascii_text)) + ascii_text
            + struct.pack(">II", 0, 0) + struct.pack(">HB", 0, 0) + b"\0" * 67)


def _matrix_profile(name: str, colorants: tuple[tuple[float, float, float], ...],
                   gamma_u8f8: int, white: tuple[float, float, float] = _D65) -> bytes:
    """An ICC version 2 display profile of an RGB space given by its D50-adapted colorants
    and one gamma tone curve (an 8.8 fixed-point number), as colour-managed software writes
    for Adobe RGB (1998)."""
    curve = b"curv\0\0\0\0" + struct.pack(">IH", 1, gamma_u8f8) + b"\0\0"
    tags = [(b"desc", _text_description(name)), (b"cprt", b"text\0\0\0\0No copyright\0"),
            (b"wtpt", _xyz_tag(white)), (b"rXYZ", _xyz_tag(colorants[0])),
            (b"gXYZ", _xyz_tag(colorants[1])), (b"bXYZ", _xyz_tag(colorants[2])),
            (b"rTRC", curve), (b"gTRC", curve), (b"bTRC", curve)]
    offset = 128 + 4 + 12 * len(tags)
    table, body = [], b""
    for signature, data in tags:
        table.append(signature + struct.pack(">II", offset + len(body), len(data)))
        body += data + b"\0" * (-len(data) % 4)
    size = offset + len(body)
    header = (struct.pack(">I", size) + b"\0\0\0\0" + struct.pack(">I", 0x02100000) + b"mntr"
              + b"RGB XYZ " + b"\0" * 12 + b"acsp" + b"\0" * 24 + struct.pack(">I", 0)
              + _s15f16(_D50) + b"\0" * 48)
    return header + struct.pack(">I", len(tags)) + b"".join(table) + body


@functools.cache
def adobe_rgb_profile() -> bytes:
    """An ICC profile of Adobe RGB (1998)."""
    return _matrix_profile(ADOBE_RGB_NAME, _ADOBE_COLORANTS, _ADOBE_GAMMA_U8F8)


def _is_srgb(profile) -> bool:  # noqa: ANN001 - a PIL.ImageCms core profile
    colorants = (profile.red_colorant, profile.green_colorant, profile.blue_colorant)
    if any(c is None for c in colorants):
        return False
    return all(abs(got - want) < 0.005 for colorant, expected in zip(colorants, _SRGB_COLORANTS,
                                                                     strict=True)
               for got, want in zip(colorant[0], expected, strict=True))


@functools.lru_cache(maxsize=8)
def _transform_to_srgb(icc: bytes):  # noqa: ANN202 - (PIL ImageCms transform or None, name)
    """(the transform from ``icc`` to sRGB, the profile's name); (None, name) when the profile
    is sRGB itself, (None, None) when it is not an RGB profile or cannot be read."""
    from PIL import ImageCms

    try:
        source = ImageCms.ImageCmsProfile(io.BytesIO(icc))
        name = (ImageCms.getProfileDescription(source) or "").strip() or "unnamed profile"
        if source.profile.xcolor_space.strip() != "RGB":
            return None, None
        if _is_srgb(source.profile):
            return None, name
        transform = ImageCms.buildTransform(
            source, ImageCms.createProfile("sRGB"), "RGB", "RGB",
            renderingIntent=ImageCms.Intent.RELATIVE_COLORIMETRIC)
    except Exception:  # noqa: BLE001 - a damaged profile: the pixels are taken as sRGB
        log.warning("a photograph's colour profile could not be read; taken as sRGB")
        return None, None
    return transform, name


def to_srgb(rgb: np.ndarray, icc: bytes | None) -> tuple[np.ndarray, str | None]:
    """``rgb`` (uint8, H x W x 3) converted from the colour space of the ICC profile ``icc``
    to sRGB, and the profile's name; unchanged (name None) when ``icc`` is None, sRGB, not
    an RGB profile or unreadable."""
    if not icc:
        return rgb, None
    transform, name = _transform_to_srgb(bytes(icc))
    if transform is None:
        return rgb, None
    from PIL import Image, ImageCms

    converted = ImageCms.applyTransform(Image.fromarray(np.ascontiguousarray(rgb)), transform)
    return np.asarray(converted).copy(), name
