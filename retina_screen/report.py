"""The printable PDF screening report and referral letter (reportlab, offline).

Page 1 is the patient's report: the clinic header (logo, name, address, report ID, date and
time, operator), the outcome in a large box at the top, the patient's details, the notes, each
eye's photographs (thumbnail, quality verdict with reasons, DR grade in words, probability of
referable DR, and a heatmap where the model found something), then the model, thresholds and
intended use. When the outcome is a referral, a referral letter to the eye service with
signature and date fields follows on its own page. "Images insufficient" is not a referral: it
gets a retake / human-grading note on page 1 (what is missing or failed, per eye, and fields for
the human grader). For a negative result no letter is made: page 1 says "No referral needed"
with the action and interval from the referral table instead.

The report decides nothing. The outcome wording (headline, action, time frame, urgency) is
``result.referral``, a row of the engine's referral table; grades and probabilities are the
engine's.

Printing: the outcome is readable without colour (bold boxed text and a symbol whose shape
differs per outcome: triangle = refer, circle with "?" = insufficient, circle with a tick =
no referable DR). Fonts: DejaVu Sans (regular and bold, ``assets/fonts``) is embedded as a
subset. Runs of Chinese, Japanese or Korean characters use WenQuanYi Micro Hei
(``assets/fonts/wqy-microhei.ttc``, Apache-2.0), also embedded as a subset (a few KB per
name); only where that file is missing do they fall back to reportlab's built-in CID fonts
(STSong-Light, HeiseiMin-W3, HYSMyeongJo-Medium; not embedded, the viewer supplies them), and
:func:`cjk_embedded` tells the GUI to warn before printing.
Characters that neither can print correctly (right-to-left scripts such as Arabic and Hebrew,
which would need shaping, and scripts DejaVu Sans lacks) are printed as "?" with a note asking
the reader to check the name against the patient record: never as missing-glyph boxes.

Thumbnails are the engine's display crops (``ImageResult.display_image``) embedded as JPEG.
"""

from __future__ import annotations

import datetime as dt
import functools
import io
import logging
import os
import re
import secrets
import threading
import unicodedata
from collections.abc import Callable
from pathlib import Path
from xml.sax.saxutils import escape

import cv2
import numpy as np
from PIL import Image as PILImage
from reportlab import rl_config
from reportlab.graphics.shapes import Circle, Drawing, Polygon, PolyLine, String
from reportlab.lib import colors
from reportlab.lib.enums import TA_CENTER, TA_RIGHT
from reportlab.lib.pagesizes import A4, LETTER
from reportlab.lib.styles import ParagraphStyle
from reportlab.lib.units import mm
from reportlab.pdfbase import pdfmetrics
from reportlab.pdfbase.cidfonts import UnicodeCIDFont
from reportlab.pdfbase.ttfonts import TTFError, TTFont
from reportlab.pdfgen.canvas import Canvas
from reportlab.platypus import (
    BaseDocTemplate,
    Flowable,
    Frame,
    HRFlowable,
    Image,
    KeepTogether,
    PageBreak,
    PageTemplate,
    Paragraph,
    Spacer,
    Table,
    TableStyle,
)

from .atomic import write_atomic
from .errors import OutputError
from .i18n import Catalogue, resolve_language
from .overlay import heatmap_overlay
from .results import (
    ICDR_LABELS,
    SEXES,
    Eye,
    EyeResult,
    ImageResult,
    ImageStatus,
    Outcome,
    PatientResult,
)
from .settings import RESOURCE_ROOT, Settings

log = logging.getLogger(__name__)

# Binary PDF streams, not ASCII85 text: without reportlab's optional C accelerator its ASCII85
# encoder is pure Python and took a quarter to a third of a report's time (one photo 38 -> 27
# ms, four photos 50 -> 38 ms; README Speed); the files are also about 12% smaller. Every PDF
# reader supports both.
rl_config.useA85 = 0

FONT_DIR = RESOURCE_ROOT / "assets" / "fonts"
REGULAR = "DejaVuSans"
BOLD = "DejaVuSans-Bold"
CJK = "WenQuanYiMicroHei"
CJK_FILE = FONT_DIR / "wqy-microhei.ttc"
PAGE_SIZES = {"A4": A4, "Letter": LETTER}
#: Thumbnail long side in pixels (about 190 dpi at the printed 42 mm) and its JPEG quality.
THUMB_PX = 320
JPEG_QUALITY = 82
UNPRINTABLE = "?"
UNKNOWN = "not recorded"
#: The most a report prints of one user-supplied value (a name, an ID, an address line) and of
#: the clinic's address lines. Longer text is shortened with an ellipsis: reportlab cannot
#: split a table cell across pages, so a name of a few thousand characters (a hostile DICOM
#: or worklist entry) failed the report, and with it the batch (a report error stops the run).
FIELD_MAX_CHARS = 200
ADDRESS_MAX_LINES = 8
FOOTER_ID_MAX_CHARS = 48  # the footer keeps to one line (the full ID is on page 1)
SHORTENED = "\u2026"

_MARGIN = 15 * mm
_THUMB = 40 * mm
_INK = colors.black
_GREY = colors.Color(0.35, 0.35, 0.35)
_RULE = colors.Color(0.6, 0.6, 0.6)
_SHADE = colors.Color(0.93, 0.93, 0.93)

#: Per outcome: accent colour, background tint, box line width, symbol.
_LOOK = {
    Outcome.REFER_URGENT: (colors.Color(0.72, 0.08, 0.08), colors.Color(0.99, 0.9, 0.9), 3.0,
                           "triangle-solid"),
    Outcome.REFER: (colors.Color(0.72, 0.08, 0.08), colors.Color(0.99, 0.92, 0.92), 2.5,
                    "triangle"),
    Outcome.INSUFFICIENT: (colors.Color(0.62, 0.38, 0.0), colors.Color(1.0, 0.95, 0.85), 2.5,
                           "question"),
    Outcome.NO_REFERABLE: (colors.Color(0.08, 0.42, 0.18), colors.Color(0.91, 0.97, 0.92), 1.5,
                           "tick"),
}
_EYE_OUTCOME_WORDS = {
    Outcome.NO_REFERABLE: "no referable DR",
    Outcome.INSUFFICIENT: "images insufficient",
    Outcome.REFER: "referable DR",
    Outcome.REFER_URGENT: "referable DR (urgent)",
}

INTENDED_USE = (
    "Intended use and limits: this software screens colour fundus photographs for diabetic "
    "retinopathy only. It does not detect other eye disease (for example glaucoma, age-related "
    "macular degeneration, retinal vein occlusion or tumours) and does not grade diabetic macular "
    "oedema separately, so a result of no referable retinopathy does not rule these out. It is "
    "for research use and is not cleared for clinical diagnosis: a qualified grader or clinician "
    "should confirm every result. Probabilities are the model's outputs, not measured risks. "
    "Heatmaps show the regions that most influenced the model's grade (brighter = more "
    "influence); they do not mark lesions."
)
NO_LETTER = "No referral letter is produced for this result."
NOTHING_STOOD_OUT = "No heatmap: nothing stood out to the model"
#: A heatmap is printed only where the model found something: a graded photograph of DR grade 1
#: or worse, or one whose map has a clear peak. Elsewhere it would be a flat grey overlay.
HEATMAP_MIN_PEAK = 0.05


def heatmap_worth_showing(grading) -> bool:  # noqa: ANN001  Grading
    if grading is None or grading.heatmap is None:
        return False
    peak = float(np.nanmax(grading.heatmap)) if np.size(grading.heatmap) else 0.0
    return peak > HEATMAP_MIN_PEAK and (grading.grade >= 1 or grading.referable)


# --------------------------------------------------------------------------------------------
# Fonts and text


_font_lock = threading.Lock()
_coverage: frozenset[int] | None = None
_cid_registered: set[str] = set()
_cjk_coverage: frozenset[int] | None = None

#: Code point ranges printed with a CID font (BMP only: the CID encodings are UCS-2).
_CJK_RANGES = (
    (0x1100, 0x11FF), (0x2E80, 0x2FDF), (0x3000, 0x303F), (0x3040, 0x30FF), (0x3100, 0x312F),
    (0x3130, 0x318F), (0x31A0, 0x31FF), (0x3200, 0x33FF), (0x3400, 0x4DBF), (0x4E00, 0x9FFF),
    (0xAC00, 0xD7AF), (0xF900, 0xFAFF), (0xFE30, 0xFE4F), (0xFF00, 0xFFEF),
)
_RTL_CLASSES = frozenset({"R", "AL", "AN"})


def _fonts() -> frozenset[int]:
    """Register the embedded fonts once; the code points both DejaVu fonts can print."""
    global _coverage
    with _font_lock:
        if _coverage is None:
            try:
                regular = TTFont(REGULAR, str(FONT_DIR / "DejaVuSans.ttf"))
                bold = TTFont(BOLD, str(FONT_DIR / "DejaVuSans-Bold.ttf"))
            except OSError as exc:
                raise OutputError(
                    f"the report fonts are missing from {FONT_DIR}: reinstall the application"
                ) from exc
            pdfmetrics.registerFont(regular)
            pdfmetrics.registerFont(bold)
            pdfmetrics.registerFontFamily(REGULAR, normal=REGULAR, bold=BOLD, italic=REGULAR,
                                          boldItalic=BOLD)
            _coverage = frozenset(regular.face.charToGlyph) & frozenset(bold.face.charToGlyph)
        return _coverage


def _cid_font(name: str) -> str:
    with _font_lock:
        if name not in _cid_registered:
            pdfmetrics.registerFont(UnicodeCIDFont(name))
            _cid_registered.add(name)
    return name


def _cjk_font() -> frozenset[int]:
    """Register the embeddable CJK font once; the code points it has (empty: no font file)."""
    global _cjk_coverage
    with _font_lock:
        if _cjk_coverage is None:
            try:
                font = TTFont(CJK, str(CJK_FILE), subfontIndex=0)
            except (OSError, ValueError, TTFError):
                log.warning("the CJK report font is missing: Chinese, Japanese and Korean "
                            "names use fonts the PDF viewer must supply")
                _cjk_coverage = frozenset()
            else:
                pdfmetrics.registerFont(font)
                _cjk_coverage = frozenset(font.face.charToGlyph)
        return _cjk_coverage


def cjk_embedded(text: str) -> bool:
    """True when every Chinese, Japanese or Korean character of ``text`` prints in an embedded
    font (always true for text without such characters)."""
    codes = {ord(ch) for ch in text if _is_cjk(ord(ch))}
    return not codes or codes <= _cjk_font()


def _is_cjk(code: int) -> bool:
    # Most text is below the first range: answered without walking the ranges.
    return code >= _CJK_RANGES[0][0] and any(low <= code <= high for low, high in _CJK_RANGES)


def _cjk_font_for(text: str) -> str:
    """Korean, Japanese or (default) Chinese CID font, from the characters present."""
    codes = [ord(ch) for ch in text]
    if any(0xAC00 <= c <= 0xD7AF or 0x1100 <= c <= 0x11FF or 0x3130 <= c <= 0x318F
           for c in codes):
        return "HYSMyeongJo-Medium"
    if any(0x3040 <= c <= 0x30FF for c in codes):
        return "HeiseiMin-W3"
    return "STSong-Light"


def printable(text: str) -> tuple[str, bool]:
    """``text`` as the report prints it: NFC, whitespace collapsed, unprintable characters as "?".

    Returns the text and whether any character was replaced.
    """
    text = " ".join(unicodedata.normalize("NFC", text).split())
    coverage = _fonts()
    out: list[str] = []
    lost = False
    previous_lost = False
    for ch in text:
        code = ord(ch)
        if _is_cjk(code) or (code in coverage
                             and unicodedata.bidirectional(ch) not in _RTL_CLASSES):
            if previous_lost and unicodedata.combining(ch):
                continue  # a mark belonging to a replaced letter
            out.append(ch)
            previous_lost = False
        elif previous_lost and unicodedata.combining(ch):
            continue
        else:
            out.append(UNPRINTABLE)
            lost = previous_lost = True
    return "".join(out), lost


class _Text:
    """Turns user-supplied text into paragraph markup and remembers unprintable characters."""

    def __init__(self, tr: Catalogue | None = None) -> None:
        self.lost: list[str] = []  # which fields lost characters
        self.shortened: list[str] = []  # which fields were too long to print whole
        self.tr = tr or Catalogue()

    def __call__(self, value: str, field: str = "", empty: str = UNKNOWN,
                 max_chars: int = FIELD_MAX_CHARS) -> str:
        text, lost = printable(value or "")
        if not text:
            return escape(self.tr(empty))
        if lost and field and field not in self.lost:
            self.lost.append(field)
        if len(text) > max_chars:
            text = text[:max_chars - 1].rstrip() + SHORTENED
            if field and field not in self.shortened:
                self.shortened.append(field)
        cjk = CJK if cjk_embedded(text) else _cid_font(_cjk_font_for(text))
        parts: list[str] = []
        run: list[str] = []
        run_is_cjk = False
        for ch in text + "\0":
            is_cjk = ch != "\0" and _is_cjk(ord(ch))
            if run and (is_cjk != run_is_cjk or ch == "\0"):
                chunk = escape("".join(run))
                parts.append(f'<font name="{cjk}">{chunk}</font>' if run_is_cjk else chunk)
                run = []
            run.append(ch)
            run_is_cjk = is_cjk
        return "".join(parts)


def _address_lines(settings: Settings) -> list[str]:
    """The clinic address's non-empty lines, at most ``ADDRESS_MAX_LINES`` of them."""
    lines = [line for line in (settings.clinic_address or "").splitlines() if line.strip()]
    if len(lines) > ADDRESS_MAX_LINES:
        lines = lines[:ADDRESS_MAX_LINES - 1] + [lines[ADDRESS_MAX_LINES - 1] + " " + SHORTENED]
    return lines


def _plain(value: str) -> str:
    """Fixed text (ours, never user input) escaped for paragraph markup."""
    return escape(value)


def _percent(p: float | None, tr: Catalogue | None = None) -> str:
    return (tr or Catalogue())("not available") if p is None else f"{p:.0%}"


def _timestamp(iso: str) -> str:
    """ISO timestamp as "YYYY-MM-DD HH:MM" (as given when it cannot be parsed)."""
    try:
        return dt.datetime.fromisoformat(iso).strftime("%Y-%m-%d %H:%M")
    except (TypeError, ValueError):
        return iso or UNKNOWN


def _capitalised(text: str) -> str:
    text = text.strip()
    return text[:1].upper() + text[1:]


def _file_name(source: str) -> str:
    return re.split(r"[\\/]", source)[-1] or source


def new_report_id() -> str:
    """A new unique report ID: ``RS-<date>-<time>-<8 random hex digits>``."""
    return f"RS-{dt.datetime.now():%Y%m%d-%H%M%S}-{secrets.token_hex(4).upper()}"


# --------------------------------------------------------------------------------------------
# Pictures


def _fit(rgb: np.ndarray, side: int = THUMB_PX) -> np.ndarray:
    height, width = rgb.shape[:2]
    scale = side / max(height, width)
    if abs(scale - 1.0) < 1e-6:
        return rgb
    size = (max(1, round(width * scale)), max(1, round(height * scale)))
    interpolation = cv2.INTER_AREA if scale < 1 else cv2.INTER_LINEAR
    return cv2.resize(rgb, size, interpolation=interpolation)


def _jpeg(rgb: np.ndarray) -> bytes:
    ok, encoded = cv2.imencode(".jpg", cv2.cvtColor(rgb, cv2.COLOR_RGB2BGR),
                               [cv2.IMWRITE_JPEG_QUALITY, JPEG_QUALITY])
    if not ok:
        raise ValueError("JPEG encoding failed")
    return encoded.tobytes()


def report_heatmap(rgb: np.ndarray, heatmap: np.ndarray) -> np.ndarray:
    """The app's heatmap overlay at the report's thumbnail size."""
    return heatmap_overlay(_fit(np.ascontiguousarray(rgb, dtype=np.uint8)), heatmap)


def _picture(jpeg: bytes, side: float) -> Image:
    return Image(io.BytesIO(jpeg), width=side, height=side)


@functools.lru_cache(maxsize=8)
def _logo_png(path: str, mtime_ns: int, size: int) -> tuple[bytes, float] | None:
    """The logo re-encoded small (PNG, alpha kept) and its aspect ratio; None if unreadable.

    Cached per (path, modification time, size): a bad logo is reported once, not per report.
    """
    try:
        with PILImage.open(path) as image:
            image.load()
            picture = image.convert("RGBA")
        picture.thumbnail((480, 480))
        buffer = io.BytesIO()
        picture.save(buffer, format="PNG", optimize=True)
    except (OSError, ValueError, PILImage.DecompressionBombError) as exc:
        log.warning("clinic logo %s cannot be read (%s): the report is made without a logo",
                    path, exc)
        return None
    width, height = picture.size
    return buffer.getvalue(), width / max(height, 1)


def _logo(path: Path, height: float, max_width: float) -> Flowable | None:
    try:
        stat = os.stat(path)
        key: tuple[str, int, int] = (str(path), stat.st_mtime_ns, stat.st_size)
    except OSError:
        key = (str(path), -1, -1)
    loaded = _logo_png(*key) if key[1] >= 0 else _logo_missing(str(path))
    if loaded is None:
        return None
    data, aspect = loaded
    width = min(height * aspect, max_width)
    return Image(io.BytesIO(data), width=width, height=width / aspect, mask="auto")


@functools.lru_cache(maxsize=8)
def _logo_missing(path: str) -> None:
    log.warning("clinic logo %s not found: the report is made without a logo", path)
    return None


def _symbol(kind: str, size: float) -> Drawing:
    """An outcome symbol that reads without colour (shape and glyph differ per outcome)."""
    drawing = Drawing(size, size, initialFontName=BOLD)
    s = size
    if kind.startswith("triangle"):
        solid = kind == "triangle-solid"
        drawing.add(Polygon([s * 0.5, s * 0.95, s * 0.03, s * 0.1, s * 0.97, s * 0.1],
                            strokeColor=_INK, strokeWidth=s * 0.07,
                            fillColor=_INK if solid else colors.white, strokeLineJoin=1))
        drawing.add(String(s * 0.5, s * 0.2, "!", fontName=BOLD, fontSize=s * 0.55,
                           fillColor=colors.white if solid else _INK, textAnchor="middle"))
    else:
        drawing.add(Circle(s * 0.5, s * 0.5, s * 0.45, strokeColor=_INK, strokeWidth=s * 0.07,
                           fillColor=colors.white))
        if kind == "question":
            drawing.add(String(s * 0.5, s * 0.28, "?", fontName=BOLD, fontSize=s * 0.55,
                               fillColor=_INK, textAnchor="middle"))
        else:
            drawing.add(PolyLine([s * 0.27, s * 0.52, s * 0.44, s * 0.33, s * 0.74, s * 0.7],
                                 strokeColor=_INK, strokeWidth=s * 0.1, strokeLineCap=1,
                                 strokeLineJoin=1))
    return drawing


# --------------------------------------------------------------------------------------------
# Page furniture


class _NumberedCanvas(Canvas):
    """Canvas that draws the footer ("page x of y") once the page count is known."""

    def __init__(self, *args, footer: Callable[[Canvas, int, int], None], **kwargs) -> None:
        super().__init__(*args, **kwargs)
        self._pages: list[dict] = []
        self._footer = footer

    def showPage(self) -> None:  # noqa: N802 (reportlab's name)
        self._pages.append(dict(self.__dict__))
        self._startPage()

    def save(self) -> None:
        total = len(self._pages)
        for state in self._pages:
            self.__dict__.update(state)
            self._footer(self, self._pageNumber, total)
            super().showPage()
        super().save()


class _Paragraph(Paragraph):
    """A paragraph that lays out its lines once per width: a table asks each of its cells'
    sizes several times over (column widths, row heights, drawing), and line breaking was
    most of a report's time."""

    _wrapped: tuple[float, tuple[float, float]] | None = None

    def wrap(self, availWidth: float, availHeight: float) -> tuple[float, float]:  # noqa: N803
        if self._wrapped is not None and self._wrapped[0] == availWidth:
            return self._wrapped[1]
        size = super().wrap(availWidth, availHeight)
        self._wrapped = (availWidth, size)
        return size


class _Table(Table):
    """A table whose plain-string cells use the embedded font (reportlab's default: Helvetica)."""

    def __init__(self, *args, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        self.setStyle(TableStyle([("FONTNAME", (0, 0), (-1, -1), REGULAR)]))


def _styles() -> dict[str, ParagraphStyle]:
    base = ParagraphStyle("body", fontName=REGULAR, fontSize=9, leading=11.5, textColor=_INK)

    def style(name: str, **kw) -> ParagraphStyle:
        return ParagraphStyle(name, parent=base, **kw)

    return {
        "body": base,
        "small": style("small", fontSize=7.5, leading=9.5),
        "small_grey": style("small_grey", fontSize=7, leading=9, textColor=_GREY),
        "label": style("label", fontName=BOLD, fontSize=8, leading=11, textColor=_GREY),
        "value": style("value", fontSize=9.5, leading=11.5),
        "value_bold": style("value_bold", fontName=BOLD, fontSize=10.5, leading=13),
        "clinic": style("clinic", fontName=BOLD, fontSize=14, leading=17),
        "title": style("title", fontName=BOLD, fontSize=11.5, leading=14, alignment=TA_RIGHT),
        "right": style("right", fontSize=8.5, leading=11, alignment=TA_RIGHT),
        "h2": style("h2", fontName=BOLD, fontSize=11, leading=14, spaceBefore=7, spaceAfter=2),
        "eye": style("eye", fontName=BOLD, fontSize=10.5, leading=13),
        "headline": style("headline", fontName=BOLD, fontSize=15.5, leading=19),
        "detail": style("detail", fontSize=10, leading=13),
        "caption": style("caption", fontSize=6.5, leading=8, textColor=_GREY,
                         alignment=TA_CENTER),
        "centre": style("centre", fontSize=7.5, leading=9.5, alignment=TA_CENTER,
                        textColor=_GREY),
        "letter_title": style("letter_title", fontName=BOLD, fontSize=15, leading=19,
                              spaceAfter=4),
    }


# --------------------------------------------------------------------------------------------
# The document


class _Report:
    """Builds the flowables of one report."""

    def __init__(self, result: PatientResult, settings: Settings, report_id: str,
                 issued: dt.datetime, width: float) -> None:
        self.result = result
        self.settings = settings
        self.report_id = report_id
        self.issued = issued
        self.width = width
        self.s = _styles()
        self.tr = Catalogue(resolve_language(getattr(settings, "language", "en")))
        self.text = _Text(self.tr)
        self.letter = result.outcome.is_referral  # "insufficient" gets a retake note

    # ---- pieces

    def para(self, markup: str, style: str = "body") -> Paragraph:
        return _Paragraph(markup, self.s[style])

    def header(self, title: str = "Diabetic retinopathy screening report") -> list[Flowable]:
        settings, t = self.settings, self.text
        clinic = [self.para(t(settings.clinic_name, "clinic name",
                               empty="Diabetic eye screening"), "clinic")]
        tr = self.tr
        for line in _address_lines(settings):
            clinic.append(self.para(t(line, "clinic address"), "small"))
        details = [
            self.para(_plain(tr(title)), "title"),
            self.para(tr("Report ID: <b>{id}</b>", id=t(self.report_id)), "right"),
            self.para(tr("Date and time: {when}", when=f"{self.issued:%Y-%m-%d %H:%M}"),
                      "right"),
            self.para(tr("Operator: {name}", name=t(settings.operator, "operator")), "right"),
        ]
        logo = _logo(settings.clinic_logo, 18 * mm, 40 * mm)
        logo_width = (logo.drawWidth + 4 * mm) if logo is not None else 0.001
        right_width = 75 * mm
        table = _Table([[logo or "", clinic, details]],
                      colWidths=[logo_width, self.width - logo_width - right_width, right_width])
        table.setStyle(TableStyle([
            ("VALIGN", (0, 0), (-1, -1), "TOP"),
            ("LEFTPADDING", (0, 0), (-1, -1), 0),
            ("RIGHTPADDING", (0, 0), (-1, -1), 0),
            ("TOPPADDING", (0, 0), (-1, -1), 0),
            ("BOTTOMPADDING", (0, 0), (-1, -1), 0),
        ]))
        return [table, Spacer(1, 2.5 * mm),
                HRFlowable(width="100%", thickness=1.2, color=_INK, spaceAfter=3 * mm)]

    def outcome_box(self, compact: bool = False) -> Table:
        referral = self.result.referral
        accent, tint, line, symbol = _LOOK[self.result.outcome]
        tr = self.tr
        lines = [self.para(_plain(tr.engine(referral.headline)), "headline"),
                 Spacer(1, 1.5 * mm),
                 self.para(tr("<b>Action:</b> {action}",
                              action=_plain(tr.engine(referral.action))), "detail"),
                 self.para(tr("<b>Time frame:</b> {interval}",
                              interval=_plain(tr.engine(referral.interval))), "detail")]
        if self.result.outcome.is_referral:
            lines.append(self.para(tr("<b>Urgency:</b> {urgency}",
                                      urgency=_plain(tr.engine(referral.urgency).upper())),
                                   "detail"))
        size = 13 * mm if compact else 16 * mm
        table = _Table([[_symbol(symbol, size), lines]],
                      colWidths=[size + 8 * mm, self.width - size - 8 * mm])
        table.setStyle(TableStyle([
            ("BOX", (0, 0), (-1, -1), line, _INK),
            ("LINEBEFORE", (0, 0), (0, 0), 6, accent),
            ("BACKGROUND", (0, 0), (-1, -1), tint),
            ("VALIGN", (0, 0), (-1, -1), "MIDDLE"),
            ("ALIGN", (0, 0), (0, 0), "CENTER"),
            ("TOPPADDING", (0, 0), (-1, -1), 3 * mm),
            ("BOTTOMPADDING", (0, 0), (-1, -1), 3 * mm),
            ("LEFTPADDING", (0, 0), (0, 0), 4 * mm),
        ]))
        return table

    def notes(self) -> list[Flowable]:
        if not self.result.notes:
            return []
        items = "".join(f"<br/>\u2022 {self.text(self.tr.engine(note))}"
                        for note in self.result.notes)
        box = _Table([[self.para(self.tr("<b>Please note:</b>") + items, "body")]],
                     colWidths=[self.width])
        box.setStyle(TableStyle([
            ("BOX", (0, 0), (-1, -1), 0.8, _INK),
            ("LEFTPADDING", (0, 0), (-1, -1), 3 * mm),
            ("TOPPADDING", (0, 0), (-1, -1), 2 * mm),
            ("BOTTOMPADDING", (0, 0), (-1, -1), 2 * mm),
        ]))
        return [Spacer(1, 2 * mm), box]

    def patient_rows(self) -> list[list[Flowable]]:
        patient, t, tr = self.result.patient, self.text, self.tr
        screened = t(patient.screening_date)
        if self.result.screened_at:
            screened += " " + tr("(photographs screened {when})",
                                 when=_plain(_timestamp(self.result.screened_at)))
        diabetes = t(_capitalised(tr.engine(patient.diabetes_type)))
        sex = t(_capitalised(tr.engine(SEXES.get(patient.sex, ""))))
        return [
            [self.para(tr("Name"), "label"), self.para(t(patient.name, "name"), "value_bold"),
             self.para(tr("Date of birth"), "label"),
             self.para(t(patient.birth_date), "value")],
            [self.para(tr("Patient ID"), "label"),
             self.para(t(patient.patient_id, "patient ID"), "value_bold"),
             self.para(tr("Sex"), "label"), self.para(sex, "value")],
            [self.para(tr("Diabetes type"), "label"), self.para(diabetes, "value"),
             self.para(tr("Accession no."), "label"), self.para(t(patient.accession), "value")],
            [self.para(tr("Screening date"), "label"), self.para(screened, "value"), "", ""],
        ]

    def patient(self) -> list[Flowable]:
        widths = [29 * mm, self.width / 2 - 29 * mm, 27 * mm, self.width / 2 - 27 * mm]
        rows = self.patient_rows()
        style = [
            ("VALIGN", (0, 0), (-1, -1), "TOP"),
            ("LEFTPADDING", (0, 0), (-1, -1), 0),
            ("TOPPADDING", (0, 0), (-1, -1), 1),
            ("BOTTOMPADDING", (0, 0), (-1, -1), 1.5),
            ("SPAN", (1, 3), (3, 3)),
        ]
        # A name or patient ID printed otherwise than it was given is said so, under the table.
        notes = (
            (self.text.lost, ("The name contains", "The patient ID contains",
                              "The name and patient ID contain"),
             " characters this report cannot print, shown as \u201c{mark}\u201d: ", UNPRINTABLE),
            (self.text.shortened, ("The name is", "The patient ID is",
                                   "The name and patient ID are"),
             " too long to print in full, shortened to end in \u201c{mark}\u201d: ", SHORTENED),
        )
        for flagged, (name, patient_id, both), problem, mark in notes:
            fields = tuple(f for f in flagged if f in ("name", "patient ID"))
            if not fields:
                continue
            which = {("name",): name, ("patient ID",): patient_id}.get(fields, both)
            rows.append(["", self.para(self.tr(
                which + problem + "check against the patient record.", mark=mark), "small"),
                "", ""])
            style.append(("SPAN", (1, len(rows) - 1), (3, len(rows) - 1)))
        table = _Table(rows, colWidths=widths)
        table.setStyle(TableStyle(style))
        return [self.para(self.tr("Patient"), "h2"), table]

    def picture_cell(self, image: ImageResult) -> list[list[Flowable]]:
        """Photograph and heatmap thumbnails side by side, with captions."""
        side = _THUMB
        photo: Flowable
        heat: Flowable
        if image.display_image is not None:
            fitted = _fit(image.display_image)
            photo = _picture(_jpeg(fitted), side)
        else:
            photo = self.placeholder("Photograph not available" if image.status
                                     is not ImageStatus.ERROR else "Photograph could not be read")
        tr = self.tr
        grading = image.grading
        if grading is not None and grading.heatmap is not None and image.display_image is not None:
            if not heatmap_worth_showing(grading):  # a flat grey overlay would say nothing
                return [[photo, self.placeholder(NOTHING_STOOD_OUT)],
                        [self.para(tr("Photograph"), "caption"), self.para("", "caption")]]
            heat = _picture(_jpeg(report_heatmap(image.display_image, grading.heatmap)), side)
            heat_caption = tr("Heatmap")
        elif grading is not None:
            heat = self.placeholder("No heatmap from this model")
            heat_caption = ""
        else:
            heat = self.placeholder("Not graded")
            heat_caption = ""
        return [[photo, heat], [self.para(tr("Photograph"), "caption"),
                                self.para(heat_caption, "caption")]]

    def placeholder(self, words: str) -> Table:
        box = _Table([[self.para(_plain(self.tr(words)), "centre")]], colWidths=[_THUMB],
                    rowHeights=[_THUMB])
        box.setStyle(TableStyle([
            ("BOX", (0, 0), (-1, -1), 0.6, _RULE),
            ("VALIGN", (0, 0), (-1, -1), "MIDDLE"),
        ]))
        return box

    def image_block(self, image: ImageResult, number: int, count: int) -> list[Flowable]:
        t = self.text
        pictures = _Table(self.picture_cell(image), colWidths=[_THUMB + 2 * mm] * 2)
        pictures.setStyle(TableStyle([
            ("LEFTPADDING", (0, 0), (-1, -1), 0),
            ("RIGHTPADDING", (0, 0), (-1, -1), 2 * mm),
            ("TOPPADDING", (0, 0), (-1, -1), 0),
            ("BOTTOMPADDING", (0, 0), (-1, -1), 0.5),
            ("ALIGN", (0, 0), (-1, -1), "LEFT"),
        ]))
        tr = self.tr
        size = f" \u00b7 {image.width} \u00d7 {image.height} px" if image.width else ""
        taken = " \u00b7 " + tr("taken {date}", date=image.taken) if image.taken else ""
        lines = [pictures, self.para(
            tr("<b>Photograph {number} of {count}:</b>", number=number, count=count)
            + f" {t(_file_name(image.source))}{size}{taken}", "small")]
        if image.status is ImageStatus.ERROR:
            lines.append(self.para(tr("<b>Quality: could not be read</b> \u2013 {reason}",
                                      reason=t(tr.engine(image.error))), "small"))
        elif image.status is ImageStatus.UNGRADABLE:
            reasons = "; ".join(t(tr.engine(r)) for r in image.reasons) or \
                tr("failed the quality check")
            lines.append(self.para(tr("<b>Quality: ungradable</b> \u2013 {reasons}",
                                      reasons=reasons), "small"))
        else:
            lines.append(self.para(tr("<b>Quality:</b> gradable (passed the quality check)"),
                                   "small"))
        if image.colour_profile:
            lines.append(self.para(tr("<b>Colour:</b> converted to sRGB from {profile}",
                                      profile=t(image.colour_profile)), "small"))
        if count == 1:
            return lines  # the eye's grade and probability, printed once above, are this photo's
        if image.grading is not None:
            g = image.grading
            lines.append(self.para(tr(
                "<b>This photograph:</b> {grade} (ICDR {number}), probability of referable DR "
                "{p}", grade=_plain(tr.engine(ICDR_LABELS[g.grade])), number=g.grade,
                p=_percent(g.p_referable, tr)), "small"))
        else:
            lines.append(self.para(tr("<b>This photograph:</b> not graded"), "small"))
        return lines

    def eye_summary(self, eye: EyeResult | None, which: Eye) -> list[Flowable]:
        tr = self.tr
        if eye is None:
            return [self.para(tr("<b>No photograph of this eye.</b>"), "body")]
        grade = (tr("{grade} (ICDR grade {number})",
                    grade=_plain(tr.engine(ICDR_LABELS[eye.grade])), number=eye.grade)
                 if eye.grade is not None else tr("not graded (no gradable photograph)"))
        out = [
            self.para(tr("<b>Eye result:</b> {outcome}",
                         outcome=_plain(tr(_EYE_OUTCOME_WORDS[eye.outcome]))), "body"),
            self.para(tr("<b>DR grade:</b> {grade}", grade=grade), "body"),
            self.para(tr("<b>Probability of referable DR:</b> {p}",
                         p=_percent(eye.p_referable, tr)), "body"),
        ]
        if eye.note:
            out.append(self.para(self.text(tr.engine(eye.note)), "small"))
        return out

    def eyes(self) -> list[Flowable]:
        flow: list[Flowable] = [self.para(self.tr("Findings for each eye"), "h2")]
        panels: list[tuple[Eye, EyeResult | None]] = [
            (Eye.RIGHT, self.result.eye(Eye.RIGHT)), (Eye.LEFT, self.result.eye(Eye.LEFT))]
        unknown = self.result.eye(Eye.UNKNOWN)
        if unknown is not None:
            panels.append((Eye.UNKNOWN, unknown))
        column = (self.width - 6 * mm) / 2
        for start in range(0, len(panels), 2):
            pair = panels[start:start + 2]
            heads = [self.para(_plain(self.tr.engine(which.label)), "eye") for which, _ in pair]
            summaries = [self.eye_summary(eye, which) for which, eye in pair]
            rows: list[list] = [heads, summaries]
            depth = max(len(eye.images) if eye else 0 for _, eye in pair)
            for index in range(depth):
                row = []
                for _, eye in pair:
                    images = eye.images if eye else ()
                    row.append(self.image_block(images[index], index + 1, len(images))
                               if index < len(images) else "")
                rows.append(row)
            for row in rows:
                row.extend([""] * (2 - len(row)))
                row.insert(1, "")
            table = _Table(rows, colWidths=[column, 6 * mm, column], repeatRows=1)
            style = [
                ("VALIGN", (0, 0), (-1, -1), "TOP"),
                ("LEFTPADDING", (0, 0), (-1, -1), 0),
                ("RIGHTPADDING", (0, 0), (-1, -1), 0),
                ("TOPPADDING", (0, 1), (-1, -1), 1.5 * mm),
                ("BOTTOMPADDING", (0, 0), (-1, -1), 1.5 * mm),
            ]
            for col in range(len(pair)):
                c = col * 2
                style += [("BACKGROUND", (c, 0), (c, 0), _SHADE),
                          ("LINEABOVE", (c, 0), (c, 0), 1.2, _INK),
                          ("LEFTPADDING", (c, 0), (c, 0), 2 * mm),
                          ("TOPPADDING", (c, 0), (c, 0), 1.2 * mm)]
            table.setStyle(TableStyle(style))
            flow += [table, Spacer(1, 2 * mm)]
        return flow

    def about(self) -> list[Flowable]:
        result, tr = self.result, self.tr
        model = result.model
        if model is not None:
            model_line = tr("<b>Model:</b> {name}, version {version}, sha256 {sha} \u00b7 referral "
                            "threshold: probability of referable DR \u2265 {threshold}",
                            name=_plain(model.name), version=_plain(model.version),
                            sha=_plain(model.short_sha), threshold=_percent(model.threshold))
            if not model.verified:
                model_line += f" \u00b7 <b>{_plain(tr.engine(model.trust_label))}</b>"
        else:
            model_line = tr("<b>Model:</b> {name}", name=tr(UNKNOWN))
        rows = [
            self.para(model_line, "small"),
            self.para(tr("<b>Quality thresholds:</b> version {version} \u00b7 <b>DR grades:</b> "
                         "International Clinical Diabetic Retinopathy (ICDR) scale; referable "
                         "DR = moderate NPDR or worse",
                         version=self.text(result.thresholds_version)), "small"),
            self.para(_plain(tr(INTENDED_USE)), "small"),
        ]
        box = _Table([[rows]], colWidths=[self.width])
        box.setStyle(TableStyle([
            ("LINEABOVE", (0, 0), (-1, 0), 0.6, _RULE),
            ("LEFTPADDING", (0, 0), (-1, -1), 0),
            ("TOPPADDING", (0, 0), (-1, -1), 2 * mm),
        ]))
        return [KeepTogether([self.para(tr("About this result"), "h2"), box])]

    def no_referral(self) -> list[Flowable]:
        referral, tr = self.result.referral, self.tr
        return [KeepTogether([
            self.para(tr("Referral"), "h2"),
            self.para(tr("<b>No referral needed.</b> {action}; {interval}.",
                         action=_plain(tr.engine(referral.action)),
                         interval=_plain(tr.engine(referral.interval)))
                      + " " + _plain(tr(NO_LETTER)), "body"),
        ])]

    def retake_note(self) -> list[Flowable]:
        """"Images insufficient": what to retake, per eye, and fields for a human grader; not a
        referral letter."""
        result, t, tr = self.result, self.text, self.tr
        referral = result.referral
        items = []
        for which in (Eye.RIGHT, Eye.LEFT, Eye.UNKNOWN):
            eye = result.eye(which)
            label = f"<b>{_plain(tr.engine(which.label))}:</b> "
            if eye is None:
                if which is not Eye.UNKNOWN:
                    items.append(label + tr("no photograph \u2013 photograph this eye"))
                continue
            if which is Eye.UNKNOWN:
                items.append(label + tr("{count} photograph(s) whose eye is not known \u2013 "
                                        "record right or left and screen again",
                                        count=len(eye.images)))
                continue
            if eye.grade is not None:
                continue
            reasons = list(dict.fromkeys([r for image in eye.images for r in image.reasons]
                                         + [image.error for image in eye.images if image.error]))
            why = "; ".join(t(tr.engine(r)) for r in reasons) or tr("no gradable photograph")
            items.append(label + why)
        bullets = "".join(f"<br/>\u2022 {item}" for item in items)
        body = [
            self.para(tr("Retake or human grading needed"), "h2"),
            self.para(tr("<b>This is not a referral.</b> The screening is not complete because "
                         "the photographs could not be graded for both eyes:") + bullets,
                      "body"),
            Spacer(1, 1.5 * mm),
            self.para(tr("<b>Next step:</b> {action}; {interval}. If good photographs cannot be "
                         "taken, the photographs and this report go to a human grader, who "
                         "records the result below.",
                         action=_plain(tr.engine(referral.action)),
                         interval=_plain(tr.engine(referral.interval))), "body"),
            Spacer(1, 2 * mm),
        ]
        fields = _Table([[self.para(tr("Human grader (name)"), "label"), "",
                          self.para(tr("Date"), "label"), ""],
                         [self.para(tr("Grade / decision"), "label"), "", "", ""]],
                        colWidths=[38 * mm, self.width - 38 * mm - 50 * mm, 12 * mm, 38 * mm],
                        rowHeights=[10 * mm, 10 * mm])
        fields.setStyle(TableStyle([
            ("VALIGN", (0, 0), (-1, -1), "BOTTOM"), ("LEFTPADDING", (0, 0), (-1, -1), 0),
            ("SPAN", (1, 1), (3, 1)),
            ("LINEBELOW", (1, 0), (1, 0), 0.7, _INK), ("LINEBELOW", (3, 0), (3, 0), 0.7, _INK),
            ("LINEBELOW", (1, 1), (3, 1), 0.7, _INK),
        ]))
        return [KeepTogether([*body, fields])]

    def letter_page(self) -> list[Flowable]:
        result, t, tr = self.result, self.text, self.tr
        patient = result.patient
        clinic = t(self.settings.clinic_name, empty="the screening service")
        address = ", ".join(t(line) for line in _address_lines(self.settings))
        flow: list[Flowable] = [PageBreak(), *self.header("Referral to the eye service"),
                                self.para(tr("Referral letter"), "letter_title")]
        meta = [
            [self.para(tr("To"), "label"), self.para(tr("<b>The eye service</b> (ophthalmology "
                                                        "/ hospital eye service)"), "value")],
            [self.para(tr("From"), "label"),
             self.para(clinic + (f", {address}" if address else ""), "value")],
            [self.para(tr("Patient"), "label"), self.para(tr(
                "<b>{name}</b> \u00b7 patient ID <b>{id}</b> \u00b7 date of birth {birth}",
                name=t(patient.name), id=t(patient.patient_id), birth=t(patient.birth_date)),
                "value")],
            [self.para(tr("Diabetes type"), "label"),
             self.para(t(_capitalised(tr.engine(patient.diabetes_type))), "value")],
            [self.para(tr("Screened"), "label"), self.para(tr(
                "{date} at {clinic} (report ID {id})", date=t(patient.screening_date),
                clinic=clinic, id=t(self.report_id)), "value")],
        ]
        table = _Table(meta, colWidths=[28 * mm, self.width - 28 * mm])
        table.setStyle(TableStyle([
            ("VALIGN", (0, 0), (-1, -1), "TOP"),
            ("LEFTPADDING", (0, 0), (-1, -1), 0),
            ("TOPPADDING", (0, 0), (-1, -1), 1),
            ("BOTTOMPADDING", (0, 0), (-1, -1), 2),
        ]))
        flow += [table, Spacer(1, 3 * mm),
                 self.para(tr("Dear colleague,"), "body"), Spacer(1, 1.5 * mm),
                 self.para(tr("This patient attended diabetic eye screening. Automated grading "
                              "of the retinal photographs gave the result below; please see the "
                              "requested action and time frame."), "body"),
                 Spacer(1, 3 * mm), self.outcome_box(compact=True), Spacer(1, 3 * mm),
                 self.para(tr("Findings"), "h2"), self.findings_table()]
        if result.notes:
            flow.append(Spacer(1, 2 * mm))
            flow += [self.para(f"\u2022 {t(tr.engine(note))}", "body") for note in result.notes]
        flow += [
            Spacer(1, 3 * mm),
            self.para(tr("The result comes from automated screening software for research use "
                         "and has not been confirmed by a human grader unless signed below. The "
                         "full report with the photographs is available from the screening "
                         "service under the report ID above."), "small"),
            Spacer(1, 5 * mm),
            KeepTogether(self.signature_block()),
        ]
        return flow

    def findings_table(self) -> Table:
        tr = self.tr
        header = [self.para(f"<b>{tr(h)}</b>", "small") for h in
                  ("Eye", "Photographs", "DR grade (ICDR)", "Probability of referable DR",
                   "Quality")]
        rows = [header]
        for which in (Eye.RIGHT, Eye.LEFT, Eye.UNKNOWN):
            eye = self.result.eye(which)
            label = self.para(_plain(tr.engine(which.label)), "small")
            if eye is None:
                if which is not Eye.UNKNOWN:
                    rows.append([label, self.para(tr("none"), "small"),
                                 self.para(tr("not screened"), "small"),
                                 self.para(tr("not available"), "small"),
                                 self.para(tr("no photograph of this eye"), "small")])
                continue
            gradable = len(eye.gradable_images)
            grade = (f"{_plain(tr.engine(ICDR_LABELS[eye.grade]))} ({eye.grade})"
                     if eye.grade is not None else tr("not graded"))
            problems = sorted({r for image in eye.images for r in image.reasons})
            quality = ("; ".join(self.text(tr.engine(p)) for p in problems) if problems
                       else tr("all photographs gradable"))
            rows.append([label,
                         self.para(tr("{gradable} of {count} gradable", gradable=gradable,
                                      count=len(eye.images)), "small"),
                         self.para(grade, "small"),
                         self.para(_percent(eye.p_referable, tr), "small"),
                         self.para(quality, "small")])
        widths = [27 * mm, 25 * mm, 34 * mm, 28 * mm]
        widths.append(self.width - sum(widths))
        table = _Table(rows, colWidths=widths, repeatRows=1)
        table.setStyle(TableStyle([
            ("GRID", (0, 0), (-1, -1), 0.5, _RULE),
            ("BACKGROUND", (0, 0), (-1, 0), _SHADE),
            ("VALIGN", (0, 0), (-1, -1), "TOP"),
        ]))
        return table

    def signature_block(self) -> list[Flowable]:
        tr = self.tr

        def field(label: str) -> list[Flowable]:
            return [self.para(tr(label), "label"), ""]

        rows = [field("Referring clinician (name)"), field("Role / registration number"),
                [self.para(tr("Signature"), "label"), "", self.para(tr("Date"), "label"), ""]]
        widths = [45 * mm, self.width - 45 * mm]
        top = _Table(rows[:2], colWidths=widths, rowHeights=[10 * mm] * 2)
        bottom = _Table([rows[2]], colWidths=[45 * mm, self.width - 45 * mm - 50 * mm, 12 * mm,
                                             38 * mm], rowHeights=[12 * mm])
        line = [("VALIGN", (0, 0), (-1, -1), "BOTTOM"), ("LEFTPADDING", (0, 0), (-1, -1), 0)]
        top.setStyle(TableStyle(line + [("LINEBELOW", (1, 0), (1, -1), 0.7, _INK)]))
        bottom.setStyle(TableStyle(line + [("LINEBELOW", (1, 0), (1, 0), 0.7, _INK),
                                           ("LINEBELOW", (3, 0), (3, 0), 0.7, _INK)]))
        received = _Table([[self.para(tr("Received by the eye service on"), "label"), "",
                           self.para(tr("by"), "label"), ""]],
                         colWidths=[55 * mm, 40 * mm, 8 * mm, self.width - 103 * mm],
                         rowHeights=[12 * mm])
        received.setStyle(TableStyle(line + [("LINEBELOW", (1, 0), (1, 0), 0.7, _INK),
                                             ("LINEBELOW", (3, 0), (3, 0), 0.7, _INK)]))
        return [self.para(tr("Signature"), "h2"), top, bottom, Spacer(1, 4 * mm), received]

    # ---- whole document

    def story(self) -> list[Flowable]:
        flow: list[Flowable] = [*self.header(), self.outcome_box(), *self.notes()]
        flow += self.patient()
        flow += self.eyes()
        if self.result.outcome is Outcome.INSUFFICIENT:
            flow += self.retake_note()
        flow += self.about()
        if self.letter:
            flow += self.letter_page()
        elif self.result.outcome is Outcome.NO_REFERABLE:
            flow += self.no_referral()
        return flow

    def footer(self, canvas: Canvas, page: int, total: int) -> None:
        width, _ = canvas._pagesize
        canvas.saveState()
        canvas.setStrokeColor(_RULE)
        canvas.setLineWidth(0.5)
        canvas.line(_MARGIN, 14 * mm, width - _MARGIN, 14 * mm)
        tr = self.tr
        left = Paragraph(tr("Report ID {id} \u00b7 patient ID {patient}",
                            id=self.text(self.report_id),
                            patient=self.text(self.result.patient.patient_id,
                                              max_chars=FOOTER_ID_MAX_CHARS)),
                         self.s["small_grey"])
        left.wrapOn(canvas, width - 2 * _MARGIN - 30 * mm, 10 * mm)
        left.drawOn(canvas, _MARGIN, 9.5 * mm)
        canvas.setFont(REGULAR, 7)
        canvas.setFillColor(_GREY)
        canvas.drawRightString(width - _MARGIN, 10.5 * mm,
                               tr("Page {page} of {total}", page=page, total=total))
        canvas.drawString(_MARGIN, 6 * mm, tr("Screening for diabetic retinopathy only \u00b7 "
                                              "research use, not cleared for clinical "
                                              "diagnosis"))
        canvas.restoreState()


def report_bytes(result: PatientResult, settings: Settings, report_id: str | None = None
                 ) -> bytes:
    """The report as PDF bytes (for the GUI preview; :func:`build_report` writes it)."""
    data, _ = _render(result, settings, report_id or new_report_id())
    return data


def _render(result: PatientResult, settings: Settings, report_id: str) -> tuple[bytes, int]:
    _fonts()
    pagesize = PAGE_SIZES.get(settings.paper_size, A4)
    width, height = pagesize
    buffer = io.BytesIO()
    doc = BaseDocTemplate(
        buffer, pagesize=pagesize, leftMargin=_MARGIN, rightMargin=_MARGIN, topMargin=13 * mm,
        bottomMargin=18 * mm, title=f"Diabetic retinopathy screening report {report_id}",
        author=settings.clinic_name, subject="Diabetic retinopathy screening",
        creator="retina-screen", initialFontName=REGULAR,
        lang=resolve_language(getattr(settings, "language", "en")),
    )
    frame = Frame(_MARGIN, 18 * mm, width - 2 * _MARGIN, height - 31 * mm, id="body",
                  leftPadding=0, rightPadding=0, topPadding=0, bottomPadding=0)
    doc.addPageTemplates([PageTemplate(id="page", frames=[frame], pagesize=pagesize)])
    issued = dt.datetime.now().astimezone()
    report = _Report(result, settings, report_id, issued, frame._width)
    pages: list[int] = []

    def footer(canvas: Canvas, page: int, total: int) -> None:
        report.footer(canvas, page, total)
        pages[:] = [total]

    doc.build(report.story(), canvasmaker=functools.partial(_NumberedCanvas, footer=footer))
    return buffer.getvalue(), (pages[0] if pages else 0)


# --------------------------------------------------------------------------------------------
# Writing


def check_report_target(path: Path) -> None:
    """Raise :class:`OutputError` unless ``path`` may take a report: its name ends in .pdf and
    it is not a file other than a PDF (one of the photographs, or a batch's results file,
    given by a slip of the keyboard, would be lost: found 2026-12-02)."""
    if path.suffix.lower() != ".pdf":
        raise OutputError(f"the report was not written: its file name ({path.name}) must end "
                          "in .pdf")
    try:
        with open(path, "rb") as handle:
            head = handle.read(5)
    except FileNotFoundError:
        return
    except IsADirectoryError:
        raise OutputError(f"the report was not written: {path.name} is a folder") from None
    except OSError:
        return  # writing says what is wrong with the place
    if head != b"%PDF-":
        raise OutputError(f"the report was not written: {path.name} exists and is not a PDF "
                          "report (it would be lost): choose another file name")


def build_report(result: PatientResult, path: Path, settings: Settings, *,
                 report_id: str | None = None) -> Path:
    """Render ``result`` as a PDF report and write it atomically to ``path``; returns ``path``.

    Raises :class:`OutputError` when the file cannot be written (disk full, permission denied).
    """
    path = Path(path)
    check_report_target(path)
    report_id = report_id or new_report_id()
    data, pages = _render(result, settings, report_id)
    write_atomic(path, data, settings.file_mode, what="report")
    log.info("report %s written: %d page(s), %d KB", report_id, pages, len(data) // 1024)
    return path
