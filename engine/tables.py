"""Registers and reports as CSV or XLSX files that spreadsheet programs open as they are."""

from __future__ import annotations

import csv
import io
from collections.abc import Sequence

__all__ = ["table_csv", "table_xlsx"]


def table_csv(columns: Sequence[str], rows: Sequence[Sequence[str]]) -> bytes:
    """CSV in UTF-8 with a BOM, so spreadsheet programs read the Vietnamese diacritics."""
    buf = io.StringIO()
    writer = csv.writer(buf)
    writer.writerow(columns)
    writer.writerows(rows)
    return ("\ufeff" + buf.getvalue()).encode("utf-8")


def table_xlsx(columns: Sequence[str], rows: Sequence[Sequence[str]], title: str) -> bytes:
    """One worksheet named `title` (at most 31 characters), the header row in bold."""
    from openpyxl import Workbook
    from openpyxl.styles import Font

    wb = Workbook()
    ws = wb.active
    assert ws is not None
    ws.title = title[:31]
    ws.append(list(columns))
    for cell in ws[1]:
        cell.font = Font(bold=True)
    for row in rows:
        ws.append(list(row))
    buf = io.BytesIO()
    wb.save(buf)
    return buf.getvalue()
