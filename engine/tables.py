"""Registers and reports as CSV or XLSX files that spreadsheet programs open as they are.

Cells hold what clerks typed or what other agencies' nodes sent (an issuer's name), so a
value that looks like a formula (`=HYPERLINK("http://…","Bấm vào đây")`) must stay text:
in XLSX every string is a string cell, never a formula or an error value; in CSV, which
has no types, a cell that a spreadsheet would evaluate gets a leading apostrophe (the
OWASP rule for CSV injection).
"""

from __future__ import annotations

import csv
import io
from collections.abc import Sequence
from typing import Any

__all__ = ["table_csv", "table_xlsx"]

# What makes Excel, LibreOffice or Google Sheets read a CSV cell as a formula (OWASP).
_FORMULA_START = ("=", "+", "-", "@", "\t", "\r")


def _csv_cell(value: str) -> str:
    return "'" + value if value.startswith(_FORMULA_START) else value


def table_csv(columns: Sequence[str], rows: Sequence[Sequence[str]]) -> bytes:
    """CSV in UTF-8 with a BOM, so spreadsheet programs read the Vietnamese diacritics; a
    cell starting with `=`, `+`, `-`, `@`, a tab or a carriage return gets an apostrophe
    in front, so that no spreadsheet evaluates it."""
    buf = io.StringIO()
    writer = csv.writer(buf)
    for row in (columns, *rows):
        writer.writerow([_csv_cell(value) for value in row])
    return ("\ufeff" + buf.getvalue()).encode("utf-8")


def _as_text(cell: Any) -> None:
    # openpyxl makes a string starting with "=" a formula and "#N/A" an error value.
    if isinstance(cell.value, str):
        cell.data_type = "s"
        if cell.value.startswith(_FORMULA_START):
            # Excel's mark for text typed after an apostrophe: editing the cell keeps it text.
            cell.quotePrefix = True


def table_xlsx(columns: Sequence[str], rows: Sequence[Sequence[str]], title: str) -> bytes:
    """One worksheet named `title` (at most 31 characters), the header row in bold; every
    string is a string cell, shown as it is, never a formula."""
    from openpyxl import Workbook
    from openpyxl.cell.cell import ILLEGAL_CHARACTERS_RE
    from openpyxl.styles import Font

    wb = Workbook()
    ws = wb.active
    assert ws is not None
    ws.title = title[:31]
    ws.append(list(columns))
    for cell in ws[1]:
        cell.font = Font(bold=True)
    for row in rows:
        # XLSX cannot hold most C0 control characters (openpyxl refuses the whole file): each
        # becomes U+FFFD, visibly, rather than the export failing.
        ws.append(
            [ILLEGAL_CHARACTERS_RE.sub("\ufffd", v) if isinstance(v, str) else v for v in row]
        )
    for line in ws.iter_rows():
        for cell in line:
            _as_text(cell)
    buf = io.BytesIO()
    wb.save(buf)
    return buf.getvalue()
