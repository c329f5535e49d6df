"""Dispatch (phát hành): one delivery per recipient agency, put in the outbox for the worker."""

from __future__ import annotations

from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from engine.documents.kinds import DocStatus
from engine.documents.timeline import record_event
from engine.errors import ConflictError, NotFoundError
from engine.exchange.packages import exchange_id_of
from engine.runtime.scripts import ServiceCall
from engine.runtime.services import DEFAULT_SERVICES, StepContext
from storage.models import Agency, Delivery, Document, PeerAgency, utcnow

__all__ = ["queue_deliveries"]


def queue_deliveries(
    session: Session,
    doc: Document,
    recipients: list[dict[str, Any]],
    *,
    business_type: int = 0,
    reason: str | None = None,
) -> list[Delivery]:
    """Add one outbox entry per recipient: local agencies and known peers are 'pending',
    agencies no node serves are 'undeliverable' with the reason (visible in deliveries)."""
    codes = [str(r["code"]) for r in recipients]
    local = set(session.scalars(select(Agency.code).where(Agency.code.in_(codes))).all())
    peers = dict(
        session.execute(
            select(PeerAgency.code, PeerAgency.peer_id).where(PeerAgency.code.in_(codes))
        )
        .tuples()
        .all()
    )
    now = utcnow()
    rows = []
    for r in recipients:
        code = str(r["code"])
        # State secrets do not travel over the exchange network: they go on paper.
        known = (code in local or code in peers) and doc.secrecy == 0
        row = Delivery(
            document_id=doc.id,
            recipient_code=code,
            recipient_name=str(r.get("name") or code),
            business_type=business_type,
            reason=reason,
            peer_id=None if code in local else peers.get(code),
            state="pending" if known else "undeliverable",
            next_attempt_at=now if known else None,
            last_error=None if known else _undeliverable(doc, code),
        )
        session.add(row)
        rows.append(row)
    session.flush()
    return rows


def _undeliverable(doc: Document, code: str) -> str:
    if doc.secrecy > 0:
        return (
            "Văn bản mật không gửi qua mạng liên thông; gửi bản giấy / secret documents are "
            "not sent over the exchange; send the paper copy"
        )
    return f"Không có nút nào phục vụ cơ quan {code} / no node serves agency {code}"


@DEFAULT_SERVICES.register("dispatch_document")
def dispatch_document(call: ServiceCall, document_id: int) -> dict[str, Any]:
    """Service task: mark the document dispatched and queue a delivery per recipient."""
    ctx: StepContext = call.context
    doc = ctx.session.get(Document, int(document_id))
    if doc is None:
        raise NotFoundError(f"Không có văn bản {document_id} / No document {document_id}")
    if doc.number is None:
        raise ConflictError(
            f"Văn bản {doc.id} chưa có số / document {doc.id} has no number yet",
            code="not_numbered",
        )
    doc.exchange_id = exchange_id_of(doc)
    rows = queue_deliveries(
        ctx.session, doc, list(doc.recipients), business_type=3 if doc.replaces_id else 0
    )
    record_event(
        ctx.session,
        doc,
        "dispatched",
        actor_id=ctx.actor_id,
        status=DocStatus.DISPATCHED,
        details={"recipients": [r.recipient_code for r in rows]},
    )
    doc.finished_at = utcnow()
    return {"deliveries": len(rows)}


@DEFAULT_SERVICES.register("document_seal_input")
def document_seal_input(call: ServiceCall, document_id: int) -> dict[str, str]:
    """Service task: what the `sign` task seals — the main file and the stamp's text."""
    from engine.documents.signing import main_file

    ctx: StepContext = call.context
    doc = ctx.session.get(Document, int(document_id))
    if doc is None:
        raise NotFoundError(f"Không có văn bản {document_id} / No document {document_id}")
    code = doc.own_code or doc.code_number or ""
    return {"file_id": main_file(ctx.session, doc).id, "text": f"Số: {code}"}


@DEFAULT_SERVICES.register("document_sealed")
def document_sealed(call: ServiceCall, document_id: int, file_id: str | None = None) -> str:
    """Service task: the agency's signature made by the `sign` task goes on the timeline."""
    ctx: StepContext = call.context
    doc = ctx.session.get(Document, int(document_id))
    if doc is None:
        raise NotFoundError(f"Không có văn bản {document_id} / No document {document_id}")
    details = {"file_id": file_id, "step": "seal", "signer": "agency key", "trusted": True}
    record_event(ctx.session, doc, "signature", actor_id=ctx.actor_id, details=details)
    record_event(ctx.session, doc, "sealed", actor_id=ctx.actor_id)
    return str(file_id)
