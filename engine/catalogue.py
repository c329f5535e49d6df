"""The procedure catalogue in the database: loaded from `workflows/catalogue/`, edited by designers."""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any

from sqlalchemy import func, or_, select
from sqlalchemy.orm import Session

from engine import audit
from engine.errors import ConflictError, NotFoundError
from engine.procedures import CatalogueError, ProcedureSpec, load_catalogue, parse_procedure
from engine.unique import flush_unique
from storage.models import Procedure

log = logging.getLogger("lienthong.catalogue")

__all__ = [
    "create_procedure",
    "get_procedure",
    "list_procedures",
    "sync_catalogue",
    "to_spec",
    "update_procedure",
]


def _apply(row: Procedure, spec: ProcedureSpec) -> None:
    row.code = spec.code
    row.name = spec.name
    row.field = spec.field
    row.level = spec.level
    row.competent_agency_kind = spec.competent_agency_kind
    row.competent_unit = spec.competent_unit
    row.processing_days = spec.processing_days
    row.fee_amount = spec.fee.amount
    row.fee_note = spec.fee.note
    row.documents = [d.model_dump() for d in spec.documents]
    row.online_level = spec.online_level
    row.process_id = spec.process_id
    row.step_shares = {k: str(v) for k, v in spec.step_shares.items()}
    row.legal_basis = list(spec.legal_basis)
    row.notes = spec.notes


def to_spec(row: Procedure) -> ProcedureSpec:
    """The stored procedure as a spec, validated; a row today's rules refuse (stored before a
    rule tightened) is returned as stored and logged, so reading never fails on it."""
    data = _stored(row)
    try:
        return parse_procedure(data, source=f"procedure {row.code}")
    except CatalogueError as e:
        log.warning("stored procedure %s breaks the catalogue rules: %s", row.code, e.message)
        return ProcedureSpec.model_construct(**data)


def _stored(row: Procedure) -> dict[str, Any]:
    return {
        "code": row.code,
        "name": row.name,
        "field": row.field,
        "level": row.level,
        "competent_agency_kind": row.competent_agency_kind,
        "competent_unit": row.competent_unit,
        "processing_days": row.processing_days,
        "fee": {"amount": row.fee_amount, "note": row.fee_note},
        "documents": row.documents,
        "online_level": row.online_level,
        "process_id": row.process_id,
        "step_shares": row.step_shares,
        "legal_basis": row.legal_basis,
        "notes": row.notes,
    }


def sync_catalogue(
    session: Session, directory: Path, *, overwrite: bool = False
) -> tuple[int, int]:
    """Insert catalogue procedures missing from the database (update all with `overwrite`).

    Returns (inserted, updated). Edits made through the API survive a plain sync.
    """
    inserted = updated = 0
    for spec in load_catalogue(directory):
        row = session.scalar(select(Procedure).where(Procedure.code == spec.code))
        if row is None:
            row = Procedure()
            _apply(row, spec)
            session.add(row)
            inserted += 1
        elif overwrite:
            _apply(row, spec)
            updated += 1
    session.flush()
    return inserted, updated


def list_procedures(
    session: Session,
    *,
    level: str | None = None,
    q: str | None = None,
    limit: int = 50,
    offset: int = 0,
) -> tuple[list[ProcedureSpec], int]:
    """Procedures by code, filtered by level and a text in code, name or field."""
    where: list[Any] = []
    if level:
        where.append(Procedure.level == level)
    if q:
        needle = q.lower()
        where.append(
            or_(
                func.lower(Procedure.name).contains(needle, autoescape=True),
                func.lower(Procedure.code).contains(needle, autoescape=True),
                func.lower(Procedure.field).contains(needle, autoescape=True),
            )
        )
    total = session.scalar(select(func.count()).select_from(Procedure).where(*where)) or 0
    rows = session.scalars(
        select(Procedure).where(*where).order_by(Procedure.code).limit(limit).offset(offset)
    )
    return [to_spec(r) for r in rows], total


def get_procedure(session: Session, code: str) -> Procedure:
    """The procedure with this code; raises NotFoundError."""
    row = session.scalar(select(Procedure).where(Procedure.code == code))
    if row is None:
        raise NotFoundError(
            f"Không có thủ tục mã {code} / No procedure {code}", code="procedure_not_found"
        )
    return row


def create_procedure(session: Session, data: dict[str, Any], *, actor_id: int) -> ProcedureSpec:
    """Add a procedure; raises CatalogueError (422) or ConflictError (code taken)."""
    spec = parse_procedure(data, source="request")
    taken = ConflictError(
        f"Thủ tục {spec.code} đã có / procedure {spec.code} exists", code="duplicate_procedure"
    )
    if session.scalar(select(Procedure.id).where(Procedure.code == spec.code)) is not None:
        raise taken
    row = Procedure(updated_by=actor_id)
    _apply(row, spec)
    flush_unique(session, taken, row)
    audit.record(session, actor_id, "create", "procedure", spec.code)
    return spec


def update_procedure(
    session: Session, code: str, data: dict[str, Any], *, actor_id: int
) -> ProcedureSpec:
    """Replace a procedure's definition; the code in the body must match. Raises on bad data."""
    row = get_procedure(session, code)
    spec = parse_procedure(data, source="request")
    if spec.code != code:
        raise ConflictError(
            "Không đổi được mã thủ tục / the code of a procedure cannot change",
            code="code_mismatch",
        )
    _apply(row, spec)
    row.updated_by = actor_id
    audit.record(session, actor_id, "update", "procedure", code)
    return spec
