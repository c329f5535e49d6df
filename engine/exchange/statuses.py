"""Statuses owed to the sender of an incoming document, queued as its officials work on it."""

from __future__ import annotations

from typing import Final

from sqlalchemy import select
from sqlalchemy.orm import Session

from engine.documents import flow
from storage.models import Document, DocumentEvent, StatusOutbox, utcnow

__all__ = ["STEP_STATUS"]

# Incoming step done → edXML status code sent back (QCVN 102:2016).
STEP_STATUS: Final[dict[str, tuple[str, str]]] = {
    "register": ("03", "Đã vào sổ văn bản đến / registered"),
    "direct": ("04", "Đã có ý kiến chỉ đạo, chờ phân công / directed, awaiting assignment"),
    "assign": ("05", "Đã phân công xử lý / assigned"),
    "process": ("06", "Đã xử lý xong / finished"),
}


def _on_step(session: Session, doc: Document, step: str) -> None:
    if doc.direction != "incoming" or not doc.exchange_id or step not in STEP_STATUS:
        return
    code, text = STEP_STATUS[step]
    if step == "register" and doc.status == "refused":
        session.flush()  # the step runs without autoflush; its refusal event must be visible
        reason = session.scalar(
            select(DocumentEvent.note)
            .where(DocumentEvent.document_id == doc.id, DocumentEvent.kind == "refused")
            .order_by(DocumentEvent.id.desc())
            .limit(1)
        )
        code, text = "02", reason or "Từ chối tiếp nhận / refused"
    session.add(
        StatusOutbox(
            document_id=doc.id,
            sender_code=doc.issuer_code,
            status_code=code,
            description=text,
            next_attempt_at=utcnow(),
        )
    )


flow.step_listeners.append(_on_step)
