"""The outgoing and incoming registers (sổ đăng ký văn bản đi/đến) of an agency for a year."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import select
from sqlalchemy.orm import Session

from engine.calendar import VN_TZ
from engine.documents.kinds import STATUS_NAMES, Urgency, register_for
from engine.documents.numbering import display_number
from engine.errors import InvalidInputError, PermissionDeniedError
from engine.principal import Clearance, Principal
from storage.models import Document

__all__ = ["REGISTER_COLUMNS", "REGISTER_TITLES", "register_rows"]

REGISTER_COLUMNS = {
    "outgoing": [
        "Số",
        "Ký hiệu",
        "Ngày tháng",
        "Tên loại và trích yếu nội dung",
        "Người ký",
        "Nơi nhận",
        "Độ khẩn",
        "Độ mật",
        "Số lượng bản",
        "Trạng thái",
    ],
    "incoming": [
        "Số đến",
        "Ngày đến",
        "Tác giả (cơ quan ban hành)",
        "Số, ký hiệu",
        "Ngày tháng văn bản",
        "Tên loại và trích yếu nội dung",
        "Độ khẩn",
        "Độ mật",
        "Hạn xử lý",
        "Trạng thái",
    ],
}
REGISTER_TITLES = {"outgoing": "Sổ đăng ký văn bản đi", "incoming": "Sổ đăng ký văn bản đến"}


def _vn_date(value: object) -> str:
    if isinstance(value, datetime):
        return value.astimezone(VN_TZ).strftime("%d/%m/%Y")
    return value.strftime("%d/%m/%Y") if value else ""  # type: ignore[attr-defined]


def _row(d: Document) -> list[str]:
    kind = f"{d.type_name}: {d.subject}"
    if d.direction == "outgoing":
        return [
            display_number(d.number),
            d.notation or "",
            _vn_date(d.issued_date),
            kind,
            d.signer_name or "",
            "; ".join(str(r.get("name") or r.get("code")) for r in d.recipients),
            Urgency(d.urgency).label,
            Clearance(d.secrecy).label,
            str(d.copies or ""),
            STATUS_NAMES.get(d.status, d.status),
        ]
    code = f"{d.code_number}/{d.notation}" if d.notation else str(d.code_number or "")
    return [
        display_number(d.number),
        _vn_date(d.arrival_at),
        d.issuer_name,
        code,
        _vn_date(d.issued_date),
        kind,
        Urgency(d.urgency).label,
        Clearance(d.secrecy).label,
        _vn_date(d.handling_due_at),
        STATUS_NAMES.get(d.status, d.status),
    ]


def register_rows(
    session: Session, principal: Principal, direction: str, year: int, *, secret: bool = False
) -> list[list[str]]:
    """The register of the principal's agency in number order; the secret series needs the
    clearance to read every document in it."""
    if direction not in REGISTER_COLUMNS:
        raise InvalidInputError(
            "direction: incoming hoặc outgoing / incoming or outgoing",
            details=[{"field": "direction", "message": "incoming or outgoing"}],
        )
    if not 1900 <= year <= 9999:
        raise InvalidInputError(
            "Năm không hợp lệ / invalid year", details=[{"field": "year", "message": "a year"}]
        )
    if secret and principal.clearance == Clearance.NONE:
        raise PermissionDeniedError(
            "Sổ văn bản mật cần mức tiếp cận bí mật / the secret register needs a clearance",
            code="clearance_required",
        )
    rows = session.scalars(
        select(Document)
        .where(
            Document.agency_id == principal.agency_id,
            Document.register == register_for(direction, 1 if secret else 0),
            Document.year == year,
            Document.secrecy <= int(principal.clearance),
        )
        .order_by(Document.number)
    ).all()
    return [_row(d) for d in rows]
