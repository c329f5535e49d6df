"""Dossier codes `<agency code>-YYMMDD-NNNN`: gap-free per agency and day (TT 01/2018/TT-VPCP)."""

from __future__ import annotations

from datetime import date

from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.orm import Session

from engine.errors import ConflictError
from storage.models import DossierCounter

__all__ = ["MAX_PER_DAY", "format_code", "next_sequence"]

MAX_PER_DAY = 9999


def format_code(agency_code: str, day: date, sequence: int) -> str:
    """`000.00.00.H49-250314-0007`."""
    return f"{agency_code}-{day:%y%m%d}-{sequence:04d}"


def next_sequence(session: Session, agency_id: int, day: date) -> int:
    """The next number for the agency's day, taken in the caller's transaction.

    The counter row is created or incremented with one atomic upsert, so concurrent
    receptions serialise on that row; a rolled-back reception gives its number back.
    Raises ConflictError past 9999 dossiers in a day.
    """
    dialect = session.get_bind().dialect.name
    insert = pg_insert if dialect == "postgresql" else sqlite_insert
    upsert = (
        insert(DossierCounter)
        .values(agency_id=agency_id, day=day, last=1)
        .on_conflict_do_update(
            index_elements=["agency_id", "day"], set_={"last": DossierCounter.last + 1}
        )
        .returning(DossierCounter.last)
    )
    sequence = int(session.execute(upsert).scalar_one())
    if sequence > MAX_PER_DAY:
        raise ConflictError(
            "Đã hết số hồ sơ trong ngày (9999) / the agency has used all 9999 dossier numbers "
            "of the day",
            code="dossier_numbers_exhausted",
        )
    return sequence
