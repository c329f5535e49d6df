"""Creating documents: an outgoing draft, or an incoming document entered by the clerk."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date, datetime, timedelta

from sqlalchemy import func, literal_column, or_, select, true
from sqlalchemy.orm import Session

from engine import audit
from engine.calendar import VN_TZ
from engine.documents.kinds import DocStatus
from engine.documents.numbering import assign_number
from engine.documents.timeline import record_event
from engine.errors import ConflictError, InvalidInputError, PermissionDeniedError
from engine.files import file_for_reading
from engine.principal import Principal
from engine.runtime.instances import start_instance
from storage.models import Agency, Document, DocumentFile, StoredFile, utcnow

__all__ = [
    "OUTGOING_PROCESS",
    "INCOMING_PROCESS",
    "DocumentInput",
    "FileRef",
    "Party",
    "Signer",
    "attach_files",
    "create_document",
    "find_duplicate",
    "register_arrival",
    "start_incoming",
]

OUTGOING_PROCESS = "document_outgoing"
INCOMING_PROCESS = "document_incoming"
# How far ahead of our clock an arrival time may be: the clerk's PC clock may run fast.
_CLOCK_SKEW = timedelta(minutes=2)


@dataclass(frozen=True)
class Party:
    code: str
    name: str


@dataclass(frozen=True)
class Signer:
    name: str
    position: str | None = None
    competence: str | None = None


@dataclass(frozen=True)
class FileRef:
    file_id: str
    role: str = "main"


@dataclass(frozen=True)
class DocumentInput:
    """What the author gives; outgoing numbers and dates come later from the clerk."""

    direction: str
    type_name: str
    subject: str
    type_code: str | None = None
    notation: str | None = None
    code_number: str | None = None
    issued_date: date | None = None
    issuer: Party | None = None
    place: str | None = None
    summary: str | None = None
    language: str = "Tiếng Việt"
    pages: int | None = None
    signer: Signer | None = None
    recipients: list[Party] = field(default_factory=list)
    to_places: list[str] = field(default_factory=list)
    urgency: int = 0
    secrecy: int = 0
    due_date: date | None = None
    copies: int | None = None
    files: list[FileRef] = field(default_factory=list)
    received_at: datetime | None = None
    replaces: int | None = None


def _refuse(field_name: str, message: str) -> InvalidInputError:
    return InvalidInputError(message, details=[{"field": field_name, "message": message}])


def _check(doc: DocumentInput, principal: Principal) -> None:
    if doc.direction == "outgoing" and not principal.has_role("specialist", "leader", "clerk"):
        raise PermissionDeniedError(
            "Cần vai trò chuyên viên, lãnh đạo hoặc văn thư để soạn văn bản đi / a specialist, "
            "leader or clerk role is needed to draft an outgoing document",
            code="role_required",
        )
    if doc.direction == "incoming" and not principal.has_role("clerk"):
        raise PermissionDeniedError(
            "Chỉ văn thư vào sổ văn bản đến / only clerks register incoming documents",
            code="role_required",
        )
    if doc.secrecy > int(principal.clearance):
        raise PermissionDeniedError(
            "Không được tạo văn bản có độ mật cao hơn mức được tiếp cận / secrecy above your "
            "clearance",
            code="secrecy_above_clearance",
        )
    if doc.direction == "incoming":
        missing = [
            n
            for n, v in (
                ("issuer", doc.issuer),
                ("code_number", doc.code_number),
                ("issued_date", doc.issued_date),
            )
            if not v
        ]
        if missing:
            raise InvalidInputError(
                "Văn bản đến cần cơ quan ban hành, số và ngày văn bản / an incoming document "
                "needs its issuer, number and date: " + ", ".join(missing),
                details=[{"field": n, "message": "required"} for n in missing],
            )
    codes = [r.code.strip().upper() for r in doc.recipients]
    if len(codes) != len(set(codes)):
        raise _refuse("recipients", "Nơi nhận bị trùng / a recipient is listed twice")
    if doc.replaces is not None and doc.direction != "outgoing":
        raise _refuse(
            "replaces", "Chỉ văn bản đi thay thế văn bản đi / only outgoing documents replace"
        )
    roles = [f.role for f in doc.files]
    if roles.count("main") > 1:
        raise _refuse("files", "Chỉ một tệp văn bản chính / only one main file")


def _vn_date(moment: datetime) -> date:
    try:
        return moment.astimezone(VN_TZ).date()
    except OverflowError:  # year 1 or 9999 near the edge: the date as written is close enough
        return moment.date()


def _arrival(doc: DocumentInput, now: datetime) -> datetime:
    """When the incoming document arrived, checked against the register it goes into.

    The arrival number is taken in the register of the arrival's year (Decree 30 art. 15):
    this year's, or last year's for a paper letter of late December entered in January. An
    arrival in the future or earlier than that is refused, and the issuer's date may not
    come after it. Raises InvalidInputError naming the field.
    """
    arrival = doc.received_at or now
    if arrival.utcoffset() is None:
        raise _refuse(
            "received_at",
            "received_at: thời điểm đến cần múi giờ, vd. 2026-03-01T08:00+07:00 / received_at "
            "needs its time zone offset, e.g. 2026-03-01T08:00+07:00",
        )
    if arrival > now + _CLOCK_SKEW:
        raise _refuse(
            "received_at",
            f"received_at: thời điểm đến {arrival.isoformat()} ở tương lai / received_at "
            f"{arrival.isoformat()} is in the future",
        )
    year = now.astimezone(VN_TZ).year
    if arrival < datetime(year - 1, 1, 1, tzinfo=VN_TZ):
        earlier = _vn_date(arrival).year
        raise _refuse(
            "received_at",
            f"received_at: văn bản đến năm {earlier}; chỉ vào sổ được văn bản đến năm {year} "
            f"hoặc {year - 1} / received_at: a document received in {earlier}; only arrivals of "
            f"{year} or {year - 1} can still be entered in their register",
        )
    issued, today = doc.issued_date, now.astimezone(VN_TZ).date()
    if issued is not None and issued > today:
        raise _refuse(
            "issued_date",
            f"issued_date: ngày văn bản {issued.isoformat()} ở tương lai / issued_date "
            f"{issued.isoformat()} is in the future",
        )
    if issued is not None and issued > _vn_date(arrival):
        raise _refuse(
            "issued_date",
            f"issued_date: ngày văn bản {issued.isoformat()} sau ngày đến "
            f"{_vn_date(arrival).isoformat()} / issued_date {issued.isoformat()} is after the "
            f"arrival date {_vn_date(arrival).isoformat()}",
        )
    return arrival


def _replaced(session: Session, principal: Principal, document_id: int | None) -> int | None:
    if document_id is None:
        return None
    old = session.get(Document, document_id)
    if old is None or old.agency_id != principal.agency_id or old.direction != "outgoing":
        raise _refuse(
            "replaces",
            f"Văn bản {document_id} không phải văn bản đi của cơ quan mình / document "
            f"{document_id} is not an outgoing document of your agency",
        )
    if not old.exchange_id:
        raise _refuse(
            "replaces",
            f"Văn bản {document_id} chưa phát hành / document {document_id} was never dispatched",
        )
    return old.id


def find_duplicate(
    session: Session,
    agency_id: int,
    issuer_code: str,
    code_number: str,
    notation: str | None,
    *,
    issued: date | None = None,
    secret: bool = False,
) -> Document | None:
    """An incoming document the agency already has with the same issuer, number and notation,
    from the same series (secret or not) and, when `issued` is known, the same year.

    Clerks write the same number and notation differently ("012/ubnd-vp" for "12/UBND-VP"):
    numbers compare without leading zeros, notations without case. LOWER, not UPPER: on
    SQLite only LOWER is replaced by a Unicode one (`storage.db`), so "qđ" meets "QĐ".
    """
    same_notation = (
        Document.notation.is_(None)
        if notation is None
        else func.lower(Document.notation) == notation.lower()
    )
    # Issuers number from 01 every January and keep secret letters in a series of their
    # own (Decree 30/2020): 12/UBND-VP of last year, or a secret 12/UBND-VP, is another letter.
    same_series = Document.secrecy > 0 if secret else Document.secrecy == 0
    same_year = (
        or_(
            Document.issued_date.is_(None),
            Document.issued_date.between(date(issued.year, 1, 1), date(issued.year, 12, 31)),
        )
        if issued is not None
        else true()
    )
    return session.scalar(
        select(Document)
        .where(
            Document.agency_id == agency_id,
            Document.direction == "incoming",
            Document.issuer_code == issuer_code,
            # A literal '0', not a bound one: only then is it ix_documents_duplicates'
            # expression, which the planners match.
            func.ltrim(Document.code_number, literal_column("'0'")) == code_number.lstrip("0"),
            same_notation,
            same_series,
            same_year,
        )
        .order_by(Document.id)
        .limit(1)
    )


def attach_files(
    session: Session, document: Document, files: list[FileRef], principal: Principal
) -> None:
    """Link uploaded files to the document; they take its secrecy and follow its access."""
    taken = session.scalar(
        select(DocumentFile.position)
        .where(DocumentFile.document_id == document.id)
        .order_by(DocumentFile.position.desc())
        .limit(1)
    )
    position = (taken or 0) + 1
    for ref in files:
        if ref.role not in ("main", "attachment"):
            raise _refuse("files.role", "role: main hoặc attachment / main or attachment")
        row = file_for_reading(session, ref.file_id, principal)
        if row.owner_type is not None and (row.owner_type, row.owner_id) != (
            "document",
            str(document.id),
        ):
            raise ConflictError(
                f"Tệp {ref.file_id} đã thuộc hồ sơ/văn bản khác; hãy tải lên bản riêng / file "
                f"{ref.file_id} already belongs to another case; upload a copy",
                code="file_owned_elsewhere",
            )
        # Every version of the chain follows the document: its access and its secrecy.
        for version in session.scalars(select(StoredFile).where(StoredFile.root_id == row.root_id)):
            version.owner_type, version.owner_id = "document", str(document.id)
            version.secrecy = max(version.secrecy, document.secrecy)
        session.add(
            DocumentFile(
                document_id=document.id, file_root_id=row.root_id, role=ref.role, position=position
            )
        )
        position += 1


def create_document(session: Session, principal: Principal, doc: DocumentInput) -> Document:
    """Add a document at the principal's agency and start its process.

    Outgoing: a draft in the drafter's hands. Incoming (a paper document the clerk enters):
    registered at once with the next arrival number, flagged when it duplicates one
    already received; its arrival time must fall in the current year and not in the future.
    Raises PermissionDeniedError, InvalidInputError, NotFoundError (files).
    """
    _check(doc, principal)
    outgoing = doc.direction == "outgoing"
    arrival = None if outgoing else _arrival(doc, utcnow())
    agency = session.get(Agency, principal.agency_id)
    assert agency is not None
    issuer = Party(agency.code, agency.name) if outgoing else doc.issuer
    assert issuer is not None
    row = Document(
        agency_id=agency.id,
        direction=doc.direction,
        status=DocStatus.DRAFT if outgoing else DocStatus.RECEIVED,
        type_name=doc.type_name,
        type_code=doc.type_code,
        code_number=None if outgoing else doc.code_number,
        notation=doc.notation,
        issued_date=None if outgoing else doc.issued_date,
        issuer_code=issuer.code.strip().upper(),
        issuer_name=issuer.name,
        place=doc.place,
        subject=doc.subject,
        summary=doc.summary,
        language=doc.language,
        pages=doc.pages,
        signer_name=doc.signer.name if doc.signer else None,
        signer_position=doc.signer.position if doc.signer else None,
        signer_competence=doc.signer.competence if doc.signer else None,
        recipients=[{"code": r.code.strip().upper(), "name": r.name} for r in doc.recipients],
        to_places=list(doc.to_places),
        urgency=doc.urgency,
        secrecy=doc.secrecy,
        due_date=doc.due_date,
        copies=doc.copies,
        arrival_at=arrival,
        created_by=principal.user_id,
        replaces_id=_replaced(session, principal, doc.replaces),
    )
    session.add(row)
    session.flush()
    attach_files(session, row, doc.files, principal)
    record_event(session, row, "created", actor_id=principal.user_id, status=row.status)
    if outgoing:
        _start(session, row, OUTGOING_PROCESS, principal.user_id, {})
    else:
        start_incoming(session, row, principal.user_id, registered=True)
    audit.record(session, principal.user_id, "create", "document", row.id, {"dir": row.direction})
    return row


def register_arrival(
    session: Session, row: Document, actor_id: int | None, *, at: datetime | None = None
) -> None:
    """Enter an incoming document in the register: the next arrival number of the year of
    `at` (now by default)."""
    assign_number(session, row, at)
    record_event(
        session,
        row,
        "registered",
        actor_id=actor_id,
        status=DocStatus.REGISTERED,
        details={"arrival_number": row.number},
    )


def start_incoming(
    session: Session, row: Document, actor_id: int | None, *, registered: bool
) -> None:
    """Flag duplicates, register when asked (paper entry), and start the incoming process."""
    assert row.code_number is not None
    duplicate = find_duplicate(
        session,
        row.agency_id,
        row.issuer_code,
        row.code_number,
        row.notation,
        issued=row.issued_date,
        secret=row.secrecy > 0,
    )
    if duplicate is not None and duplicate.id != row.id:
        row.duplicate_of_id = duplicate.id
        record_event(
            session,
            row,
            "duplicate",
            actor_id=actor_id,
            note=f"Trùng văn bản đến số {duplicate.number} / duplicates incoming #{duplicate.id}",
            details={"duplicate_of": duplicate.id},
        )
    if registered:
        # A paper document entered now is numbered in the register of its arrival's year.
        register_arrival(session, row, actor_id, at=row.arrival_at)
    _start(session, row, INCOMING_PROCESS, actor_id, {"registered": registered})


def _start(
    session: Session, row: Document, process: str, actor_id: int | None, data: dict[str, object]
) -> None:
    payload = {"document_id": row.id, "urgency": row.urgency, **data}
    loaded = start_instance(
        session,
        process,
        agency_id=row.agency_id,
        data=payload,
        business_key=f"VB-{row.id}",
        actor_id=actor_id,
        secrecy=row.secrecy,
    )
    row.instance_id = loaded.row.id
