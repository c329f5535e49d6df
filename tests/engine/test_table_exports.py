"""Register exports keep what clerks and other nodes wrote as text, never as a formula."""

from __future__ import annotations

import csv
import io
import re
import zipfile

from hypothesis import given, settings
from hypothesis import strategies as st
from openpyxl import load_workbook
from openpyxl.worksheet.worksheet import Worksheet

from engine.tables import table_csv, table_xlsx

HYPERLINK = '=HYPERLINK("http://evil.example/","Bấm vào đây")'
HOSTILE = [
    HYPERLINK,
    "=1+1",
    "=cmd|' /C calc'!A0",
    "+84 912 345 678",
    "-2+3",
    "@SUM(A1:A9)",
    "\t=1+1",
    "\r=1+1",
    "=",
    "#N/A",
    "#DIV/0!",
]
PLAIN = ["Bộ Nội vụ", "0123", "125/UBND-VP", "20/11/2026", "", "a=b", " =1+1", "1e5"]
COLUMNS = ["Cột"] * len(HOSTILE + PLAIN)
# What XML 1.0, hence XLSX, cannot hold at all.
_NOT_IN_XML = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\ufffe\uffff]")


def _sheet(data: bytes) -> Worksheet:
    ws = load_workbook(io.BytesIO(data)).active
    assert isinstance(ws, Worksheet)
    return ws


def _csv(data: bytes) -> list[list[str]]:
    assert data.startswith("\ufeff".encode())
    return list(csv.reader(io.StringIO(data.decode("utf-8-sig"), newline="")))


def test_xlsx_cells_that_look_like_formulas_are_strings_shown_as_typed() -> None:
    ws = _sheet(table_xlsx(COLUMNS, [HOSTILE + PLAIN], "Sổ đăng ký văn bản đến"))
    cells = list(ws.iter_rows(min_row=2))[0]
    assert [c.value if c.value is not None else "" for c in cells] == HOSTILE + PLAIN
    assert {c.data_type for c in cells if c.value is not None} == {"s"}


def test_xlsx_holds_no_formula_element() -> None:
    data = table_xlsx(["Cơ quan ban hành"], [[v] for v in HOSTILE], "Sổ")
    with zipfile.ZipFile(io.BytesIO(data)) as z:
        sheet = z.read("xl/worksheets/sheet1.xml")
    assert b"<f>" not in sheet and b"<f " not in sheet and b't="e"' not in sheet


def test_xlsx_marks_formula_like_text_so_editing_it_keeps_it_text() -> None:
    ws = _sheet(table_xlsx(["Cơ quan ban hành"], [[HYPERLINK], ["Bộ Nội vụ"]], "Sổ"))
    assert (ws["A2"].value, ws["A2"].data_type, ws["A2"].quotePrefix) == (HYPERLINK, "s", True)
    assert (ws["A3"].value, ws["A3"].quotePrefix) == ("Bộ Nội vụ", False)


def test_xlsx_header_stays_bold() -> None:
    ws = _sheet(table_xlsx(["Số đến", "=Cơ quan"], [["01", "x"]], "Sổ"))
    assert [c.value for c in ws[1]] == ["Số đến", "=Cơ quan"]
    assert all(c.font.bold and c.data_type == "s" for c in ws[1])


def test_csv_cells_that_a_spreadsheet_would_evaluate_get_an_apostrophe() -> None:
    header, row = _csv(table_csv(COLUMNS, [HOSTILE + PLAIN]))
    assert header == COLUMNS
    escaped = {"#N/A", "#DIV/0!"}  # not formulas: left as they are
    assert row[: len(HOSTILE)] == [v if v in escaped else "'" + v for v in HOSTILE]
    assert row[len(HOSTILE) :] == PLAIN


def test_csv_escapes_the_header_too() -> None:
    header, _ = _csv(table_csv(["=Số đến"], [["01"]]))
    assert header == ["'=Số đến"]


@settings(max_examples=200, deadline=None)
@given(st.lists(st.text(max_size=30).filter(lambda s: not _NOT_IN_XML.search(s)), min_size=1))
def test_any_text_comes_back_from_xlsx_as_the_same_string(values: list[str]) -> None:
    ws = _sheet(table_xlsx(["x"] * len(values), [values], "t"))
    cells = list(ws.iter_rows(min_row=2, max_col=len(values)))[0]
    for value, cell in zip(values, cells, strict=True):
        assert (cell.value or "") == value
        assert cell.value is None or cell.data_type == "s"


@settings(max_examples=200, deadline=None)
@given(st.lists(st.text(max_size=30), min_size=1))
def test_any_text_comes_back_from_csv_the_same_or_behind_one_apostrophe(values: list[str]) -> None:
    _, row = _csv(table_csv(["x"] * len(values), [values]))
    for value, cell in zip(values, row, strict=True):
        dangerous = value[:1] in ("=", "+", "-", "@", "\t", "\r")
        assert cell == ("'" + value if dangerous else value)


def test_control_characters_do_not_break_the_workbook() -> None:
    from openpyxl import load_workbook

    data = table_xlsx(["Tên"], [["Sở\x01Tư\x1fpháp"]], "Sổ")
    ws = load_workbook(io.BytesIO(data)).active
    assert ws is not None and ws["A2"].value == "Sở\ufffdTư\ufffdpháp"
