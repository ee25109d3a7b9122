"""CSV exports that a spreadsheet opens as text, never as formulas.

Patient IDs and file names come from cameras, DICOM tags and people; a cell such as
``=HYPERLINK("http://x","click")``, ``=1+2``, ``@SUM(A1)`` or ``+cmd|...`` runs as a formula
when the CSV is opened in Excel, LibreOffice or Google Sheets ("CSV injection"). Every CSV the
application writes goes through :func:`csv_bytes`, which passes each text cell through
:func:`safe_cell`: a cell whose first character is ``= + - @``, a tab, a carriage return or a
line feed (or their full-width forms), also after leading spaces, gets a leading apostrophe
``'``, which spreadsheets show as text. Numbers written as numbers are left alone. The
journal (``results.jsonl``) keeps the original values. Lines end in CRLF (RFC 4180), so that a
cell holding a line break is always quoted and never splits its row.
"""

from __future__ import annotations

import csv
import io
from collections.abc import Iterable, Mapping

#: Characters that make a spreadsheet read a cell as a formula (or a DDE command).
FORMULA_LEADS = frozenset("=+-@\t\r\n\uff1d\uff0b\uff0d\uff20")


def safe_cell(value: object) -> object:
    """``value`` unchanged unless it is text a spreadsheet would run as a formula; then the
    text with a leading apostrophe. Non-text values (numbers, None) are returned as they are."""
    if not isinstance(value, str) or not value:
        return value
    stripped = value.lstrip(" ")
    if value[0] in FORMULA_LEADS or (stripped and stripped[0] in FORMULA_LEADS):
        return "'" + value
    return value


def csv_bytes(columns: list[str], rows: Iterable[Mapping[str, object]]) -> bytes:
    """UTF-8 CSV with a header row; every cell neutralised by :func:`safe_cell`."""
    buffer = io.StringIO()
    # CRLF line ends (RFC 4180): Python 3.11 quotes a cell holding a carriage return only when
    # the line terminator contains one, and an unquoted CR splits the row in every reader.
    writer = csv.DictWriter(buffer, fieldnames=columns, extrasaction="ignore",
                            lineterminator="\r\n")
    writer.writeheader()
    for row in rows:
        writer.writerow({key: safe_cell(value) for key, value in row.items()})
    return buffer.getvalue().encode("utf-8")
