"""Official documents: drafting and entering, reading, registers, signing steps, deliveries."""

from __future__ import annotations

from datetime import date
from typing import Annotated, Literal

from fastapi import APIRouter, File, Query, Request, Response, UploadFile
from pydantic import AwareDatetime, Field, StrictBool, StrictInt

from api.deps import CurrentUser, ObjectStoreDep, Page, SessionDep
from api.errors import error_responses
from api.routes.files import spooled_upload
from api.routes.signing_keys import signing_config
from api.schemas import Input, PageOut
from engine.documents.changes import DocumentUpdate, answer_change, recall, send_update
from engine.documents.deliveries import DeliveryView, deliveries_of, resend_delivery
from engine.documents.drafting import DocumentInput, FileRef, Party, Signer, create_document
from engine.documents.reading import (
    DocumentFilter,
    DocumentView,
    document_for,
    document_view,
    list_documents,
)
from engine.documents.registers import REGISTER_COLUMNS, REGISTER_TITLES, register_rows
from engine.documents.signing import SignedStep, sign_with_key, upload_signed
from engine.tables import table_csv, table_xlsx
from storage.names import content_disposition

router = APIRouter(prefix="/api/v1/documents", tags=["documents"])

Code = Annotated[str, Field(min_length=1, max_length=35)]


class PartyIn(Input):
    code: Code
    name: str = Field(min_length=1, max_length=200)


class SignerIn(Input):
    name: str = Field(min_length=1, max_length=50)
    position: str | None = Field(default=None, max_length=100)
    competence: str | None = Field(default=None, max_length=20)


class FileRefIn(Input):
    file_id: str = Field(min_length=1, max_length=36)
    role: Literal["main", "attachment"] = "main"


class DocumentIn(Input):
    direction: Literal["outgoing", "incoming"]
    type_name: str = Field(min_length=1, max_length=100, description="Tên loại: Công văn, …")
    type_code: str | None = Field(default=None, max_length=16)
    subject: str = Field(min_length=1, max_length=500, description="Trích yếu nội dung")
    summary: str | None = Field(default=None, max_length=500)
    notation: str | None = Field(default=None, max_length=30, description="Ký hiệu: QĐ-UBND")
    code_number: str | None = Field(
        default=None, max_length=11, description="Incoming: the issuer's number"
    )
    issued_date: date | None = Field(default=None, description="Incoming: the issuer's date")
    issuer: PartyIn | None = Field(default=None, description="Incoming: the issuing agency")
    place: str | None = Field(default=None, max_length=150)
    language: str = Field(default="Tiếng Việt", max_length=30)
    pages: StrictInt | None = Field(default=None, ge=1, le=999)
    signer: SignerIn | None = None
    recipients: list[PartyIn] = Field(default_factory=list, max_length=500)
    to_places: list[Annotated[str, Field(min_length=1, max_length=150)]] = Field(
        default_factory=list, max_length=500
    )
    urgency: StrictInt = Field(default=0, ge=0, le=4, description="0 thường … 3 hỏa tốc, 4 hẹn giờ")
    secrecy: StrictInt = Field(
        default=0, ge=0, le=3, description="0, 1 Mật, 2 Tối mật, 3 Tuyệt mật"
    )
    due_date: date | None = Field(default=None, description="Hạn trả lời / xử lý")
    copies: StrictInt | None = Field(default=None, ge=1, le=999)
    files: list[FileRefIn] = Field(default_factory=list, max_length=100)
    received_at: AwareDatetime | None = Field(
        default=None, description="Incoming: arrival time, with its offset; this year, not later"
    )
    replaces: StrictInt | None = Field(
        default=None, description="Outgoing: the document it replaces"
    )

    def document(self) -> DocumentInput:
        """The engine's value for `create_document` (the CLI's `document enter` uses it too)."""
        data = self.model_dump(exclude={"issuer", "signer", "recipients", "files"})
        return DocumentInput(
            **data,
            issuer=Party(**self.issuer.model_dump()) if self.issuer else None,
            signer=Signer(**self.signer.model_dump()) if self.signer else None,
            recipients=[Party(**r.model_dump()) for r in self.recipients],
            files=[FileRef(**f.model_dump()) for f in self.files],
        )


DocumentOut = DocumentView
SignedOut = SignedStep
DeliveryOut = DeliveryView


@router.post(
    "", response_model=DocumentOut, status_code=201, responses=error_responses(401, 403, 404, 422)
)
def create(body: DocumentIn, session: SessionDep, user: CurrentUser) -> DocumentOut:
    """Draft an outgoing document, or enter (and register) an incoming paper document."""
    doc = create_document(session, user, body.document())
    return document_view(session, doc, detail=True)


@router.get("", response_model=PageOut[DocumentOut], responses=error_responses(401, 422))
def index(
    session: SessionDep,
    user: CurrentUser,
    page: Page,
    direction: Literal["incoming", "outgoing"] | None = None,
    status: Annotated[str | None, Query(max_length=16)] = None,
    year: Annotated[int | None, Query(ge=1900, le=9999)] = None,
    q: Annotated[str | None, Query(max_length=200, description="in subject or number")] = None,
    issuer: Annotated[str | None, Query(max_length=35)] = None,
    duplicates: bool | None = None,
    from_: Annotated[AwareDatetime | None, Query(alias="from")] = None,
    to: AwareDatetime | None = None,
) -> PageOut[DocumentOut]:
    """Documents of my agency's subtree or shared with it, that my clearance covers."""
    flt = DocumentFilter(direction, status, year, q, issuer, from_, to, duplicates)
    items, total = list_documents(session, user, flt, limit=page.limit, offset=page.offset)
    return PageOut(items=items, total=total, limit=page.limit, offset=page.offset)


@router.get("/registers/{direction}", responses=error_responses(401, 403, 422))
def register(
    direction: Literal["incoming", "outgoing"],
    session: SessionDep,
    user: CurrentUser,
    year: Annotated[int, Query(ge=1900, le=9999)],
    secret: bool = False,
    format: Literal["csv", "xlsx"] = "csv",
) -> Response:
    """The register of my agency for a year (the secret series with `secret=true`)."""
    rows = register_rows(session, user, direction, year, secret=secret)
    title = REGISTER_TITLES[direction] + (" mật" if secret else "")
    name = f"{title} {year}.{format}"
    if format == "xlsx":
        body = table_xlsx(REGISTER_COLUMNS[direction], rows, title)
        media = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"
    else:
        body, media = table_csv(REGISTER_COLUMNS[direction], rows), "text/csv; charset=utf-8"
    return Response(
        body, media_type=media, headers={"Content-Disposition": content_disposition(name)}
    )


@router.get("/{document_id}", response_model=DocumentOut, responses=error_responses(401, 404))
def get(document_id: int, session: SessionDep, user: CurrentUser) -> DocumentOut:
    """Everything about a document: metadata, files, timeline."""
    return document_view(session, document_for(session, user, document_id), detail=True)


@router.post(
    "/{document_id}/signed",
    response_model=SignedOut,
    status_code=201,
    responses=error_responses(401, 403, 404, 409, 413, 422),
)
def add_signed(
    document_id: int,
    request: Request,
    session: SessionDep,
    user: CurrentUser,
    store: ObjectStoreDep,
    file: Annotated[UploadFile, File(description="The main file, signed with your token")],
) -> SignedOut:
    """Upload the main file signed on your own computer; completes the waiting sign/seal step."""
    with spooled_upload(request, file) as spooled:
        return upload_signed(session, store, user, document_id, spooled, file.filename)


class SignIn(Input):
    appearance: Literal["none", "signer", "seal", "text"] = "none"
    level: Literal["B-B", "B-T", "B-LT", "B-LTA"] = "B-B"


@router.post(
    "/{document_id}/sign",
    response_model=SignedOut,
    status_code=201,
    responses=error_responses(401, 403, 404, 409, 422),
)
def sign(
    document_id: int,
    body: SignIn,
    request: Request,
    session: SessionDep,
    user: CurrentUser,
    store: ObjectStoreDep,
) -> SignedOut:
    """Sign on the server with my configured key (`sign` step) or the agency's seal key
    (`seal` step); completes the waiting step."""
    config = signing_config(request.app.state.lienthong)
    return sign_with_key(
        session, store, config, user, document_id, appearance=body.appearance, level=body.level
    )


class ReasonIn(Input):
    reason: str = Field(min_length=1, max_length=500)


class UpdateIn(ReasonIn):
    subject: str | None = Field(default=None, min_length=1, max_length=500)
    summary: str | None = Field(default=None, max_length=500)
    due_date: date | None = None
    urgency: StrictInt | None = Field(default=None, ge=0, le=4)


class AnswerIn(Input):
    accept: StrictBool
    reason: str | None = Field(default=None, max_length=500)


@router.post(
    "/{document_id}/recall",
    response_model=DocumentOut,
    responses=error_responses(401, 403, 404, 409, 422),
)
def recall_document(
    document_id: int, body: ReasonIn, session: SessionDep, user: CurrentUser
) -> DocumentOut:
    """Recall a dispatched document from every agency that received it (edXML type 1)."""
    doc = recall(session, user, document_id, body.reason)
    return document_view(session, doc, detail=True)


@router.post(
    "/{document_id}/update",
    response_model=DocumentOut,
    responses=error_responses(401, 403, 404, 409, 422),
)
def update_document(
    document_id: int, body: UpdateIn, session: SessionDep, user: CurrentUser
) -> DocumentOut:
    """Correct a dispatched document's metadata and send the update (edXML type 2)."""
    update = DocumentUpdate(body.subject, body.summary, body.due_date, body.urgency)
    doc = send_update(session, user, document_id, update, body.reason)
    return document_view(session, doc, detail=True)


@router.post(
    "/{document_id}/answer",
    response_model=DocumentOut,
    responses=error_responses(401, 403, 404, 409, 422),
)
def answer(document_id: int, body: AnswerIn, session: SessionDep, user: CurrentUser) -> DocumentOut:
    """Accept (status 15) or refuse (16) the sender's recall, update or replacement."""
    doc = answer_change(session, user, document_id, body.accept, body.reason)
    return document_view(session, doc, detail=True)


@router.get(
    "/{document_id}/deliveries",
    response_model=list[DeliveryOut],
    responses=error_responses(401, 404),
)
def deliveries(document_id: int, session: SessionDep, user: CurrentUser) -> list[DeliveryOut]:
    """Per recipient: the latest status of the delivery and its history."""
    return deliveries_of(session, user, document_id)


@router.post(
    "/{document_id}/deliveries/{delivery_id}/resend",
    response_model=DeliveryOut,
    responses=error_responses(401, 403, 404, 409),
)
def resend(
    document_id: int, delivery_id: int, session: SessionDep, user: CurrentUser
) -> DeliveryOut:
    """Send again a delivery the receiving node refused, the outbox gave up on, or that had
    nowhere to go — once its cause is fixed (the issuing agency's clerk, or an admin)."""
    return resend_delivery(session, user, document_id, delivery_id)
