"""Camera faults applied to real photographs, for the degradation suite.

Every function takes and returns an RGB uint8 array (the photo as the app decodes it) and is
deterministic. The field-of-view geometry a fault needs (where the disc is) is measured on the
undamaged photo with a simple threshold, independently of :mod:`retina_screen.fov`, so a bug in
the FOV finder cannot make the test data easier.
"""

from __future__ import annotations

from dataclasses import dataclass

import cv2
import numpy as np


@dataclass(frozen=True)
class Disc:
    cx: float
    cy: float
    radius: float


def disc_of(rgb: np.ndarray) -> Disc:
    """The illuminated disc of an undamaged photo: centre from the lit region's extent, radius
    from its widest extent (photos cut at the top and bottom keep their full width)."""
    lit = rgb.max(axis=2) > 25
    rows = np.flatnonzero(lit.sum(axis=1) > 0.02 * lit.shape[1])
    cols = np.flatnonzero(lit.sum(axis=0) > 0.02 * lit.shape[0])
    x0, x1, y0, y1 = cols[0], cols[-1] + 1, rows[0], rows[-1] + 1
    radius = max(x1 - x0, y1 - y0) / 2
    return Disc((x0 + x1) / 2, (y0 + y1) / 2, radius)


def scale_exposure(rgb: np.ndarray, factor: float) -> np.ndarray:
    """Under- (factor < 1) or over-exposure (factor > 1), clipped like a sensor."""
    return np.clip(rgb.astype(np.float32) * factor, 0, 255).astype(np.uint8)


def gamma(rgb: np.ndarray, value: float) -> np.ndarray:
    """A wrong tone curve: out = 255 * (in / 255) ** value (value > 1 darkens the mid-tones)."""
    table = np.clip(255.0 * (np.arange(256) / 255.0) ** value + 0.5, 0, 255).astype(np.uint8)
    return cv2.LUT(rgb, table)


def eyelash_shadow(rgb: np.ndarray, depth: float, extent: float, seed: int = 0) -> np.ndarray:
    """A shadow over the upper field: the top ``extent`` of the disc's height is darkened to
    ``1 - depth`` of its brightness, with a soft lower edge and lash-like streaks."""
    disc = disc_of(rgb)
    h, w = rgb.shape[:2]
    top = disc.cy - disc.radius
    edge = top + 2 * disc.radius * extent
    soft = max(2.0, 0.08 * disc.radius)
    y = np.arange(h, dtype=np.float32)[:, None]
    shade = 1.0 / (1.0 + np.exp((y - edge) / soft))  # 1 above the edge, 0 below
    rng = np.random.default_rng(seed)
    x = np.arange(w, dtype=np.float32)[None, :]
    streaks = np.zeros((1, w), np.float32)
    for _ in range(12):  # a few dark, slanted lashes add texture to the shadow
        centre = rng.uniform(disc.cx - disc.radius, disc.cx + disc.radius)
        streaks += 0.3 * np.exp(-((x - centre) / (0.02 * disc.radius)) ** 2)
    darkness = np.clip(depth * shade * (1.0 + streaks * shade), 0.0, 0.97)
    out = rgb.astype(np.float32) * (1.0 - darkness)[..., None]
    return np.clip(out, 0, 255).astype(np.uint8)


def crop_field(rgb: np.ndarray, fraction: float) -> np.ndarray:
    """The field of view cropped to a concentric circle of ``fraction`` of its radius (black
    outside): a smaller disc inside the same frame."""
    disc = disc_of(rgb)
    mask = np.zeros(rgb.shape[:2], np.uint8)
    cv2.circle(mask, (round(disc.cx), round(disc.cy)), round(disc.radius * fraction), 1, -1)
    return rgb * mask[..., None]


def inside_field(rgb: np.ndarray, fraction: float) -> np.ndarray:
    """A square crop inside the field of view, ``fraction`` of its radius on each side of its
    centre: the photograph zoomed in, or its black border cut away (at 0.7 the largest square
    inside the field); no edge of the field is left in it."""
    disc = disc_of(rgb)
    half = int(disc.radius * fraction)
    x, y = int(disc.cx), int(disc.cy)
    return rgb[max(0, y - half):y + half, max(0, x - half):x + half].copy()


def layouts(right: np.ndarray, left: np.ndarray) -> dict[str, np.ndarray]:
    """Both eyes' photographs in one picture, as layout and report exports put them."""
    white = np.full((right.shape[0], 40, 3), 255, np.uint8)
    pair = np.concatenate([right, left], axis=1)
    return {"side by side": pair,
            "side by side on white": np.concatenate([right, white, left], axis=1),
            "stacked": np.concatenate([right, left], axis=0),
            "a grid of four": np.concatenate([pair, pair[:, ::-1]], axis=0)}


def on_light_backgrounds(rgb: np.ndarray) -> dict[str, np.ndarray]:
    """A photograph as a screenshot or a page shows it: on a light background."""
    height, width = rgb.shape[:2]
    band = width // 20
    window = np.full((height + 400, width + 700, 3), 200, np.uint8)
    window[200:200 + height, 350:350 + width] = rgb

    def margin(size: int, grey: int) -> np.ndarray:
        return cv2.copyMakeBorder(rgb, size, size, size, size, cv2.BORDER_CONSTANT,
                                  value=(grey, grey, grey))

    return {"white margin": margin(band, 255), "grey margin": margin(band, 128),
            "thin white frame": margin(10, 255), "a viewer's window": window}


def cut_side(rgb: np.ndarray, fraction: float, side: str = "left",
             frame: bool = False) -> np.ndarray:
    """The disc cut by ``fraction`` of its diameter on one side: blacked out inside the frame
    (``frame`` False, e.g. a misaligned camera or an eyelid), or cut off by the frame edge
    (``frame`` True, e.g. an export cropped off-centre)."""
    disc = disc_of(rgb)
    out = rgb.copy()
    h, w = rgb.shape[:2]
    cut = 2 * disc.radius * fraction
    if side == "left":
        edge = round(disc.cx - disc.radius + cut)
        if frame:
            return np.ascontiguousarray(rgb[:, max(edge, 0):])
        out[:, :max(edge, 0)] = 0
    elif side == "right":
        edge = round(disc.cx + disc.radius - cut)
        if frame:
            return np.ascontiguousarray(rgb[:, :min(edge, w)])
        out[:, min(edge, w):] = 0
    elif side == "top":
        edge = round(disc.cy - disc.radius + cut)
        if frame:
            return np.ascontiguousarray(rgb[max(edge, 0):])
        out[:max(edge, 0)] = 0
    else:
        edge = round(disc.cy + disc.radius - cut)
        if frame:
            return np.ascontiguousarray(rgb[:min(edge, h)])
        out[min(edge, h):] = 0
    return out


def green_only(rgb: np.ndarray) -> np.ndarray:
    """A red-free export: only the green channel kept (red and blue black)."""
    out = np.zeros_like(rgb)
    out[..., 1] = rgb[..., 1]
    return out


def green_as_grey(rgb: np.ndarray) -> np.ndarray:
    """A red-free export stored as a grey-scale picture of the green channel."""
    return np.repeat(rgb[..., 1:2], 3, axis=2)


def greyscale(rgb: np.ndarray) -> np.ndarray:
    """A monochrome (luminance) export."""
    grey = cv2.cvtColor(rgb, cv2.COLOR_RGB2GRAY)
    return np.repeat(grey[..., None], 3, axis=2)


def defocus(rgb: np.ndarray, percent_of_side: float) -> np.ndarray:
    """A Gaussian blur of ``percent_of_side`` percent of the photo's long side (defocus)."""
    return cv2.GaussianBlur(rgb, (0, 0), percent_of_side / 100 * max(rgb.shape[:2]))


def motion_blur(rgb: np.ndarray, fraction: float, angle: float = 0.0) -> np.ndarray:
    """The eye or camera moving during the exposure: a straight smear of ``fraction`` percent
    of the photo's width, at ``angle`` degrees from the horizontal."""
    length = max(3, int(rgb.shape[1] * fraction / 100)) | 1
    kernel = np.zeros((length, length), np.float32)
    kernel[length // 2, :] = 1.0
    centre = (length / 2 - 0.5, length / 2 - 0.5)
    kernel = cv2.warpAffine(kernel, cv2.getRotationMatrix2D(centre, angle, 1.0), (length, length))
    return cv2.filter2D(rgb, -1, kernel / kernel.sum())


def channel_misregistration(rgb: np.ndarray, fraction: float, angle: float = 0.0) -> np.ndarray:
    """A misaligned sensor or lateral chromatic aberration: the red channel moved by
    ``fraction`` percent of the photo's width at ``angle`` degrees from the horizontal, the
    blue channel as far the other way (sub-pixel, by interpolation)."""
    height, width = rgb.shape[:2]
    step = width * fraction / 100
    dx, dy = step * np.cos(np.radians(angle)), step * np.sin(np.radians(angle))
    out = rgb.copy()
    for channel, sign in ((0, 1.0), (2, -1.0)):
        move = np.float32([[1, 0, sign * dx], [0, 1, sign * dy]])
        out[..., channel] = cv2.warpAffine(rgb[..., channel], move, (width, height),
                                           flags=cv2.INTER_LINEAR,
                                           borderMode=cv2.BORDER_REPLICATE)
    return out


def double_exposure(rgb: np.ndarray, fraction: float, angle: float = 0.0) -> np.ndarray:
    """A double image (a ghost, or the eye moving between two flashes): the photo averaged
    with itself moved by ``fraction`` percent of its width at ``angle`` degrees."""
    height, width = rgb.shape[:2]
    step = width * fraction / 100
    move = np.float32([[1, 0, step * np.cos(np.radians(angle))],
                       [0, 1, step * np.sin(np.radians(angle))]])
    moved = cv2.warpAffine(rgb, move, (width, height), flags=cv2.INTER_LINEAR,
                           borderMode=cv2.BORDER_REFLECT)
    return ((rgb.astype(np.uint16) + moved) // 2).astype(np.uint8)


def posterise(rgb: np.ndarray, bits: int) -> np.ndarray:
    """A photo saved with ``bits`` bits per channel (2**bits brightness levels, each the middle
    of its band), as an export to a reduced colour depth does."""
    step = 2 ** (8 - bits)
    return (rgb // step * step + step // 2).astype(np.uint8)


def _radius_map(rgb: np.ndarray) -> tuple[Disc, np.ndarray, np.ndarray, np.ndarray]:
    """The disc, pixel column and row grids, and each pixel's distance from the disc's centre
    in disc radii."""
    disc = disc_of(rgb)
    yy, xx = np.ogrid[:rgb.shape[0], :rgb.shape[1]]
    return disc, xx, yy, np.hypot(xx - disc.cx, yy - disc.cy) / disc.radius


def media_opacity(rgb: np.ndarray, veil: float, blur_percent: float = 0.0) -> np.ndarray:
    """A cataract or vitreous haze: a share ``veil`` of a warm scattered-light colour mixed
    into the lit disc (lower contrast, lifted blacks), optionally with the blur such opacities
    bring (``blur_percent`` of the long side)."""
    _, _, _, r = _radius_map(rgb)
    share = (veil * (r <= 1.0)).astype(np.float32)[..., None]
    out = rgb * (1.0 - share) + share * np.array([210.0, 180.0, 140.0], np.float32)
    out = np.clip(out, 0, 255).astype(np.uint8)
    return defocus(out, blur_percent) if blur_percent > 0 else out


def yellowed_lens(rgb: np.ndarray) -> np.ndarray:
    """An ageing, yellowed lens: blue absorbed, red a little lifted, contrast flattened, a
    light veil."""
    cast = np.clip(rgb * np.array([1.15, 1.0, 0.75], np.float32), 0, 255)
    return media_opacity(contrast(cast, 0.7), 0.2)


def contrast(rgb: np.ndarray, factor: float) -> np.ndarray:
    """Contrast scaled about the mean colour of the lit pixels (a flat, hazy export)."""
    pixels = rgb.reshape(-1, 3).astype(np.float32)
    mean = pixels[pixels.max(axis=1) > 20].mean(axis=0)
    return np.clip((rgb - mean) * factor + mean, 0, 255).astype(np.uint8)


def rim_flare(rgb: np.ndarray, strength: float = 110.0, angle: float = 2.3) -> np.ndarray:
    """A bright crescent along the rim of the field (light reflected off the iris or cornea
    through a small pupil), centred at ``angle`` radians."""
    disc, xx, yy, r = _radius_map(rgb)
    direction = np.arctan2(yy - disc.cy, xx - disc.cx)
    arc = np.exp(-((r - 0.93) / 0.06) ** 2) * np.clip(np.cos(direction - angle), 0, 1) ** 2
    out = rgb + strength * (arc * (r <= 1.0))[..., None] * np.array([1.0, 0.9, 0.7])
    return np.clip(out, 0, 255).astype(np.uint8)


def haze_from_side(rgb: np.ndarray, amount: float = 80.0) -> np.ndarray:
    """Stray light over one half of the field, strongest at its edge (the camera off-axis)."""
    disc, xx, _, r = _radius_map(rgb)
    ramp = np.clip((xx - disc.cx) / disc.radius, 0, 1) ** 2
    out = rgb + (amount * ramp * (r <= 1.0))[..., None] * np.array([1.0, 0.85, 0.6])
    return np.clip(out, 0, 255).astype(np.uint8)


def small_pupil(rgb: np.ndarray, depth: float = 0.7) -> np.ndarray:
    """A small pupil: the outer half of the field falls off towards ``1 - depth`` of its
    brightness at the rim."""
    _, _, _, r = _radius_map(rgb)
    falloff = 1.0 - depth * np.clip((r - 0.5) / 0.5, 0, 1) ** 1.5
    return np.clip(rgb * falloff[..., None], 0, 255).astype(np.uint8)


def rotate(rgb: np.ndarray, degrees: float) -> np.ndarray:
    """Rotated about the photo's centre by ``degrees`` (black corners; a camera held
    askew, or an export straightened by hand)."""
    h, w = rgb.shape[:2]
    matrix = cv2.getRotationMatrix2D((w / 2, h / 2), degrees, 1.0)
    return cv2.warpAffine(rgb, matrix, (w, h), flags=cv2.INTER_LINEAR, borderValue=(0, 0, 0))


def stretch(rgb: np.ndarray, x: float, y: float) -> np.ndarray:
    """Resized by ``x`` across and ``y`` down (an export with the wrong aspect ratio: the
    field becomes an ellipse)."""
    h, w = rgb.shape[:2]
    return cv2.resize(rgb, (round(w * x), round(h * y)), interpolation=cv2.INTER_CUBIC)


def dust(rgb: np.ndarray, spots: int = 12, seed: int = 3) -> np.ndarray:
    """Dust on the lens or sensor: ``spots`` soft dark spots of 3-5 px inside the field."""
    disc, xx, yy, _ = _radius_map(rgb)
    rng = np.random.default_rng(seed)
    out = rgb.astype(np.float32)
    for _ in range(spots):
        angle, reach = rng.uniform(0, 2 * np.pi), rng.uniform(0, 0.8) * disc.radius
        cx, cy = disc.cx + reach * np.cos(angle), disc.cy + reach * np.sin(angle)
        size = rng.uniform(3, 5)
        out *= (1.0 - 0.5 * np.exp(-((xx - cx) ** 2 + (yy - cy) ** 2) / (2 * size ** 2)))[..., None]
    return np.clip(out, 0, 255).astype(np.uint8)


def equalised(rgb: np.ndarray, share: float = 1.0) -> np.ndarray:
    """The brightness histogram equalised (the V channel of HSV; hue and saturation kept), as
    a viewer's or an export's "auto-contrast" does, blended with the original at ``share``."""
    hsv = cv2.cvtColor(rgb, cv2.COLOR_RGB2HSV)
    hsv[..., 2] = cv2.equalizeHist(hsv[..., 2])
    out = cv2.cvtColor(hsv, cv2.COLOR_HSV2RGB)
    return cv2.addWeighted(out, share, rgb, 1.0 - share, 0.0) if share < 1.0 else out


def grey_world(rgb: np.ndarray, share: float = 1.0) -> np.ndarray:
    """A grey-world white balance ("auto colour"): each channel scaled so that the lit field's
    mean red, green and blue are equal, blended with the original at ``share``."""
    pixels = rgb.astype(np.float32)
    lit = pixels.max(axis=2) > 20
    means = pixels[lit].mean(axis=0) if lit.any() else pixels.reshape(-1, 3).mean(axis=0)
    balanced = pixels * (means.mean() / np.maximum(means, 1.0))
    blended = share * balanced + (1.0 - share) * pixels
    return np.clip(blended + 0.5, 0, 255).astype(np.uint8)


def channels_equalised(rgb: np.ndarray, share: float = 1.0) -> np.ndarray:
    """Each colour channel's histogram equalised on its own over the whole frame (as the
    shared ``eyepacs_equalised`` photos were), blended with the original at ``share``."""
    out = np.stack([cv2.equalizeHist(np.ascontiguousarray(rgb[..., c])) for c in range(3)],
                   axis=2)
    return cv2.addWeighted(out, share, rgb, 1.0 - share, 0.0) if share < 1.0 else out


def sensor_noise(rgb: np.ndarray, sigma: float, seed: int = 0) -> np.ndarray:
    """Grain of a high sensor gain: Gaussian noise of ``sigma`` grey levels on every channel
    (cameras then write a JPEG: combine with :func:`jpeg`)."""
    noise = np.random.default_rng(seed).normal(0.0, sigma, rgb.shape)
    return np.clip(rgb.astype(np.float32) + noise, 0, 255).astype(np.uint8)


def smudge(rgb: np.ndarray, radius: float, sigma: float) -> np.ndarray:
    """A smudge over the centre of the lens: the central disc of ``radius`` (of the height)
    blurred with ``sigma`` (of the width), blended in softly."""
    height, width = rgb.shape[:2]
    blurred = cv2.GaussianBlur(rgb, (0, 0), sigma * width)
    mask = np.zeros((height, width), np.float32)
    cv2.circle(mask, (width // 2, height // 2), int(radius * height), 1.0, -1)
    mask = cv2.GaussianBlur(mask, (0, 0), 0.05 * height)[..., None]
    return (rgb * (1 - mask) + blurred * mask).astype(np.uint8)


def interlace(rgb: np.ndarray, pixels: int) -> np.ndarray:
    """Interlaced rows: every other row moved sideways by ``pixels`` (a video frame whose two
    fields were captured out of step, or a line-scan fault)."""
    out = rgb.copy()
    out[1::2] = np.roll(rgb[1::2], pixels, axis=1)
    return out


def jpeg(rgb: np.ndarray, quality: int) -> np.ndarray:
    """Re-compressed as JPEG at ``quality`` and decoded again."""
    ok, data = cv2.imencode(".jpg", cv2.cvtColor(rgb, cv2.COLOR_RGB2BGR),
                            [cv2.IMWRITE_JPEG_QUALITY, quality])
    assert ok
    return cv2.cvtColor(cv2.imdecode(data, cv2.IMREAD_COLOR), cv2.COLOR_BGR2RGB)


def downscale(rgb: np.ndarray, long_side: int) -> np.ndarray:
    """Downscaled so that the long side is ``long_side`` (area interpolation)."""
    h, w = rgb.shape[:2]
    scale = long_side / max(h, w)
    if scale >= 1:
        return rgb
    return cv2.resize(rgb, (round(w * scale), round(h * scale)), interpolation=cv2.INTER_AREA)


def camera_size_jpeg(rgb: np.ndarray, quality: int, long_side: int = 3872) -> bytes:
    """The photo enlarged (bicubic) so that its long side is a camera's, as the bytes of a JPEG
    file saved at ``quality``; a reader decodes it at reduced scale, as the engine does."""
    h, w = rgb.shape[:2]
    scale = long_side / max(h, w)
    large = cv2.resize(rgb, (round(w * scale), round(h * scale)), interpolation=cv2.INTER_CUBIC)
    ok, data = cv2.imencode(".jpg", cv2.cvtColor(large, cv2.COLOR_RGB2BGR),
                            [cv2.IMWRITE_JPEG_QUALITY, quality])
    assert ok
    return data.tobytes()


def resaved_jpeg(data: bytes, quality: int) -> bytes:
    """A JPEG file decoded in full and saved again, at the same size, at ``quality`` (as
    software that opens and re-saves a photo does: the 8 x 8 block grid is kept)."""
    decoded = cv2.imdecode(np.frombuffer(data, np.uint8), cv2.IMREAD_COLOR)
    ok, again = cv2.imencode(".jpg", decoded, [cv2.IMWRITE_JPEG_QUALITY, quality])
    assert ok
    return again.tobytes()


def palette_png(rgb: np.ndarray, colours: int) -> bytes:
    """The photo as the bytes of a palette PNG of ``colours`` colours (Pillow's median cut,
    dithered), as image optimisers and GIF-like exports store a photo."""
    import io

    from PIL import Image

    buffer = io.BytesIO()
    Image.fromarray(rgb).quantize(colours).save(buffer, "PNG")
    return buffer.getvalue()


CAMERA_TEXT = ("DOE^JANE  ID 00412873", "2026-11-29 10:41:07", "OD  45deg  FLASH 50")


def border_text(rgb: np.ndarray, lines: tuple[str, ...] = CAMERA_TEXT,
                colour: tuple[int, int, int] = (255, 255, 255)) -> np.ndarray:
    """Camera-style text (name, date, eye) burned into the black corners outside the disc.

    The font shrinks until every line's box lies outside the disc, as a camera places it."""
    out = np.ascontiguousarray(rgb.copy())
    h, w = out.shape[:2]
    disc = disc_of(rgb)
    font = cv2.FONT_HERSHEY_SIMPLEX

    def outside(x0: float, y0: float, x1: float, y1: float) -> bool:
        corners = ((x0, y0), (x1, y0), (x0, y1), (x1, y1))
        # The box's nearest point to the centre must lie outside the disc (with a margin).
        nx = min(max(disc.cx, x0), x1)
        ny = min(max(disc.cy, y0), y1)
        del corners
        return bool(np.hypot(nx - disc.cx, ny - disc.cy) > disc.radius * 1.03)

    scale = max(0.4, h / 900)
    while scale > 0.2:
        thickness = max(1, round(scale * 1.6))
        line_h = round(30 * scale) + 4
        boxes = []
        for corner in range(4):
            for number, text in enumerate(lines):
                (tw, th), _ = cv2.getTextSize(text, font, scale, thickness)
                x = 0.01 * w if corner in (0, 2) else w - 0.01 * w - tw
                y = (0.02 * h + (number + 1) * line_h if corner in (0, 1)
                     else h - 0.02 * h - (len(lines) - number - 1) * line_h)
                boxes.append((corner, text, x, y, tw, th))
        fits = [all(outside(x, y - th, x + tw, y + 3) for c, _, x, y, tw, th in boxes if c == k)
                for k in range(4)]
        if sum(fits) >= 2:
            break
        scale *= 0.85
    for corner, text, x, y, _, _ in boxes:
        if fits[corner]:
            cv2.putText(out, text, (round(x), round(y)), font, scale, colour, thickness,
                        cv2.LINE_AA)
    return out


def text_inside(rgb: np.ndarray, text: str = "R 2026-11-29 DOE^JANE") -> np.ndarray:
    """Overlay text burned into the retina itself (across the middle of the disc)."""
    out = np.ascontiguousarray(rgb.copy())
    disc = disc_of(rgb)
    scale = max(0.5, disc.radius / 300)
    thickness = max(1, round(disc.radius / 150))
    (tw, th), _ = cv2.getTextSize(text, cv2.FONT_HERSHEY_SIMPLEX, scale, thickness)
    origin = (round(disc.cx - tw / 2), round(disc.cy + disc.radius * 0.55))
    cv2.putText(out, text, origin, cv2.FONT_HERSHEY_SIMPLEX, scale, (255, 255, 255), thickness,
                cv2.LINE_AA)
    return out
