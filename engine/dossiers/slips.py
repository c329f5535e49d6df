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
from typing import Any

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


def _header(d: SlipData, kind: str, st: dict[str, ParagraphStyle]) -> list[Any]:
    number, title = SLIP_KINDS[kind]
    left = [
        Paragraph(d["agency_name"].upper(), st["top"]),
        Paragraph("BỘ PHẬN TIẾP NHẬN VÀ TRẢ KẾT QUẢ", st["top"]),
    ]
    right = [
        Paragraph("CỘNG HÒA XÃ HỘI CHỦ NGHĨA VIỆT NAM", st["top"]),
        Paragraph("Độc lập - Tự do - Hạnh phúc", st["top"]),
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
        Paragraph(f"Mẫu số {number}", st["small"]),
        Paragraph(title, st["title"]),
        Paragraph(f"Mã hồ sơ: {d['code']}", st["center"]),
        Spacer(1, 3 * mm),
    ]


def _lines(d: SlipData, kind: str) -> list[str]:
    a = d["applicant"]
    common = [
        f"Tiếp nhận hồ sơ của: {a.get('full_name', '')}",
        f"Số định danh cá nhân: {a.get('id_number', '')} — Điện thoại: {a.get('phone', '')}",
        f"Nội dung yêu cầu giải quyết: {d['procedure_name']} (mã {d['procedure_code']})",
    ]
    if kind == "receipt":
        return common + [
            f"Thời gian nhận hồ sơ: {_vn(d['received_at'])}",
            f"Thời gian trả kết quả giải quyết hồ sơ: {_vn(d['due_at'])}",
            f"Vào Sổ theo dõi hồ sơ, quyển số: {d['received_at'].astimezone(VN_TZ):%Y}",
        ]
    if kind == "supplement":
        items = [f"{i}. {m}" for i, m in enumerate(d["missing_documents"], 1)]
        return common + [
            "Hồ sơ cần bổ sung, hoàn thiện những nội dung sau:",
            *items,
            "Trong quá trình hoàn thiện hồ sơ, nếu có vướng mắc, xin liên hệ bộ phận một cửa.",
        ]
    if kind == "refusal":
        return common + [
            f"Lý do từ chối: {d['refusal_reason']}",
            "Xin thông báo để ông/bà được biết.",
        ]
    if kind == "apology":
        return common + [
            f"Thời gian hẹn trả kết quả: {_vn(d['due_at'])}",
            f"Lý do chậm trả kết quả: {d['apology_reason']}",
            f"Thời gian hẹn trả lại kết quả: {_vn(d['new_due_at'])}",
            "Cơ quan giải quyết xin lỗi ông/bà vì sự chậm trễ này.",
        ]
    return common + [
        f"Thời gian nhận hồ sơ: {_vn(d['received_at'])}",
        f"Hẹn trả kết quả: {_vn(d['due_at'])}",
    ]


def _control_table(rows: Sequence[dict[str, Any]], st: dict[str, ParagraphStyle]) -> Table:
    head = ["Bước", "Người thực hiện", "Bắt đầu", "Hoàn thành", "Cho phép", "Thực tế"]
    data: list[list[Any]] = [[Paragraph(h, st["small"]) for h in head]]
    for r in rows:
        data.append(
            [
                Paragraph(str(c), st["small"])
                for c in (
                    r["step"],
                    r["by"],
                    r["started"],
                    r["finished"],
                    r["allowed"],
                    r["used"],
                )
            ]
        )
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
    story += [Paragraph(line, st["body"]) for line in _lines(data, kind)]
    if kind == "control":
        story += [Spacer(1, 3 * mm), _control_table(data["rows"], st)]
    story += [
        Spacer(1, 6 * mm),
        Paragraph("NGƯỜI TIẾP NHẬN", st["head"]),
        Paragraph(data.get("official", ""), st["center"]),
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
