"""Dossier codes `<agency code>-YYMMDD-NNNN`: gap-free per agency and day (TT 01/2018/TT-VPCP)."""

from __future__ import annotations

import re
from datetime import date

from sqlalchemy.orm import Session

from engine.errors import ConflictError
from engine.sequences import next_number
from storage.models import DossierCounter

__all__ = ["MAX_PER_DAY", "format_code", "is_dossier_code", "next_sequence"]

MAX_PER_DAY = 9999
_CODE = re.compile(r".+-[0-9]{6}-[0-9]{4}")


def format_code(agency_code: str, day: date, sequence: int) -> str:
    """`000.00.00.H49-250314-0007`."""
    return f"{agency_code}-{day:%y%m%d}-{sequence:04d}"


def is_dossier_code(value: str) -> bool:
    """True for a string shaped like a dossier code (whether or not that dossier exists)."""
    return _CODE.fullmatch(value) is not None


def next_sequence(session: Session, agency_id: int, day: date) -> int:
    """The next number for the agency's day, taken in the caller's transaction.

    The counter row is created or incremented with one atomic upsert, so concurrent
    receptions serialise on that row; a rolled-back reception gives its number back.
    Raises ConflictError past 9999 dossiers in a day.
    """
    sequence = next_number(session, DossierCounter, agency_id=agency_id, day=day)
    if sequence > MAX_PER_DAY:
        raise ConflictError(
            "Đã hết số hồ sơ trong ngày (9999) / the agency has used all 9999 dossier numbers "
            "of the day",
            code="dossier_numbers_exhausted",
        )
    return sequence
