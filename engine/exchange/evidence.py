"""The evidence log: every package and status sent or received, with its hash; append-only."""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import func, or_, select
from sqlalchemy.orm import Session

from engine.errors import LienthongError, PermissionDeniedError
from engine.exchange.signers import Signer
from engine.principal import Principal
from storage.models import ExchangeEvidence

__all__ = ["EvidenceView", "evidence", "list_evidence", "record_refusal"]


@dataclass(frozen=True)
class EvidenceView:
    id: int
    at: datetime
    direction: str
    kind: str
    exchange_id: str | None
    sender_code: str | None
    recipient_code: str | None
    peer: str | None
    status_code: str | None
    sha256: str
    size: int
    result: str
    detail: str | None
    # "agency" or "node": whose key signed the package or status (received: the signature
    # that held; sent: ours), and that certificate's SHA-256 fingerprint
    signed_by: str | None
    signer_sha256: str | None


def evidence(
    session: Session,
    *,
    direction: str,
    kind: str,
    data: bytes,
    result: str,
    exchange_id: str | None = None,
    sender: str | None = None,
    recipient: str | None = None,
    peer: str | None = None,
    status_code: str | None = None,
    object_key: str | None = None,
    detail: str | None = None,
    signer: Signer | None = None,
) -> None:
    """Append to the evidence log (never updated, never deleted); `signer` is whose key made
    the signature of what was sent, or the one a received signature held with."""
    session.add(
        ExchangeEvidence(
            direction=direction,
            kind=kind,
            exchange_id=exchange_id,
            sender_code=sender,
            recipient_code=recipient,
            peer=peer,
            status_code=status_code,
            sha256=hashlib.sha256(data).hexdigest(),
            size=len(data),
            object_key=object_key,
            result=result,
            detail=detail,
            signed_by=signer.kind if signer else None,
            signer_sha256=signer.sha256 if signer else None,
        )
    )


def record_refusal(session: Session, data: bytes, error: LienthongError) -> None:
    """Log a package this node refused (in its own transaction: the refusal rolls back the
    receiving one)."""
    evidence(
        session,
        direction="received",
        kind="package",
        data=data,
        result=error.code[:32],
        detail=error.message,
    )


def list_evidence(
    session: Session,
    principal: Principal,
    *,
    exchange_id: str | None = None,
    limit: int = 50,
    offset: int = 0,
) -> tuple[list[EvidenceView], int]:
    """The log, newest first, optionally for one DocumentId: an admin sees the node's whole
    log, a clerk what concerns the clerk's agency (as sender or recipient, or a status
    about one of its documents, whose DocumentId starts with its code)."""
    if not principal.has_role("admin", "clerk"):
        raise PermissionDeniedError(
            "Cần vai trò văn thư hoặc quản trị / clerk or admin role required", code="role_required"
        )
    where = [ExchangeEvidence.exchange_id == exchange_id] if exchange_id else []
    if not principal.is_admin:
        code = principal.agency_code
        where.append(
            or_(
                ExchangeEvidence.sender_code == code,
                ExchangeEvidence.recipient_code == code,
                ExchangeEvidence.exchange_id.startswith(f"{code},", autoescape=True),
            )
        )
    total = session.scalar(select(func.count(ExchangeEvidence.id)).where(*where)) or 0
    rows = session.scalars(
        select(ExchangeEvidence)
        .where(*where)
        .order_by(ExchangeEvidence.id.desc())
        .limit(limit)
        .offset(offset)
    ).all()
    return [
        EvidenceView(
            r.id,
            r.at,
            r.direction,
            r.kind,
            r.exchange_id,
            r.sender_code,
            r.recipient_code,
            r.peer,
            r.status_code,
            r.sha256,
            r.size,
            r.result,
            r.detail,
            r.signed_by,
            r.signer_sha256,
        )
        for r in rows
    ], total
