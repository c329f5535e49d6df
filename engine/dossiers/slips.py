"""The official slips of TT 01/2018/TT-VPCP as PDF (A5, Vietnamese text in an embedded font).

Form 01 receipt and appointment, 02 request for supplement, 03 refusal, 04 apology and new
appointment, 05 processing control. The font is Times-compatible Liberation Serif (or DejaVu
Serif), embedded, so every Vietnamese diacritic renders and extracts as text.
"""

from __future__ import annotations

import io
from collections.abc import Sequence
from datetime import datetime
from functools import lru_cache
from pathlib import Path
from typing import Any, LiteralString
from xml.sax.saxutils import escape

from reportlab.lib import colors
from reportlab.lib.enums import TA_CENTER
from reportlab.lib.pagesizes import A5
from reportlab.lib.styles import ParagraphStyle
from reportlab.lib.units import mm
from reportlab.pdfbase import pdfmetrics
from reportlab.pdfbase.ttfonts import TTFont
from reportlab.platypus import Paragraph, SimpleDocTemplate, Spacer, Table, TableStyle

from engine.calendar import VN_TZ
from engine.errors import FontMissingError

__all__ = ["SLIP_KINDS", "SlipData", "render_slip"]

SLIP_KINDS = {
    "receipt": ("01", "GIẤY TIẾP NHẬN HỒ SƠ VÀ HẸN TRẢ KẾT QUẢ"),
    "supplement": ("02", "PHIẾU YÊU CẦU BỔ SUNG, HOÀN THIỆN HỒ SƠ"),
    "refusal": ("03", "PHIẾU TỪ CHỐI TIẾP NHẬN GIẢI QUYẾT HỒ SƠ"),
    "apology": ("04", "PHIẾU XIN LỖI VÀ HẸN LẠI NGÀY TRẢ KẾT QUẢ"),
    "control": ("05", "PHIẾU KIỂM SOÁT QUÁ TRÌNH GIẢI QUYẾT HỒ SƠ"),
}
_FONT_DIRS = [
    Path("/usr/share/fonts/truetype/liberation2"),
    Path("/usr/share/fonts/truetype/liberation"),
]
_FALLBACK = Path("/usr/share/fonts/truetype/dejavu")


@lru_cache(maxsize=1)
def _fonts() -> tuple[str, str]:
    candidates = [
        (d / "LiberationSerif-Regular.ttf", d / "LiberationSerif-Bold.ttf") for d in _FONT_DIRS
    ]
    candidates.append((_FALLBACK / "DejaVuSerif.ttf", _FALLBACK / "DejaVuSerif-Bold.ttf"))
    for regular, bold in candidates:
        if regular.exists() and bold.exists():
            pdfmetrics.registerFont(TTFont("VN-Serif", str(regular)))
            pdfmetrics.registerFont(TTFont("VN-Serif-Bold", str(bold)))
            # So a template's <b>…</b> picks the bold face (there is no italic one).
            pdfmetrics.registerFontFamily(
                "VN-Serif",
                normal="VN-Serif",
                bold="VN-Serif-Bold",
                italic="VN-Serif",
                boldItalic="VN-Serif-Bold",
            )
            return "VN-Serif", "VN-Serif-Bold"
    raise FontMissingError(
        "Thiếu phông chữ tiếng Việt (fonts-liberation2 hoặc fonts-dejavu-core) / no Vietnamese "
        "font installed: apt-get install fonts-liberation2"
    )


def _vn(t: datetime | None) -> str:
    return t.astimezone(VN_TZ).strftime("%H giờ %M phút, ngày %d/%m/%Y") if t else "—"


class SlipData(dict[str, Any]):
    """Everything a slip may show: agency, dossier, applicant, items, reason, dates, rows."""


def _styles() -> dict[str, ParagraphStyle]:
    regular, bold = _fonts()
    return {
        "body": ParagraphStyle("body", fontName=regular, fontSize=10, leading=13),
        "small": ParagraphStyle("small", fontName=regular, fontSize=8, leading=10),
        "center": ParagraphStyle(
            "center", fontName=regular, fontSize=10, leading=13, alignment=TA_CENTER
        ),
        "head": ParagraphStyle("head", fontName=bold, fontSize=10, leading=13, alignment=TA_CENTER),
        "top": ParagraphStyle("top", fontName=bold, fontSize=8.5, leading=11, alignment=TA_CENTER),
        "title": ParagraphStyle(
            "title", fontName=bold, fontSize=12, leading=16, alignment=TA_CENTER
        ),
    }


def _para(style: ParagraphStyle, template: LiteralString, *values: object) -> Paragraph:
    """A paragraph of `template`, markup we wrote, with each `{}` filled by a value as plain
    text. Reportlab parses a paragraph as markup: an applicant's "Trần <Thị> B" would lose a
    word and an `<img src=…>` would read a local file or fetch a URL, so every value is
    escaped here and no slip builds a Paragraph any other way."""
    return Paragraph(template.format(*(escape(str(v)) for v in values)), style)


def _header(d: SlipData, kind: str, st: dict[str, ParagraphStyle]) -> list[Any]:
    number, title = SLIP_KINDS[kind]
    left = [
        _para(st["top"], "{}", d["agency_name"].upper()),
        _para(st["top"], "BỘ PHẬN TIẾP NHẬN VÀ TRẢ KẾT QUẢ"),
    ]
    right = [
        _para(st["top"], "CỘNG HÒA XÃ HỘI CHỦ NGHĨA VIỆT NAM"),
        _para(st["top"], "Độc lập - Tự do - Hạnh phúc"),
    ]
    table = Table([[left, right]], colWidths=[52 * mm, 76 * mm])
    # No cell padding: the national motto must fit on one line of the A5 header.
    table.setStyle(
        TableStyle(
            [
                ("VALIGN", (0, 0), (-1, -1), "TOP"),
                ("LEFTPADDING", (0, 0), (-1, -1), 0),
                ("RIGHTPADDING", (0, 0), (-1, -1), 0),
            ]
        )
    )
    return [
        table,
        Spacer(1, 4 * mm),
        _para(st["small"], "Mẫu số {}", number),
        _para(st["title"], "{}", title),
        _para(st["center"], "Mã hồ sơ: {}", d["code"]),
        Spacer(1, 3 * mm),
    ]


def _lines(d: SlipData, kind: str, style: ParagraphStyle) -> list[Paragraph]:
    def line(template: LiteralString, *values: object) -> Paragraph:
        return _para(style, template, *values)

    a = d["applicant"]
    common = [
        line("Tiếp nhận hồ sơ của: {}", a.get("full_name", "")),
        line(
            "Số định danh cá nhân: {} — Điện thoại: {}", a.get("id_number", ""), a.get("phone", "")
        ),
        line("Nội dung yêu cầu giải quyết: {} (mã {})", d["procedure_name"], d["procedure_code"]),
    ]
    if kind == "receipt":
        return common + [
            line("Thời gian nhận hồ sơ: {}", _vn(d["received_at"])),
            line("Thời gian trả kết quả giải quyết hồ sơ: {}", _vn(d["due_at"])),
            line("Vào Sổ theo dõi hồ sơ, quyển số: {}", f"{d['received_at'].astimezone(VN_TZ):%Y}"),
        ]
    if kind == "supplement":
        items = [line("{}. {}", i, m) for i, m in enumerate(d["missing_documents"], 1)]
        return common + [
            line("Hồ sơ cần bổ sung, hoàn thiện những nội dung sau:"),
            *items,
            line(
                "Trong quá trình hoàn thiện hồ sơ, nếu có vướng mắc, xin liên hệ bộ phận một cửa."
            ),
        ]
    if kind == "refusal":
        return common + [
            line("Lý do từ chối: {}", d["refusal_reason"]),
            line("Xin thông báo để ông/bà được biết."),
        ]
    if kind == "apology":
        return common + [
            line("Thời gian hẹn trả kết quả: {}", _vn(d["due_at"])),
            line("Lý do chậm trả kết quả: {}", d["apology_reason"]),
            line("Thời gian hẹn trả lại kết quả: {}", _vn(d["new_due_at"])),
            line("Cơ quan giải quyết xin lỗi ông/bà vì sự chậm trễ này."),
        ]
    return common + [
        line("Thời gian nhận hồ sơ: {}", _vn(d["received_at"])),
        line("Hẹn trả kết quả: {}", _vn(d["due_at"])),
    ]


def _control_table(rows: Sequence[dict[str, Any]], st: dict[str, ParagraphStyle]) -> Table:
    head = ["Bước", "Người thực hiện", "Bắt đầu", "Hoàn thành", "Cho phép", "Thực tế"]
    columns = ("step", "by", "started", "finished", "allowed", "used")
    data: list[list[Any]] = [[_para(st["small"], "{}", h) for h in head]]
    data += [[_para(st["small"], "{}", r[c]) for c in columns] for r in rows]
    table = Table(
        data, colWidths=[26 * mm, 26 * mm, 22 * mm, 22 * mm, 16 * mm, 16 * mm], repeatRows=1
    )
    table.setStyle(
        TableStyle(
            [("GRID", (0, 0), (-1, -1), 0.4, colors.black), ("VALIGN", (0, 0), (-1, -1), "TOP")]
        )
    )
    return table


def render_slip(kind: str, data: SlipData) -> bytes:
    """Render one of the five slips as PDF bytes; raises FontMissingError without a font."""
    st = _styles()
    story: list[Any] = _header(data, kind, st)
    story += _lines(data, kind, st["body"])
    if kind == "control":
        story += [Spacer(1, 3 * mm), _control_table(data["rows"], st)]
    story += [
        Spacer(1, 6 * mm),
        _para(st["head"], "NGƯỜI TIẾP NHẬN"),
        _para(st["center"], "{}", data.get("official", "")),
    ]
    buf = io.BytesIO()
    doc = SimpleDocTemplate(
        buf,
        pagesize=A5,
        leftMargin=10 * mm,
        rightMargin=10 * mm,
        topMargin=10 * mm,
        bottomMargin=10 * mm,
        title=SLIP_KINDS[kind][1],
        author=data["agency_name"],
    )
    doc.build(story)
    return buf.getvalue()
