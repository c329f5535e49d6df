"""The document processes drive the document: each completed step changes its status.

Attached to the runtime's hooks when `engine.documents` is imported. A step whose effect
needs something the form cannot carry (a signature) checks it happened and refuses
otherwise, so the generic task route and the document routes stay consistent.
"""

from __future__ import annotations

from datetime import datetime
from decimal import Decimal
from typing import Any
from uuid import UUID

from sqlalchemy import select
from sqlalchemy.orm import Session

from engine.agencies import get_agency
from engine.calendar import VN_TZ
from engine.documents.kinds import DocStatus
from engine.documents.numbering import assign_number
from engine.documents.timeline import record_event
from engine.errors import ConflictError, InvalidInputError, NotFoundError
from engine.runtime import hooks
from engine.runtime.instances import LoadedInstance
from engine.runtime.scripts import ServiceCall
from engine.runtime.services import DEFAULT_SERVICES, StepContext
from engine.workdays import calendar_for
from storage.models import Document, DocumentEvent, DocumentShare, WorkflowTask, utcnow

__all__ = ["document_of_instance", "is_document_key", "signature_steps"]

# Steps that need a signature made through POST /api/v1/documents/{id}/sign.
signature_steps = frozenset({"sign_document", "seal"})


def is_document_key(key: str) -> bool:
    """True for a business key of the documents' form, `VB-<id>`."""
    return key.startswith("VB-")


def document_of_instance(session: Session, loaded: LoadedInstance) -> Document | None:
    """The document a process instance runs for, or None for other processes."""
    key = loaded.row.business_key or ""
    if not is_document_key(key) or not key[3:].isdigit():
        return None
    return session.get(Document, int(key[3:]))


def _data(loaded: LoadedInstance, row: WorkflowTask) -> dict[str, Any]:
    task = loaded.workflow.get_task_from_id(UUID(row.task_uuid))
    assert task is not None
    data: dict[str, Any] = task.data
    return data


def _check_signature(session: Session, doc: Document, step: str, data: dict[str, Any]) -> None:
    file_id = str(data.get("signed_file_id") or "")
    events = session.scalars(
        select(DocumentEvent).where(
            DocumentEvent.document_id == doc.id, DocumentEvent.kind == "signature"
        )
    ).all()
    if not any(
        e.details.get("file_id") == file_id and e.details.get("step") == step for e in events
    ):
        raise ConflictError(
            f"Chưa ký số bước '{step}': dùng POST /api/v1/documents/{doc.id}/sign / step "
            f"'{step}' has no signature yet: sign through POST /api/v1/documents/{doc.id}/sign",
            code="signature_required",
        )


def _outgoing(session: Session, doc: Document, step: str, data: dict[str, Any], actor: int) -> None:
    decision = data.get("decision")
    comment = data.get("comment") or None
    if step == "draft":
        record_event(
            session, doc, "submitted", actor_id=actor, status=DocStatus.REVIEW, note=comment
        )
    elif step in ("review", "approve") and decision == "return":
        record_event(session, doc, "returned", actor_id=actor, status=DocStatus.DRAFT, note=comment)
    elif step == "review":
        record_event(
            session, doc, "reviewed", actor_id=actor, status=DocStatus.APPROVAL, note=comment
        )
    elif step == "approve":
        record_event(
            session, doc, "approved", actor_id=actor, status=DocStatus.SIGNING, note=comment
        )
    elif step == "sign_document":
        _check_signature(session, doc, step, data)
        record_event(session, doc, "signed", actor_id=actor, status=DocStatus.NUMBERING)
    elif step == "number":
        if data.get("notation"):
            doc.notation = str(data["notation"]).strip()
        assign_number(session, doc)
        record_event(
            session,
            doc,
            "numbered",
            actor_id=actor,
            status=DocStatus.SEALING,
            details={"number": doc.code_number, "code": doc.own_code},
        )
    elif step == "seal":
        _check_signature(session, doc, step, data)
        record_event(session, doc, "sealed", actor_id=actor)


def _agency_ids(session: Session, codes: list[str], field: str) -> list[int]:
    ids = []
    for code in codes:
        try:
            ids.append(get_agency(session, code).id)
        except NotFoundError:
            raise InvalidInputError(
                f"Không có cơ quan mã {code} / no agency with code {code}",
                details=[{"field": field, "message": f"unknown agency {code}"}],
            ) from None
    return ids


def _direct(session: Session, doc: Document, data: dict[str, Any], actor: int) -> None:
    lead = str(data.get("competent_agency") or "").strip().upper()
    coordinating = [str(c).strip().upper() for c in data.get("coordinating_agencies") or []]
    lead_ids = _agency_ids(session, [lead], "competent_agency") if lead else [doc.agency_id]
    for agency_id, role in [(lead_ids[0], "lead")] + [
        (i, "coordinate") for i in _agency_ids(session, coordinating, "coordinating_agencies")
    ]:
        if agency_id != doc.agency_id and not session.scalar(
            select(DocumentShare.id).where(
                DocumentShare.document_id == doc.id, DocumentShare.agency_id == agency_id
            )
        ):
            session.add(DocumentShare(document_id=doc.id, agency_id=agency_id, role=role))
    record_event(
        session,
        doc,
        "directed",
        actor_id=actor,
        status=DocStatus.DIRECTED,
        note=str(data.get("opinion") or ""),
        details={"lead": lead or None, "coordinating": coordinating},
    )


@DEFAULT_SERVICES.register("document_due")
def document_due(call: ServiceCall, document_id: int, due_days: Any = None) -> str:
    """Service task: the handling deadline after the direction, as ISO ('' when none).

    `due_days` working days from now when the leader set them, else the document's own
    reply date (end of that day, Vietnam time).
    """
    ctx: StepContext = call.context
    doc = ctx.session.get(Document, int(document_id))
    if doc is None:
        raise NotFoundError(f"Không có văn bản {document_id} / No document {document_id}")
    if due_days:
        doc.handling_due_at = calendar_for(ctx.session).add_working_days(
            utcnow(), Decimal(str(due_days))
        )
    elif doc.due_date:
        doc.handling_due_at = datetime.combine(doc.due_date, datetime.max.time(), VN_TZ)
    return doc.handling_due_at.isoformat() if doc.handling_due_at else ""


def _incoming(session: Session, doc: Document, step: str, data: dict[str, Any], actor: int) -> None:
    if step == "register" and data.get("decision") == "refuse":
        reason = str(data.get("reason") or "").strip()
        if not reason:
            raise InvalidInputError(
                "Từ chối tiếp nhận phải có lý do / a refusal needs a reason",
                details=[{"field": "reason", "message": "required to refuse"}],
            )
        doc.finished_at = utcnow()
        record_event(session, doc, "refused", actor_id=actor, status=DocStatus.REFUSED, note=reason)
    elif step == "register":
        from engine.documents.drafting import register_arrival

        register_arrival(session, doc, actor)
    elif step == "direct":
        _direct(session, doc, data, actor)
    elif step == "assign":
        record_event(
            session,
            doc,
            "assigned",
            actor_id=actor,
            status=DocStatus.PROCESSING,
            note=data.get("comment") or None,
            details={"assignee": data.get("next_assignee")},
        )
    elif step == "process":
        doc.finished_at = utcnow()
        record_event(
            session,
            doc,
            "processed",
            actor_id=actor,
            status=DocStatus.DONE,
            note=data.get("result"),
        )


def _on_task_completed(
    session: Session, loaded: LoadedInstance, row: WorkflowTask, actor_id: int
) -> None:
    doc = document_of_instance(session, loaded)
    if doc is None:
        return
    if doc.status == DocStatus.RECALLED:
        raise ConflictError(
            f"Văn bản {doc.id} đã bị thu hồi / document {doc.id} was recalled",
            code="document_recalled",
        )
    handler = _outgoing if doc.direction == "outgoing" else _incoming
    handler(session, doc, row.task_spec, _data(loaded, row), actor_id)
    for listener in step_listeners:
        listener(session, doc, row.task_spec)


# Called after a document step changed the document, in the same transaction (the exchange
# module sends status packages from here).
step_listeners: list[Any] = []

hooks.task_completed.append(_on_task_completed)
