"""Reading documents: who may see one, the full view with files and timeline, filtered lists."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date, datetime
from typing import Any

from sqlalchemy import Select, exists, func, or_, select
from sqlalchemy.orm import Session, aliased
from sqlalchemy.sql import ColumnElement

from engine.documents.kinds import STATUS_NAMES, Urgency
from engine.documents.numbering import display_number
from engine.errors import InvalidInputError, NotFoundError
from engine.principal import Clearance, Principal
from storage.models import (
    Agency,
    Document,
    DocumentEvent,
    DocumentFile,
    DocumentShare,
    StoredFile,
    User,
)

__all__ = [
    "DocumentFilter",
    "DocumentView",
    "document_for",
    "document_view",
    "list_documents",
    "may_read",
    "visible",
]

# Ids are INTEGER on PostgreSQL: a larger one names no document (and would not bind).
_MAX_ID = 2**31 - 1


@dataclass(frozen=True)
class DocumentView:
    id: int
    direction: str
    status: str
    status_name: str
    agency: str
    type_name: str
    type_code: str | None
    number: str
    notation: str | None
    code: str
    register: str | None
    year: int | None
    issued_date: date | None
    issuer_code: str
    issuer_name: str
    place: str | None
    subject: str
    summary: str | None
    language: str
    pages: int | None
    signer: dict[str, str | None]
    recipients: list[dict[str, Any]]
    to_places: list[str]
    urgency: int
    urgency_name: str
    secrecy: int
    secrecy_name: str
    due_date: date | None
    copies: int | None
    arrival_number: str
    arrival_at: datetime | None
    handling_due_at: datetime | None
    exchange_id: str | None
    duplicate_of: int | None
    replaces: int | None
    created_at: datetime
    finished_at: datetime | None
    pending_change: int | None
    pending_reason: str | None
    files: list[dict[str, Any]] = field(default_factory=list)
    timeline: list[dict[str, Any]] = field(default_factory=list)


@dataclass(frozen=True)
class DocumentFilter:
    direction: str | None = None
    status: str | None = None
    year: int | None = None
    q: str | None = None
    issuer: str | None = None
    date_from: datetime | None = None
    date_to: datetime | None = None
    duplicates: bool | None = None


def visible(principal: Principal) -> ColumnElement[bool]:
    """SQL condition: documents of the principal's agency subtree, or shared with it, whose
    secrecy the principal's clearance covers. Checked row by row: for reading one document."""
    own = _subtree(principal)
    shared = exists(
        select(DocumentShare.id).where(
            DocumentShare.document_id == Document.id, DocumentShare.agency_id.in_(own)
        )
    )
    return (Document.secrecy <= int(principal.clearance)) & or_(Document.agency_id.in_(own), shared)


def _listable(principal: Principal) -> ColumnElement[bool]:
    # `visible` for lists: one IN over a UNION, where the OR with an EXISTS made every list
    # scan the node's whole documents table (every agency's); both sides are index lookups.
    own = _subtree(principal)
    readable = (
        select(Document.id)
        .where(Document.agency_id.in_(own))
        .union(select(DocumentShare.document_id).where(DocumentShare.agency_id.in_(own)))
    )
    return (Document.secrecy <= int(principal.clearance)) & Document.id.in_(readable)


def _subtree(principal: Principal) -> Select[tuple[int]]:
    return select(Agency.id).where(Agency.path.startswith(principal.agency_path))


def document_for(session: Session, principal: Principal, document_id: int) -> Document:
    """The document if the principal may read it; raises NotFoundError otherwise.

    A document the principal may not see answers like one that does not exist, so its
    existence (and a secret subject) does not leak.
    """
    row = (
        session.scalar(select(Document).where(Document.id == document_id, visible(principal)))
        if 0 < document_id <= _MAX_ID
        else None
    )
    if row is None:
        raise NotFoundError(
            f"Không có văn bản {document_id} / No document {document_id}",
            code="document_not_found",
        )
    return row


def may_read(session: Session, principal: Principal, document_id: str) -> bool:
    """True when the principal may read the document (the files of a document follow it)."""
    digits = document_id.isascii() and document_id.isdigit() and len(document_id) <= 10
    if not digits or not 0 < int(document_id) <= _MAX_ID:
        return False
    return bool(
        session.scalar(
            select(Document.id).where(Document.id == int(document_id), visible(principal))
        )
    )


def _files(session: Session, row: Document) -> list[dict[str, Any]]:
    # Correlated per attached file: an aggregate over every root would read the node's whole
    # files table for each document shown.
    newest = aliased(StoredFile)
    latest = (
        select(func.max(newest.version))
        .where(
            newest.root_id == DocumentFile.file_root_id,
            newest.purged_at.is_(None),
            newest.deleted_at.is_(None),
        )
        .scalar_subquery()
    )
    rows = session.execute(
        select(DocumentFile.role, StoredFile)
        .join(
            StoredFile,
            (StoredFile.root_id == DocumentFile.file_root_id) & (StoredFile.version == latest),
        )
        .where(DocumentFile.document_id == row.id)
        .order_by(DocumentFile.position)
    ).all()
    return [
        {
            "role": role,
            "id": f.id,
            "name": f.name,
            "media_type": f.media_type,
            "size": f.size,
            "sha256": f.sha256,
            "version": f.version,
        }
        for role, f in rows
    ]


def _timeline(session: Session, row: Document) -> list[dict[str, Any]]:
    rows = session.execute(
        select(DocumentEvent, User.username, User.full_name)
        .outerjoin(User, User.id == DocumentEvent.actor_id)
        .where(DocumentEvent.document_id == row.id)
        .order_by(DocumentEvent.id)
    ).all()
    return [
        {
            "at": e.at,
            "kind": e.kind,
            "status": e.status,
            "by": username,
            "by_name": full_name,
            "note": e.note,
            "details": e.details,
        }
        for e, username, full_name in rows
    ]


def document_view(
    session: Session, row: Document, *, detail: bool = False, agency_code: str | None = None
) -> DocumentView:
    """The document as the API shows it; `detail` adds files and the timeline."""
    if agency_code is None:
        agency_code = session.scalar(select(Agency.code).where(Agency.id == row.agency_id)) or ""
    outgoing = row.direction == "outgoing"
    number = display_number(row.number) if outgoing else (row.code_number or "")
    code = f"{number}/{row.notation}" if number and row.notation else number
    return DocumentView(
        id=row.id,
        direction=row.direction,
        status=row.status,
        status_name=STATUS_NAMES.get(row.status, row.status),
        agency=agency_code,
        type_name=row.type_name,
        type_code=row.type_code,
        number=number,
        notation=row.notation,
        code=code,
        register=row.register,
        year=row.year,
        issued_date=row.issued_date,
        issuer_code=row.issuer_code,
        issuer_name=row.issuer_name,
        place=row.place,
        subject=row.subject,
        summary=row.summary,
        language=row.language,
        pages=row.pages,
        signer={
            "name": row.signer_name,
            "position": row.signer_position,
            "competence": row.signer_competence,
        },
        recipients=list(row.recipients),
        to_places=list(row.to_places),
        urgency=row.urgency,
        urgency_name=Urgency(row.urgency).label,
        secrecy=row.secrecy,
        secrecy_name=Clearance(row.secrecy).label,
        due_date=row.due_date,
        copies=row.copies,
        arrival_number="" if outgoing else display_number(row.number),
        arrival_at=row.arrival_at,
        handling_due_at=row.handling_due_at,
        exchange_id=row.exchange_id,
        duplicate_of=row.duplicate_of_id,
        replaces=row.replaces_id,
        created_at=row.created_at,
        finished_at=row.finished_at,
        pending_change=row.pending_change,
        pending_reason=row.pending_reason,
        files=_files(session, row) if detail else [],
        timeline=_timeline(session, row) if detail else [],
    )


def _matches(q: str) -> ColumnElement[bool]:
    """The subject, or the number and notation as the issuer wrote them ("12/UBND-VP"),
    contain `q` in any case; `%`, `_` and the escape character in `q` stand for themselves."""
    # NULL when either part is missing: then the parts alone match.
    code = Document.code_number + "/" + Document.notation
    columns = (Document.subject, Document.code_number, Document.notation, code)
    # q is lowered here: SQLite's LOWER knows only ASCII ("VĂN" would stay "vĂn").
    needle = q.lower()
    return or_(*(func.lower(c).contains(needle, autoescape=True) for c in columns))


def _conditions(flt: DocumentFilter) -> list[ColumnElement[bool]]:
    if flt.direction not in (None, "incoming", "outgoing"):
        raise InvalidInputError(
            "direction: incoming hoặc outgoing / incoming or outgoing",
            details=[{"field": "direction", "message": "incoming or outgoing"}],
        )
    if flt.date_from and flt.date_to and flt.date_to <= flt.date_from:
        raise InvalidInputError(
            "'to' phải sau 'from' / 'to' must be after 'from'",
            details=[{"field": "to", "message": "before from"}],
        )
    conds: list[ColumnElement[bool]] = []
    if flt.direction:
        conds.append(Document.direction == flt.direction)
    if flt.status:
        conds.append(Document.status == flt.status)
    if flt.year:
        conds.append(Document.year == flt.year)
    if flt.issuer:
        conds.append(Document.issuer_code == flt.issuer.strip().upper())
    if flt.q:
        conds.append(_matches(flt.q))
    if flt.date_from:
        conds.append(Document.created_at >= flt.date_from)
    if flt.date_to:
        conds.append(Document.created_at < flt.date_to)
    if flt.duplicates is not None:
        conds.append(
            Document.duplicate_of_id.is_not(None)
            if flt.duplicates
            else Document.duplicate_of_id.is_(None)
        )
    return conds


def list_documents(
    session: Session, principal: Principal, flt: DocumentFilter, *, limit: int, offset: int
) -> tuple[list[DocumentView], int]:
    """Documents the principal may read, newest first, with the total for pagination."""
    where = [_listable(principal), *_conditions(flt)]
    total = session.scalar(select(func.count(Document.id)).where(*where)) or 0
    rows = session.execute(
        select(Document, Agency.code)
        .join(Agency, Agency.id == Document.agency_id)
        .where(*where)
        .order_by(Document.created_at.desc(), Document.id.desc())
        .limit(limit)
        .offset(offset)
    ).all()
    return [document_view(session, d, agency_code=code) for d, code in rows], total
