"""One-stop dossiers: reception, supplement, reading, and the public lookup (no login)."""

from __future__ import annotations

import threading
import time
from dataclasses import asdict
from datetime import datetime
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Query, Request
from pydantic import BaseModel, Field

from api.deps import CurrentUser, Page, SessionDep
from api.errors import error_responses
from api.schemas import Input, PageOut
from engine.dossiers.reading import dossier_view, list_dossiers, public_dossier
from engine.dossiers.reception import Applicant, Reception, receive, supplement
from engine.errors import EngineError

router = APIRouter(prefix="/api/v1", tags=["dossiers"])


class ApplicantIn(Input):
    full_name: str = Field(min_length=1, max_length=255)
    id_number: str = Field(
        pattern=r"^[0-9]{9}$|^[0-9]{12}$", description="CMND (9) or CCCD (12 digits)"
    )
    phone: str = Field(pattern=r"^\+?[0-9 .-]{8,20}$")
    email: str | None = Field(default=None, max_length=255, pattern=r"^[^@\s]+@[^@\s]+\.[^@\s]+$")
    address: str | None = Field(default=None, max_length=500)


class ReceptionIn(Input):
    procedure_code: str = Field(min_length=1, max_length=50)
    applicant: ApplicantIn
    channel: Literal["counter", "online", "post"]
    complete: bool
    missing_documents: list[Annotated[str, Field(min_length=1, max_length=500)]] = Field(
        default_factory=list, max_length=100
    )
    received_at: datetime | None = None
    refusal_reason: str | None = Field(default=None, min_length=1, max_length=2000)
    competent_agency: str | None = Field(default=None, max_length=35)


class SupplementIn(Input):
    note: str | None = Field(default=None, max_length=2000)


class PublicOut(BaseModel):
    code: str
    procedure_code: str
    procedure_name: str
    status: int
    status_name: str
    received_at: datetime
    due_at: datetime | None
    returned_at: datetime | None


class DossierOut(PublicOut):
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
    timeline: list[dict[str, Any]]


@router.post(
    "/dossiers",
    response_model=DossierOut,
    status_code=201,
    responses=error_responses(401, 403, 404, 409, 422),
)
def create(body: ReceptionIn, session: SessionDep, user: CurrentUser) -> DossierOut:
    """Receive a dossier at my agency's one-stop desk."""
    reception = Reception(
        procedure_code=body.procedure_code,
        applicant=Applicant(**body.applicant.model_dump()),
        channel=body.channel,
        complete=body.complete,
        missing_documents=body.missing_documents,
        received_at=body.received_at,
        refusal_reason=body.refusal_reason,
        competent_agency=body.competent_agency,
    )
    dossier = receive(session, user, reception)
    session.flush()
    return DossierOut(**asdict(dossier_view(session, user, dossier.code)))


@router.post(
    "/dossiers/{code}/supplement",
    response_model=DossierOut,
    responses=error_responses(401, 403, 404, 409, 422),
)
def add_supplement(
    code: str, body: SupplementIn, session: SessionDep, user: CurrentUser
) -> DossierOut:
    """The missing documents arrived: accept the dossier, the clock starts now."""
    supplement(session, user, code, body.note)
    session.flush()
    return DossierOut(**asdict(dossier_view(session, user, code)))


@router.get("/dossiers/{code}", response_model=DossierOut, responses=error_responses(401, 403, 404))
def get(code: str, session: SessionDep, user: CurrentUser) -> DossierOut:
    """Everything about a dossier, with its timeline (officials of involved agencies)."""
    return DossierOut(**asdict(dossier_view(session, user, code)))


@router.get("/dossiers", response_model=PageOut[PublicOut], responses=error_responses(401, 422))
def index(
    session: SessionDep,
    user: CurrentUser,
    page: Page,
    status: Annotated[int | None, Query(ge=1, le=10)] = None,
    procedure: Annotated[str | None, Query(max_length=50)] = None,
    overdue: bool | None = None,
    from_: Annotated[datetime | None, Query(alias="from")] = None,
    to: datetime | None = None,
) -> PageOut[PublicOut]:
    """Dossiers of my agency's subtree, newest first."""
    items, total = list_dossiers(
        session,
        user,
        status=status,
        procedure=procedure,
        overdue=overdue,
        received_from=from_,
        received_to=to,
        limit=page.limit,
        offset=page.offset,
    )
    return PageOut(
        items=[PublicOut(**asdict(i)) for i in items],
        total=total,
        limit=page.limit,
        offset=page.offset,
    )


class RateLimited(EngineError):
    http_status = 429
    default_code = "rate_limited"


class _Bucket:
    """A small token bucket per client address, for the unauthenticated lookup."""

    def __init__(self, rate: float, burst: int) -> None:
        self.rate, self.burst = rate, burst
        self._state: dict[str, tuple[float, float]] = {}
        self._lock = threading.Lock()

    def take(self, who: str) -> bool:
        now = time.monotonic()
        with self._lock:
            tokens, last = self._state.get(who, (float(self.burst), now))
            tokens = min(self.burst, tokens + (now - last) * self.rate)
            if len(self._state) > 10_000:
                self._state.clear()
            if tokens < 1:
                self._state[who] = (tokens, now)
                return False
            self._state[who] = (tokens - 1, now)
            return True


_lookup_limit = _Bucket(rate=1.0, burst=30)


@router.get(
    "/public/dossiers/{code}", response_model=PublicOut, responses=error_responses(404, 429)
)
def public(code: str, request: Request, session: SessionDep) -> PublicOut:
    """Citizen lookup by code: status and dates only. No login; rate-limited per address."""
    if not _lookup_limit.take(request.client.host if request.client else "?"):
        raise RateLimited(
            "Tra cứu quá nhanh, hãy thử lại sau ít giây / too many lookups; retry in a few seconds"
        )
    return PublicOut(**asdict(public_dossier(session, code)))
