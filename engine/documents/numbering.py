"""Register numbers (Decree 30 art. 15): from 01 on 1 January, one series per register.

Secret documents have a series of their own, so a secret "01/QĐ-UBND" and a normal one
may both exist in a year: number + notation are unique per agency, year and series.
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import select
from sqlalchemy.orm import Session

from engine.calendar import VN_TZ
from engine.documents.kinds import register_for
from engine.errors import ConflictError
from engine.sequences import next_number
from storage.models import Document, RegisterCounter, utcnow

__all__ = ["assign_number", "display_number"]

_SERIES = {
    "outgoing": ("sổ văn bản đi", "outgoing register"),
    "outgoing_secret": ("sổ văn bản đi mật", "secret outgoing register"),
}


def display_number(number: int | None) -> str:
    """Numbers below 10 are written with a leading zero (01, 02, …, 10, 11)."""
    return "" if number is None else f"{number:02d}"


def assign_number(session: Session, document: Document, at: datetime | None = None) -> int:
    """Give the document the next number of its register for the year of `at` (Vietnam time).

    Outgoing documents get number + notation ("05/QĐ-UBND") and today's issue date; incoming
    ones their arrival number. Taken in the caller's transaction: concurrent callers
    serialise on the counter row, so numbers are neither repeated nor skipped. Raises
    ConflictError when the document already has a number, or when number + notation is
    already used in that series that year.
    """
    if document.number is not None:
        raise ConflictError(
            f"Văn bản đã có số {display_number(document.number)} / the document already has "
            f"number {display_number(document.number)}",
            code="already_numbered",
        )
    when = (at or utcnow()).astimezone(VN_TZ)
    register = register_for(document.direction, document.secrecy)
    number = next_number(
        session, RegisterCounter, agency_id=document.agency_id, register=register, year=when.year
    )
    document.register, document.year, document.number = register, when.year, number
    if document.direction == "outgoing":
        document.code_number = display_number(number)
        document.issued_date = when.date()
        own = f"{document.code_number}/{document.notation}" if document.notation else None
        if own and session.scalar(
            select(Document.id).where(
                Document.agency_id == document.agency_id,
                Document.register == register,
                Document.year == when.year,
                Document.own_code == own,
            )
        ):
            raise ConflictError(
                f"Số và ký hiệu {own} đã dùng trong {_SERIES[register][0]} năm {when.year}; "
                f"đổi ký hiệu / number and notation {own} are already used in the "
                f"{_SERIES[register][1]} of {when.year}; change the notation",
                code="number_taken",
            )
        document.own_code = own
    session.flush()
    return number
