"""Reading dossiers: full view for their readers, list with filters, public lookup."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any, overload

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from engine.dossiers.access import may_read_dossier, readable_ids
from engine.dossiers.progress import RETURN_METHODS
from engine.dossiers.statuses import STATUS_NAMES
from engine.dossiers.timeliness import timeliness_of, timeliness_verdict
from engine.errors import NotFoundError, PermissionDeniedError
from engine.principal import Principal
from storage.models import Agency, Dossier, DossierEvent, Notification, User

__all__ = [
    "DossierView",
    "PublicDossier",
    "dossier_for",
    "dossier_view",
    "list_dossiers",
    "may_read",
    "my_notifications",
    "public_dossier",
]


@dataclass(frozen=True)
class PublicDossier:
    code: str
    procedure_code: str
    procedure_name: str
    status: int
    status_name: str
    received_at: datetime
    due_at: datetime | None
    returned_at: datetime | None


@dataclass(frozen=True)
class DossierView(PublicDossier):
    receiving_agency: str
    competent_agency: str
    channel: str
    applicant: dict[str, Any]
    missing_documents: list[str]
    supplement_requests: int
    refusal_reason: str | None
    finished_at: datetime | None
    timeliness: str
    instance_id: int | None
    # How the result went back once returned: counter, post (with `postal_address`), online.
    returned_by: str | None = None
    returned_by_name: str | None = None
    postal_address: str | None = None
    timeline: list[dict[str, Any]] = field(default_factory=list)


def _get(session: Session, code: str) -> Dossier:
    dossier = session.scalar(select(Dossier).where(Dossier.code == code))
    if dossier is None:
        raise NotFoundError(f"Không có hồ sơ {code} / No dossier {code}", code="dossier_not_found")
    return dossier


def may_read(session: Session, principal: Principal, code: str) -> bool:
    """True when the principal may read the dossier (see `engine.dossiers.access`)."""
    d = session.scalar(select(Dossier).where(Dossier.code == code))
    return d is not None and may_read_dossier(session, principal, d)


def handles(session: Session, principal: Principal, code: str) -> bool:
    """True when the principal's agency receives the dossier or is its competent agency."""
    d = session.scalar(select(Dossier).where(Dossier.code == code))
    return d is not None and principal.agency_id in (d.receiving_agency_id, d.competent_agency_id)


def dossier_for(session: Session, principal: Principal, code: str) -> Dossier:
    """The dossier row if the principal may read it (see `engine.dossiers.access`).

    Raises NotFoundError (no such code), PermissionDeniedError (not a reader).
    """
    d = _get(session, code)
    if not may_read_dossier(session, principal, d):
        raise PermissionDeniedError(
            f"Hồ sơ {code} không thuộc cơ quan của bạn / dossier {code} is not your agency's",
            code="dossier_forbidden",
        )
    return d


def public_dossier(session: Session, code: str) -> PublicDossier:
    """What a citizen may see by code: never identity, contact details or files."""
    return _public(_get(session, code))


def _public(d: Dossier) -> PublicDossier:
    return PublicDossier(
        code=d.code,
        procedure_code=d.procedure_code,
        procedure_name=d.procedure_name,
        status=d.status,
        status_name=STATUS_NAMES[d.status],
        received_at=_utc(d.received_at),
        due_at=_utc(d.due_at),
        returned_at=_utc(d.returned_at),
    )


@overload
def _utc(at: datetime) -> datetime: ...
@overload
def _utc(at: None) -> None: ...
def _utc(at: datetime | None) -> datetime | None:
    # Times read back from the database are UTC; those set in this request (a due date from
    # the calendar) carry +07:00. One zone in every answer: POST and GET agree.
    return at.astimezone(UTC) if at is not None and at.tzinfo is not None else at


def dossier_view(session: Session, principal: Principal, code: str) -> DossierView:
    """Everything about a dossier, with its timeline; its readers only (see `dossier_for`)."""
    d = dossier_for(session, principal, code)
    recv = session.get(Agency, d.receiving_agency_id)
    comp = session.get(Agency, d.competent_agency_id)
    events = session.execute(
        select(DossierEvent, User.username, User.full_name)
        .outerjoin(User, User.id == DossierEvent.actor_id)
        .where(DossierEvent.dossier_id == d.id)
        .order_by(DossierEvent.id)
    ).all()
    base = public_dossier(session, code)
    returned = _returned(d, [e for e, _, _ in events])
    return DossierView(
        **vars(base),
        receiving_agency=recv.code if recv else "",
        competent_agency=comp.code if comp else "",
        channel=d.channel,
        applicant=dict(d.applicant),
        missing_documents=list(d.missing_documents),
        supplement_requests=d.supplement_requests,
        refusal_reason=d.refusal_reason,
        finished_at=_utc(d.finished_at),
        timeliness=timeliness_of(session, d),
        instance_id=d.instance_id,
        returned_by=returned.get("returned_by"),
        returned_by_name=RETURN_METHODS.get(returned.get("returned_by", "")),
        postal_address=returned.get("postal_address"),
        timeline=[
            {
                "at": e.at.isoformat(),
                "kind": e.kind,
                "status": e.status,
                "status_name": STATUS_NAMES.get(e.status) if e.status else None,
                "by": username,
                "by_name": full_name,
                "note": e.note,
                "details": e.details,
            }
            for e, username, full_name in events
        ],
    )


def _returned(d: Dossier, events: list[DossierEvent]) -> dict[str, str]:
    """`returned_by` and `postal_address` of the return's hand-over; a returned dossier whose
    hand-over does not say (recorded before the form asked) went back at the counter."""
    details = next(
        (
            e.details
            for e in reversed(events)
            if e.kind == "handover" and e.details.get("task") == "return_result"
        ),
        None,
    )
    if details is None and d.returned_at is None:
        return {}
    found = {
        k: str(v) for k, v in (details or {}).items() if k in ("returned_by", "postal_address")
    }
    return {"returned_by": "counter", **found}


def list_dossiers(
    session: Session,
    principal: Principal,
    *,
    status: int | None = None,
    procedure: str | None = None,
    overdue: bool | None = None,
    received_from: datetime | None = None,
    received_to: datetime | None = None,
    limit: int = 50,
    offset: int = 0,
) -> tuple[list[PublicDossier], int]:
    """Dossiers the principal may read (the rule of `engine.dossiers.access`), newest first."""
    where: list[Any] = [Dossier.id.in_(readable_ids(principal))]
    if status is not None:
        where.append(Dossier.status == status)
    if procedure:
        where.append(Dossier.procedure_code == procedure)
    if received_from:
        where.append(Dossier.received_at >= received_from)
    if received_to:
        where.append(Dossier.received_at < received_to)
    if overdue is not None:
        verdict = timeliness_verdict()
        where.append(verdict == "overdue" if overdue else verdict != "overdue")
    base = select(Dossier).where(*where)
    total = session.scalar(select(func.count()).select_from(base.subquery())) or 0
    rows = session.scalars(
        base.order_by(Dossier.received_at.desc(), Dossier.id.desc()).limit(limit).offset(offset)
    )
    return [_public(d) for d in rows], total


def my_notifications(
    session: Session, principal: Principal, *, limit: int = 50, offset: int = 0
) -> tuple[list[Notification], int]:
    """The principal's notifications, newest first; returns (page, total)."""
    where = Notification.user_id == principal.user_id
    total = session.scalar(select(func.count()).select_from(Notification).where(where)) or 0
    rows = session.scalars(
        select(Notification)
        .where(where)
        .order_by(Notification.id.desc())
        .limit(limit)
        .offset(offset)
    )
    return list(rows), total
