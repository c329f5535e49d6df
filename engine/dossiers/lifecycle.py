"""Withdrawal by the applicant and suspension of processing ("Dừng xử lý")."""

from __future__ import annotations

from sqlalchemy.orm import Session

from engine import audit
from engine.agencies import in_scope
from engine.dossiers.reading import dossier_for
from engine.dossiers.statuses import Status
from engine.dossiers.timeline import record_event
from engine.errors import ConflictError, InvalidInputError, PermissionDeniedError
from engine.principal import Principal
from engine.runtime.cancel import cancel_instance
from storage.models import Agency, Dossier, utcnow

__all__ = ["stop"]

_OPEN = (Status.NEW, Status.ACCEPTED, Status.PROCESSING, Status.SUPPLEMENT, Status.FINANCIAL)
# What each kind of stop is called in the messages: Vietnamese, English.
_ACTS = {"withdraw": ("rút hồ sơ", "withdrawn"), "suspend": ("dừng xử lý", "suspended")}


def stop(session: Session, principal: Principal, code: str, *, kind: str, reason: str) -> Dossier:
    """Close an open dossier: `withdraw` (the applicant asks, at the desk) or `suspend`
    (a leader stops processing). Cancels its waiting tasks; raises ConflictError when the
    dossier is already closed, PermissionDeniedError for the wrong role."""
    if not reason.strip():
        raise InvalidInputError(
            "Cần lý do / a reason is required", details=[{"field": "reason", "message": "required"}]
        )
    d = dossier_for(session, principal, code)
    needed = "reception" if kind == "withdraw" else "leader"
    receiving = session.get(Agency, d.receiving_agency_id)
    if (
        not principal.has_role(needed)
        or receiving is None
        or not (in_scope(principal, receiving.path) or kind == "suspend")
    ):
        raise PermissionDeniedError(
            f"Cần vai trò {needed} / the {needed} role is needed", code="role_required"
        )
    if d.status not in _OPEN:
        vi, en = _ACTS[kind]
        raise ConflictError(
            f"Hồ sơ {code} đã kết thúc; không thể {vi} / dossier {code} is already closed and "
            f"cannot be {en}",
            code="dossier_closed",
        )
    status = Status.WITHDRAWN if kind == "withdraw" else Status.SUSPENDED
    now = utcnow()
    d.finished_at = now
    cancel_instance(session, d.instance_id)
    record_event(session, d, kind, actor_id=principal.user_id, status=status, note=reason.strip())
    audit.record(session, principal.user_id, kind, "dossier", code, {"reason": reason})
    return d
