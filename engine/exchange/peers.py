"""The node directory: which node serves which agency, and the certificates their packages
may be signed with: the node's, and — pinned per agency — the agency's own."""

from __future__ import annotations

from dataclasses import dataclass

from cryptography import x509
from sqlalchemy import delete, select
from sqlalchemy.orm import Session

from engine import audit
from engine.agencies import validate_agency_code
from engine.errors import ConflictError, InvalidInputError, NotFoundError
from storage.models import Agency, ExchangePeer, PeerAgency

__all__ = [
    "PeerView",
    "add_peer",
    "agency_pins",
    "list_peers",
    "peer_certificate",
    "remove_peer",
]


@dataclass(frozen=True)
class PeerView:
    name: str
    url: str
    agencies: list[str]
    certificate_subject: str
    agency_certificates: dict[str, str]  # code → subject of the agency's pinned certificate


def _certificate(pem: str, field: str = "certificate") -> x509.Certificate:
    try:
        return x509.load_pem_x509_certificate(pem.encode())
    except ValueError as e:
        raise InvalidInputError(
            "Chứng thư không đọc được (cần PEM) / the certificate is not a PEM certificate",
            details=[{"field": field, "message": "PEM certificate"}],
        ) from e


def peer_certificate(peer: ExchangePeer) -> x509.Certificate:
    """The certificate a peer's packages must be signed with."""
    return _certificate(peer.certificate_pem)


def agency_pins(session: Session, peer_id: int) -> dict[str, x509.Certificate]:
    """Code → the certificate pinned for that agency of the peer (agencies with one)."""
    rows = session.execute(
        select(PeerAgency.code, PeerAgency.certificate_pem).where(
            PeerAgency.peer_id == peer_id, PeerAgency.certificate_pem.is_not(None)
        )
    ).all()
    return {code: _certificate(pem) for code, pem in rows if pem}


def _view(session: Session, peer: ExchangePeer) -> PeerView:
    codes = session.scalars(
        select(PeerAgency.code).where(PeerAgency.peer_id == peer.id).order_by(PeerAgency.code)
    ).all()
    pins = agency_pins(session, peer.id)
    return PeerView(
        peer.name,
        peer.url,
        list(codes),
        peer_certificate(peer).subject.rfc4514_string(),
        {code: cert.subject.rfc4514_string() for code, cert in sorted(pins.items())},
    )


def add_peer(
    session: Session,
    name: str,
    url: str,
    certificate_pem: str,
    agencies: list[str],
    actor_id: int | None = None,
    *,
    agency_certificates: dict[str, str | None] | None = None,
) -> PeerView:
    """Add (or update) a peer node and the agencies it serves.

    `agency_certificates` pins, per agency code, the certificate of that agency's own key
    (None unpins it); agencies not named keep their pin. Raises InvalidInputError (bad URL,
    certificate or agency code, a pin for an agency the peer does not serve),
    ConflictError when an agency is served here or by another peer.
    """
    if not url.startswith(("http://", "https://")):
        raise InvalidInputError(
            "URL của nút phải bắt đầu bằng http:// hoặc https:// / the node URL must start "
            "with http:// or https://",
            details=[{"field": "url", "message": "http(s) URL"}],
        )
    _certificate(certificate_pem)
    codes = [validate_agency_code(c) for c in agencies]
    pins = _check_pins(agency_certificates or {}, codes)
    local = session.scalars(select(Agency.code).where(Agency.code.in_(codes))).all()
    if local:
        raise ConflictError(
            f"Cơ quan {', '.join(local)} do chính nút này phục vụ / agencies {', '.join(local)} "
            "are served by this node",
            code="agency_is_local",
        )
    peer = session.scalar(select(ExchangePeer).where(ExchangePeer.name == name))
    if peer is None:
        peer = ExchangePeer(name=name, url=url.rstrip("/"), certificate_pem=certificate_pem)
        session.add(peer)
        session.flush()
    else:
        peer.url, peer.certificate_pem = url.rstrip("/"), certificate_pem
    taken = session.scalars(
        select(PeerAgency.code).where(PeerAgency.code.in_(codes), PeerAgency.peer_id != peer.id)
    ).all()
    if taken:
        raise ConflictError(
            f"Cơ quan {', '.join(taken)} đã thuộc nút khác / agencies {', '.join(taken)} are "
            "already served by another peer",
            code="agency_taken",
        )
    known = set(session.scalars(select(PeerAgency.code).where(PeerAgency.peer_id == peer.id)))
    session.add_all(PeerAgency(code=c, peer_id=peer.id) for c in codes if c not in known)
    session.flush()
    for row in session.scalars(
        select(PeerAgency).where(PeerAgency.peer_id == peer.id, PeerAgency.code.in_(list(pins)))
    ):
        row.certificate_pem = pins[row.code]
    session.flush()
    audit.record(
        session,
        actor_id,
        "add_peer",
        "exchange_peer",
        name,
        {"agencies": codes, "agency_certificates": {c: bool(p) for c, p in pins.items()}},
    )
    return _view(session, peer)


def _check_pins(pins: dict[str, str | None], codes: list[str]) -> dict[str, str | None]:
    stray = sorted(set(pins) - set(codes))
    if stray:
        raise InvalidInputError(
            f"Chỉ ghim chứng thư cho cơ quan do nút này phục vụ (--agency): {', '.join(stray)} / "
            f"pin certificates only for agencies the peer serves (--agency): {', '.join(stray)}",
            details=[{"field": "agency_certificates", "message": c} for c in stray],
        )
    for code, pem in pins.items():
        if pem is not None:
            _certificate(pem, f"agency_certificates.{code}")
    return pins


def list_peers(session: Session) -> list[PeerView]:
    """Every peer node, by name."""
    return [
        _view(session, p)
        for p in session.scalars(select(ExchangePeer).order_by(ExchangePeer.name)).all()
    ]


def remove_peer(session: Session, name: str, actor_id: int | None = None) -> None:
    """Forget a peer; its pending deliveries stay in the outbox. Raises NotFoundError."""
    peer = session.scalar(select(ExchangePeer).where(ExchangePeer.name == name))
    if peer is None:
        raise NotFoundError(f"Không có nút {name} / No peer node {name}", code="peer_not_found")
    session.execute(delete(PeerAgency).where(PeerAgency.peer_id == peer.id))
    session.delete(peer)
    audit.record(session, actor_id, "remove_peer", "exchange_peer", name)
