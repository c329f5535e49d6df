"""One-stop dossiers: reception, supplements, reading, and the public lookup (no login)."""

from __future__ import annotations

import ipaddress
import math
import threading
import time
from dataclasses import asdict
from datetime import datetime
from typing import Annotated, Literal

from fastapi import APIRouter, Query, Request, Response
from pydantic import AwareDatetime, BaseModel, Field

from api.deps import CurrentUser, ObjectStoreDep, Page, SessionDep
from api.errors import error_responses
from api.routes.signing_keys import signing_config
from api.schemas import Input, PageOut, ReceptionIn
from engine.dossiers.documents import dossier_slip
from engine.dossiers.lifecycle import stop
from engine.dossiers.reading import (
    DossierView,
    PublicDossier,
    dossier_for,
    dossier_view,
    list_dossiers,
    my_notifications,
    public_dossier,
)
from engine.dossiers.reception import receive
from engine.dossiers.register import register_csv, register_rows, register_xlsx
from engine.dossiers.stats import Timeliness, timeliness_stats
from engine.dossiers.supplements import request_supplement, supplement
from engine.errors import RateLimitedError
from engine.signing_files import seal_pdf
from storage.names import content_disposition

router = APIRouter(prefix="/api/v1", tags=["dossiers"])


class SupplementIn(Input):
    note: str | None = Field(default=None, max_length=2000)


class SupplementRequestIn(Input):
    missing_documents: list[Annotated[str, Field(min_length=1, max_length=500)]] = Field(
        max_length=100, description="Every missing item, once; at least one"
    )
    note: str | None = Field(default=None, max_length=2000)


# The engine's frozen dataclasses are the response schemas.
PublicOut = PublicDossier
DossierOut = DossierView


@router.post(
    "/dossiers",
    response_model=DossierOut,
    status_code=201,
    responses=error_responses(401, 403, 404, 409, 422),
)
def create(body: ReceptionIn, session: SessionDep, user: CurrentUser) -> DossierOut:
    """Receive a dossier at my agency's one-stop desk."""
    dossier = receive(session, user, body.reception())
    session.flush()
    return dossier_view(session, user, dossier.code)


@router.post(
    "/dossiers/{code}/supplement",
    response_model=DossierOut,
    responses=error_responses(401, 403, 404, 409, 422),
)
def add_supplement(
    code: str, body: SupplementIn, session: SessionDep, user: CurrentUser
) -> DossierOut:
    """The missing documents arrived (receiving desk): at reception the clock starts now;
    during processing it resumes where it stopped, the due date moved by the time waited."""
    supplement(session, user, code, body.note)
    session.flush()
    return dossier_view(session, user, code)


@router.post(
    "/dossiers/{code}/request-supplement",
    response_model=DossierOut,
    responses=error_responses(401, 403, 404, 409, 422),
)
def ask_supplement(
    code: str, body: SupplementRequestIn, session: SessionDep, user: CurrentUser
) -> DossierOut:
    """While processing, the official holding the dossier's step asks for missing documents:
    status 5, the clock stops, the steps wait; form 02 lists the items."""
    request_supplement(session, user, code, body.missing_documents, body.note)
    session.flush()
    return dossier_view(session, user, code)


@router.get("/dossiers/{code}", response_model=DossierOut, responses=error_responses(401, 403, 404))
def get(code: str, session: SessionDep, user: CurrentUser) -> DossierOut:
    """Everything about a dossier, with its timeline: for officials of the receiving and the
    competent agency and of agencies that held a step, and for leaders and administrators of
    the agencies above them; anyone else gets 403."""
    return dossier_view(session, user, code)


@router.get("/dossiers", response_model=PageOut[PublicOut], responses=error_responses(401, 422))
def index(
    session: SessionDep,
    user: CurrentUser,
    page: Page,
    status: Annotated[int | None, Query(ge=1, le=10)] = None,
    procedure: Annotated[str | None, Query(max_length=50)] = None,
    overdue: bool | None = None,
    from_: Annotated[AwareDatetime | None, Query(alias="from")] = None,
    to: AwareDatetime | None = None,
) -> PageOut[PublicOut]:
    """Dossiers I may read (as for `GET /dossiers/{code}`), newest first."""
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
        items=list(items),
        total=total,
        limit=page.limit,
        offset=page.offset,
    )


class StopIn(Input):
    reason: str = Field(min_length=1, max_length=2000)


def _closer(action: Literal["withdraw", "suspend"], summary: str) -> None:
    # Explicit paths (not /{action}) so that no other POST under /dossiers/{code}/ is shadowed.
    def close(code: str, body: StopIn, session: SessionDep, user: CurrentUser) -> DossierView:
        stop(session, user, code, kind=action, reason=body.reason)
        session.flush()
        return dossier_view(session, user, code)

    router.post(
        f"/dossiers/{{code}}/{action}",
        response_model=DossierOut,
        responses=error_responses(401, 403, 404, 409, 422),
        summary=summary,
        name=action,
    )(close)


_closer("withdraw", "The applicant withdraws the dossier (at the receiving desk)")
_closer("suspend", 'A leader stops processing ("Dừng xử lý") with a reason')


@router.get(
    "/dossiers/{code}/slips/{kind}",
    response_class=Response,
    responses={
        200: {"content": {"application/pdf": {}}},
        **error_responses(401, 403, 404, 409, 422),
    },
)
def slip(
    code: str,
    kind: str,
    request: Request,
    session: SessionDep,
    user: CurrentUser,
    store: ObjectStoreDep,
) -> Response:
    """Form 01–05 of the dossier as PDF: receipt, supplement, refusal, apology, control.

    Signed with the receiving agency's seal key when it has one (text stamp, page 1)."""
    pdf = dossier_slip(session, user, code, kind)
    agency_id = dossier_for(session, user, code).receiving_agency_id
    config = signing_config(request.app.state.lienthong)
    pdf = seal_pdf(session, store, config, user, agency_id, pdf, f"Mã hồ sơ: {code}")
    name = f"{code}-{kind}.pdf"
    return Response(
        pdf,
        media_type="application/pdf",
        headers={"Content-Disposition": content_disposition(name)},
    )


@router.get(
    "/dossier-register",
    response_class=Response,
    responses={
        200: {
            "content": {
                "text/csv": {},
                "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet": {},
            }
        },
        **error_responses(401, 422),
    },
)
def register(
    session: SessionDep,
    user: CurrentUser,
    from_: Annotated[AwareDatetime, Query(alias="from")],
    to: AwareDatetime,
    format: Literal["csv", "xlsx"] = "csv",
) -> Response:
    """Form 06, the dossier tracking register, for a period (CSV or XLSX): the dossiers my
    agency subtree received or decides, that I may read (columns: `docs/one-stop.md`)."""
    rows = register_rows(session, user, from_, to)
    if format == "xlsx":
        return Response(
            register_xlsx(rows),
            media_type="application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
            headers={"Content-Disposition": content_disposition("so-theo-doi-ho-so.xlsx")},
        )
    return Response(
        register_csv(rows),
        media_type="text/csv; charset=utf-8",
        headers={"Content-Disposition": content_disposition("so-theo-doi-ho-so.csv")},
    )


TimelinessOut = Timeliness


@router.get(
    "/stats/timeliness", response_model=TimelinessOut, responses=error_responses(401, 403, 404)
)
def stats(
    session: SessionDep,
    user: CurrentUser,
    agency: Annotated[str | None, Query(max_length=35)] = None,
    from_: Annotated[AwareDatetime | None, Query(alias="from")] = None,
    to: AwareDatetime | None = None,
) -> TimelinessOut:
    """Early / on time / overdue counts and rates (of the finished dossiers) of the dossiers an
    agency's subtree received or decides, each once, received in [from, to) when given."""
    return TimelinessOut(
        **asdict(timeliness_stats(session, user, agency=agency, start=from_, end=to))
    )


class NotificationOut(BaseModel):
    id: int
    kind: str
    text: str
    dossier_code: str | None
    created_at: datetime
    read_at: datetime | None


@router.get(
    "/notifications", response_model=PageOut[NotificationOut], responses=error_responses(401)
)
def notifications(session: SessionDep, user: CurrentUser, page: Page) -> PageOut[NotificationOut]:
    """My notifications, newest first."""
    items, total = my_notifications(session, user, limit=page.limit, offset=page.offset)
    return PageOut(
        items=[NotificationOut.model_validate(n, from_attributes=True) for n in items],
        total=total,
        limit=page.limit,
        offset=page.offset,
    )


class _Bucket:
    """A small token bucket per client address, for the unauthenticated lookup."""

    def __init__(self, rate: float, burst: int, capacity: int = 10_000) -> None:
        self.rate, self.burst, self.capacity = rate, burst, capacity
        self._state: dict[str, tuple[float, float]] = {}
        self._lock = threading.Lock()

    def take(self, who: str) -> float:
        """Take a token for `who`; 0 when granted, else the seconds until the next one."""
        now = time.monotonic()
        with self._lock:
            tokens, last = self._state.get(who, (float(self.burst), now))
            tokens = min(self.burst, tokens + (now - last) * self.rate)
            if who not in self._state and len(self._state) >= self.capacity:
                self._forget(now)
            if tokens < 1:
                self._state[who] = (tokens, now)
                return (1 - tokens) / self.rate
            self._state[who] = (tokens - 1, now)
            return 0.0

    def _forget(self, now: float) -> None:
        # The fullest buckets go first (a full one carries nothing worth keeping), the
        # emptiest last. Never all at once: that would hand every address a full bucket,
        # a throttled one too, to whoever filled the table.
        def tokens(key: str) -> float:
            left, last = self._state[key]
            return left + (now - last) * self.rate

        full = [k for k in self._state if tokens(k) >= self.burst]
        if len(full) < len(self._state) // 10:
            full = sorted(self._state, key=tokens, reverse=True)[: len(self._state) // 10 or 1]
        for key in full:
            del self._state[key]


def _client_key(request: Request) -> str:
    # An IPv6 client usually holds a whole /64: counting its addresses one by one would let
    # it step around the limit.
    host = request.client.host if request.client else "?"
    try:
        address = ipaddress.ip_address(host)
    except ValueError:
        return host
    if isinstance(address, ipaddress.IPv6Address):
        if address.ipv4_mapped is not None:
            return str(address.ipv4_mapped)
        return str(ipaddress.ip_network(f"{host}/64", strict=False))
    return str(address)


_bucket_lock = threading.Lock()


def _lookup_bucket(request: Request) -> _Bucket:
    # One bucket per application, sized by its settings on first use (never at import time):
    # LIENTHONG_PUBLIC_LOOKUP_BURST lookups at once per address, then one per second. It counts
    # per process; behind a proxy, run the server with trusted proxy headers so that
    # `request.client` is the citizen's address, not the proxy's.
    state = request.app.state
    with _bucket_lock:
        bucket: _Bucket | None = getattr(state, "lookup_bucket", None)
        if bucket is None:
            burst = state.lienthong.settings.public_lookup_burst
            bucket = state.lookup_bucket = _Bucket(rate=1.0, burst=burst)
    return bucket


@router.get(
    "/public/dossiers/{code}", response_model=PublicOut, responses=error_responses(404, 429)
)
def public(code: str, request: Request, session: SessionDep) -> PublicOut:
    """Citizen lookup by code: status and dates only. No login; rate-limited per address."""
    wait = _lookup_bucket(request).take(_client_key(request))
    if wait:
        raise RateLimitedError(
            "Tra cứu quá nhanh, hãy thử lại sau ít giây / too many lookups from your address; "
            "retry in a few seconds",
            retry_after=math.ceil(wait),
        )
    return public_dossier(session, code)
