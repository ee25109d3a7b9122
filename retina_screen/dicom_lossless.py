"""JPEG Lossless DICOM frames (processes 14 and 14 SV1) decoded by OpenCV, as a pydicom plugin.

Archives (PACS) often store what a camera sends them as JPEG Lossless, and pydicom decodes it
only through GDCM or the GPL-licensed libjpeg. OpenCV's bundled libjpeg-turbo (3.0 and later)
decodes lossless JPEG streams itself, so this module registers OpenCV as one more decoder
plugin of pydicom for those two transfer syntaxes (:func:`register`). It takes 8-bit
photographs only, colour (Photometric Interpretation RGB) or grey (MONOCHROME1/2): what a
fundus camera produces. Other forms keep pydicom's own "no decoder" answer
(:func:`supported`).

A lossless colour stream carries no colour transform (DICOM PS3.5 8.2.1): its components are
red, green and blue, and libjpeg-turbo decodes them as they are, with or without a colour
marker (tested with streams of both kinds).

This module is not used directly: :mod:`.loading` registers it before reading DICOM pixels.
"""

from __future__ import annotations

import threading
from functools import lru_cache

import cv2
import numpy as np
from pydicom import uid

#: Transfer syntaxes this plugin decodes.
LOSSLESS_SYNTAXES = (uid.JPEGLossless, uid.JPEGLosslessSV1)
DECODER_DEPENDENCIES = {syntax: ("opencv-python-headless",) for syntax in LOSSLESS_SYNTAXES}
PLUGIN_LABEL = "retina-screen-opencv"

_SOI = b"\xff\xd8"
#: A 2x2 RGB lossless JPEG (predictor 1): decoding it tells whether OpenCV can.
_PROBE = bytes.fromhex(
    "ffd8ffee000e41646f626500640000000000ffc30011080002000203521100471100421100ffc40017000003"
    "010000000000000000000000000005060708ffda000c0352004700420001000084d223a7b349e7c83be6b497"
    "b37fffd9")
_PROBE_PIXELS = np.array([[[10, 200, 30], [40, 50, 60]], [[70, 80, 90], [250, 0, 128]]],
                         np.uint8)


@lru_cache(maxsize=1)
def _opencv_decodes_lossless() -> bool:
    decoded = cv2.imdecode(np.frombuffer(_PROBE, np.uint8), cv2.IMREAD_COLOR)
    return decoded is not None and np.array_equal(decoded[..., ::-1], _PROBE_PIXELS)


def is_available(syntax: str) -> bool:
    """pydicom's plugin check: whether this plugin can decode ``syntax`` here."""
    return syntax in LOSSLESS_SYNTAXES and _opencv_decodes_lossless()


def supported(bits_stored: int, samples_per_pixel: int, photometric: str) -> bool:
    """Whether a JPEG Lossless image of this form is one this plugin decodes."""
    if bits_stored > 8:
        return False
    if samples_per_pixel == 1:
        return photometric in ("MONOCHROME1", "MONOCHROME2")
    return samples_per_pixel == 3 and photometric == "RGB"


def _segments(stream: bytes) -> list[tuple[int, int, int]]:
    """(marker, start, end) of each header segment after SOI, up to and including SOS."""
    found = []
    position = 2
    while position + 4 <= len(stream) and stream[position] == 0xFF:
        marker = stream[position + 1]
        if marker == 0xFF:  # fill byte
            position += 1
            continue
        end = position + 2 + int.from_bytes(stream[position + 2:position + 4], "big")
        found.append((marker, position, end))
        if marker == 0xDA:
            break
        position = end
    return found


def is_lossless_stream(stream: bytes) -> bool:
    """Whether ``stream`` is a JPEG whose frame is lossless (SOF3), not a baseline stream
    under a lossless label."""
    return stream.startswith(_SOI) and any(marker == 0xC3 for marker, _, _ in _segments(stream))


def _decode_frame(src: bytes, runner) -> bytes:  # noqa: ANN001 - pydicom's DecodeRunner
    """pydicom's plugin entry: one frame's pixels, colour by pixel, 8 bits a sample."""
    samples = runner.samples_per_pixel
    if not supported(runner.bits_stored, samples, str(runner.photometric_interpretation)):
        raise NotImplementedError("only 8-bit RGB or monochrome JPEG Lossless is decoded")
    if not is_lossless_stream(src):
        raise ValueError("the frame is not a lossless JPEG stream")
    flags = (cv2.IMREAD_COLOR if samples == 3 else cv2.IMREAD_GRAYSCALE) \
        | cv2.IMREAD_IGNORE_ORIENTATION
    decoded = cv2.imdecode(np.frombuffer(src, np.uint8), flags)
    if decoded is None or decoded.shape[:2] != (runner.rows, runner.columns):
        raise ValueError("the lossless JPEG frame could not be decoded")
    if samples == 3:
        decoded = cv2.cvtColor(decoded, cv2.COLOR_BGR2RGB)
    return np.ascontiguousarray(decoded).tobytes()


_registered = False
_register_lock = threading.Lock()  # pydicom's add_plugin is not thread-safe (GUI workers)


def register() -> None:
    """Add this plugin to pydicom's JPEG Lossless decoders (once; harmless to repeat)."""
    global _registered
    with _register_lock:
        if _registered:
            return
        _registered = True
        try:
            from pydicom.pixels.decoders import JPEGLosslessDecoder, JPEGLosslessSV1Decoder
        except ImportError:  # pydicom 2.x has no decoder plugins: its own decoders only
            return
        for decoder in (JPEGLosslessDecoder, JPEGLosslessSV1Decoder):
            decoder.add_plugin(PLUGIN_LABEL, (__name__, "_decode_frame"))
