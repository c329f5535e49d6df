"""Documents as edXML packages: what the sender puts in, and statuses about a received one."""

from __future__ import annotations

import datetime as dt

from sqlalchemy import select
from sqlalchemy.orm import Session

from engine.calendar import VN_TZ
from engine.exchange.model import (
    Attachment,
    Business,
    BusinessDocType,
    Code,
    DocumentId,
    DocumentPackage,
    DocumentType,
    MessageHeader,
    Organization,
    OtherInfo,
    Priority,
    PromulgationInfo,
    ReplacementInfo,
    ResponseFor,
    SignerInfo,
    StaffInfo,
    StatusCode,
    StatusPackage,
    TraceHeader,
    TraceHeaderList,
)
from engine.files import latest_version, verified_chunks
from storage.models import Agency, Document, DocumentEvent, DocumentFile, StoredFile
from storage.objects import ObjectStore

__all__ = ["document_package", "exchange_id_of", "status_package"]


def exchange_id_of(doc: Document) -> str:
    """The edXML DocumentId of a numbered outgoing document: `OrganId,YYYY/MM/DD,số/ký hiệu`."""
    assert doc.issued_date is not None and doc.code_number is not None
    return str(DocumentId(doc.issuer_code, doc.issued_date, doc.code_number, doc.notation or ""))


def _sealed_version(session: Session, doc: Document) -> StoredFile | None:
    events = session.scalars(
        select(DocumentEvent)
        .where(DocumentEvent.document_id == doc.id, DocumentEvent.kind == "signature")
        .order_by(DocumentEvent.id.desc())
    ).all()
    file_id = next(
        (e.details.get("file_id") for e in events if e.details.get("step") == "seal"), None
    )
    return session.get(StoredFile, file_id) if file_id else None


def _attachments(session: Session, store: ObjectStore, doc: Document) -> tuple[Attachment, ...]:
    rows = session.execute(
        select(DocumentFile.role, DocumentFile.file_root_id)
        .where(DocumentFile.document_id == doc.id)
        .order_by(DocumentFile.position)
    ).all()
    sealed = _sealed_version(session, doc)
    out = []
    for n, (role, root) in enumerate(rows, 1):
        # The main text goes out exactly as the agency signed it, whatever came after.
        f = sealed if role == "main" and sealed is not None else latest_version(session, root)
        if f is None:
            continue
        data = b"".join(verified_chunks(store, f, lambda _message: None))
        out.append(
            Attachment(
                content_id=f"cid:{n}",
                name=f.name,
                content_type=f.media_type,
                data=data,
                description="Văn bản chính" if role == "main" else "Phụ lục",
            )
        )
    return tuple(out)


def _replaces(
    session: Session, doc: Document, recipients: list[tuple[str, str]]
) -> tuple[ReplacementInfo, ...]:
    old = session.get(Document, doc.replaces_id) if doc.replaces_id else None
    if old is None or not old.exchange_id:
        return ()
    return (
        ReplacementInfo(document_id=old.exchange_id, organ_id_list=tuple(c for c, _ in recipients)),
    )


def document_package(
    session: Session,
    store: ObjectStore,
    doc: Document,
    recipients: list[tuple[str, str]],
    *,
    business_type: int = 0,
    reason: str | None = None,
    staff: str | None = None,
) -> DocumentPackage:
    """The package for `recipients` ((code, name) pairs served by one node), files included."""
    assert doc.issued_date is not None and doc.code_number is not None
    agency = session.get(Agency, doc.agency_id)
    assert agency is not None
    header = MessageHeader(
        from_=Organization(organ_id=doc.issuer_code, organ_name=doc.issuer_name),
        to=tuple(Organization(organ_id=c, organ_name=n) for c, n in recipients),
        document_id=exchange_id_of(doc),
        code=Code(code_number=doc.code_number, code_notation=doc.notation or ""),
        promulgation_info=PromulgationInfo(
            place=doc.place or "", promulgation_date=doc.issued_date
        ),
        document_type=DocumentType(type=doc.type_code or "1", type_name=doc.type_name),
        subject=doc.subject,
        content=doc.summary,
        signer_info=SignerInfo(
            competence=doc.signer_competence,
            position=doc.signer_position,
            full_name=doc.signer_name,
        )
        if doc.signer_name
        else None,
        due_date=doc.due_date,
        to_places=tuple(doc.to_places),
        other_info=OtherInfo(
            priority=Priority(doc.urgency), page_amount=doc.pages, promulgation_amount=doc.copies
        ),
    )
    trace = TraceHeaderList(
        trace_headers=(
            TraceHeader(
                organ_id=agency.code, timestamp=dt.datetime.now(VN_TZ).replace(microsecond=0)
            ),
        ),
        business=Business(
            business_doc_type=BusinessDocType(business_type),
            business_doc_reason=reason,
            paper=0,
            staff_info=StaffInfo(staff=staff) if staff else None,
            replacement_info_list=_replaces(session, doc, recipients),
        ),
    )
    return DocumentPackage(
        message_header=header,
        trace_header_list=trace,
        attachments=_attachments(session, store, doc),
    )


def status_package(
    doc: Document, agency: Agency, code: str, description: str | None, staff: str | None
) -> StatusPackage:
    """A status about an incoming document, from the receiving agency back to its sender."""
    return StatusPackage(
        response_for=ResponseFor(
            organ_id=doc.issuer_code,
            code=f"{doc.code_number}/{doc.notation}" if doc.notation else str(doc.code_number),
            promulgation_date=doc.issued_date,
            document_id=str(doc.exchange_id),
        ),
        from_=Organization(organ_id=agency.code, organ_name=agency.name),
        status_code=StatusCode(code),
        description=description,
        timestamp=dt.datetime.now(VN_TZ).replace(microsecond=0),
        staff_info=StaffInfo(staff=staff) if staff else None,
    )
