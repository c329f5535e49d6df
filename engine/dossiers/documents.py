"""The slips of a dossier (forms 01–05); the tracking register (form 06) is `register`."""

from __future__ import annotations

from datetime import datetime
from decimal import Decimal

from sqlalchemy import select
from sqlalchemy.orm import Session

from engine.calendar import VN_TZ
from engine.dossiers.reading import dossier_for
from engine.dossiers.slips import SLIP_KINDS, SlipData, render_slip
from engine.errors import ConflictError, InvalidInputError
from engine.principal import Principal
from storage.models import Agency, Dossier, DossierEvent, User

__all__ = ["dossier_slip"]


def _vn(t: datetime | None) -> str:
    return t.astimezone(VN_TZ).strftime("%d/%m/%Y %H:%M") if t else ""


def _control_rows(session: Session, d: Dossier) -> list[dict[str, str]]:
    rows = []
    events = session.execute(
        select(DossierEvent, User.full_name)
        .outerjoin(User, User.id == DossierEvent.actor_id)
        .where(DossierEvent.dossier_id == d.id, DossierEvent.kind == "handover")
        .order_by(DossierEvent.id)
    ).all()
    for e, name in events:
        rows.append(
            {
                "step": e.note or e.details.get("task", ""),
                "by": name or "",
                "started": _vn(datetime.fromisoformat(e.details["started_at"]))
                if e.details.get("started_at")
                else "",
                "finished": _vn(e.at),
                "allowed": f"{Decimal(str(e.details['allowed_days'])):g} ngày"
                if e.details.get("allowed_days")
                else "",
                "used": f"{Decimal(str(e.details.get('used_days', '0'))):g} ngày",
            }
        )
    return rows


def dossier_slip(session: Session, principal: Principal, code: str, kind: str) -> bytes:
    """One of the dossier's slips as PDF; raises InvalidInputError for an unknown kind and
    ConflictError when the dossier has no such slip (e.g. a refusal for an accepted dossier)."""
    if kind not in SLIP_KINDS:
        raise InvalidInputError(
            f"Loại phiếu '{kind}' không có / unknown slip; use one of {sorted(SLIP_KINDS)}",
            details=[{"field": "kind", "message": f"one of {sorted(SLIP_KINDS)}"}],
        )
    d = dossier_for(session, principal, code)
    available = {
        "receipt": d.due_at is not None,
        "supplement": bool(d.missing_documents),
        "refusal": d.refusal_reason is not None,
        "apology": d.apology_reason is not None,
        "control": d.due_at is not None,
    }
    if not available[kind]:
        raise ConflictError(
            f"Hồ sơ {code} không có phiếu '{kind}' / dossier {code} has no {kind} slip",
            code="slip_not_applicable",
        )
    agency = session.get(Agency, d.receiving_agency_id)
    official = session.get(User, d.received_by) if d.received_by else None
    data = SlipData(
        agency_name=agency.name if agency else "",
        code=d.code,
        applicant=dict(d.applicant),
        procedure_name=d.procedure_name,
        procedure_code=d.procedure_code,
        received_at=d.received_at,
        due_at=d.due_at,
        missing_documents=list(d.missing_documents),
        refusal_reason=d.refusal_reason,
        apology_reason=d.apology_reason,
        new_due_at=d.new_due_at,
        official=official.full_name if official else "",
        rows=_control_rows(session, d) if kind == "control" else [],
    )
    return render_slip(kind, data)
