"""The exchange endpoint other nodes post edXML packages to, and this node's public identity."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Annotated

from fastapi import APIRouter, Body, Query, Request
from sqlalchemy import select

from api.deps import AppState, ConnectionSlot, CurrentUser, ObjectStoreDep, Page, SessionDep
from api.errors import error_responses
from api.schemas import PageOut
from engine.exchange.agency_keys import AgencyKeys, agency_certificates, publish
from engine.exchange.evidence import EvidenceView, list_evidence
from engine.exchange.receiving import Receipt, receive_logged
from engine.signing_secrets import SecretBox
from storage.models import Agency
from storage.objects import ObjectStore

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
    # Code → PEM certificate of the agency's own exchange key, for agencies that have one;
    # signed (base64, RSA/ECDSA-SHA256) with the node's key over the canonical JSON of
    # {"node": name, "signed_at": …, "agency_certificates": …} (see docs/exchange-protocol.md)
    agency_certificates: dict[str, str]
    agency_certificates_signed_at: str
    agency_certificates_signature: str


def agency_keys(state: AppState, store: ObjectStore) -> AgencyKeys:
    """What opens the agencies' own keys on this node (their seal keys, stored encrypted)."""
    settings = state.settings
    return AgencyKeys(SecretBox(settings.secret_key), store, settings.pkcs11_module_paths)


def signing_keys(state: AppState, store: ObjectStore) -> AgencyKeys | None:
    """The agencies' keys to sign packages and receipts with, once the admin has turned that
    on (LIENTHONG_EXCHANGE_AGENCY_KEYS): a peer that has not pinned an agency's certificate
    refuses what it signs, so the node key signs until then."""
    return agency_keys(state, store) if state.settings.exchange_agency_keys else None


@router.post("/packages", response_model=Receipts, responses=error_responses(413, 422))
def post_package(
    request: Request,
    store: ObjectStoreDep,
    package: Annotated[bytes, Body(media_type="application/xml")],
    _slot: ConnectionSlot,
) -> Receipts:
    """Deliver a signed edXML document or status package to agencies of this node.

    A document package is answered with one signed status package per recipient: 01
    (arrived) or 02 (refused, with the reason). Sending it again changes nothing.
    """
    state = request.app.state.lienthong
    return Receipts(
        receive_logged(
            state.sessions,
            store,
            state.node,
            package,
            tmp_dir=state.settings.tmp_dir,
            keys=signing_keys(state, store),
        )
    )


@router.get("/node", response_model=NodeInfo)
def node(request: Request, session: SessionDep, store: ObjectStoreDep) -> NodeInfo:
    """This node's name, its certificate, its agencies and — signed with the node's key —
    the certificates of the agencies that sign their packages with their own key."""
    state = request.app.state.lienthong
    codes = session.scalars(select(Agency.code).order_by(Agency.code)).all()
    published = publish(state.node, agency_certificates(session, agency_keys(state, store)))
    return NodeInfo(
        state.node.name,
        state.node.certificate_pem,
        list(codes),
        published.agency_certificates,
        published.signed_at,
        published.signature,
    )


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
