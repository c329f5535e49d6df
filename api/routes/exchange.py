"""The exchange endpoint other nodes post edXML packages to, and this node's public identity."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Annotated

from fastapi import APIRouter, Body, Query, Request
from sqlalchemy import select

from api.deps import CurrentUser, ObjectStoreDep, Page, SessionDep
from api.errors import error_responses
from api.schemas import PageOut
from engine.exchange.evidence import EvidenceView, list_evidence
from engine.exchange.receiving import Receipt, receive_logged
from storage.models import Agency

router = APIRouter(prefix="/exchange/v1", tags=["exchange"])
log_router = APIRouter(prefix="/api/v1/exchange", tags=["exchange"])


@dataclass(frozen=True)
class Receipts:
    receipts: list[Receipt]


@dataclass(frozen=True)
class NodeInfo:
    name: str
    certificate_pem: str
    agencies: list[str]


@router.post("/packages", response_model=Receipts, responses=error_responses(413, 422))
def post_package(
    request: Request,
    store: ObjectStoreDep,
    package: Annotated[bytes, Body(media_type="application/xml")],
) -> Receipts:
    """Deliver a signed edXML document or status package to agencies of this node.

    A document package is answered with one signed status package per recipient: 01
    (arrived) or 02 (refused, with the reason). Sending it again changes nothing.
    """
    state = request.app.state.lienthong
    return Receipts(
        receive_logged(state.sessions, store, state.node, package, tmp_dir=state.settings.tmp_dir)
    )


@router.get("/node", response_model=NodeInfo)
def node(request: Request, session: SessionDep) -> NodeInfo:
    """This node's name, the certificate its packages are signed with, and its agencies."""
    state = request.app.state.lienthong
    codes = session.scalars(select(Agency.code).order_by(Agency.code)).all()
    return NodeInfo(state.node.name, state.node.certificate_pem, list(codes))


@log_router.get(
    "/evidence", response_model=PageOut[EvidenceView], responses=error_responses(401, 403)
)
def evidence_log(
    session: SessionDep,
    user: CurrentUser,
    page: Page,
    exchange_id: Annotated[str | None, Query(max_length=160)] = None,
) -> PageOut[EvidenceView]:
    """Every package and status this node sent or received, newest first (clerks, admins)."""
    items, total = list_evidence(
        session, user, exchange_id=exchange_id, limit=page.limit, offset=page.offset
    )
    return PageOut(items=items, total=total, limit=page.limit, offset=page.offset)
