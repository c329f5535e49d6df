"""The node directory: which node serves which agency, and the certificate it signs with."""

from __future__ import annotations

from dataclasses import dataclass

from cryptography import x509
from sqlalchemy import delete, select
from sqlalchemy.orm import Session

from engine import audit
from engine.agencies import validate_agency_code
from engine.errors import ConflictError, InvalidInputError, NotFoundError
from storage.models import Agency, ExchangePeer, PeerAgency

__all__ = ["PeerView", "add_peer", "list_peers", "peer_certificate", "remove_peer"]


@dataclass(frozen=True)
class PeerView:
    name: str
    url: str
    agencies: list[str]
    certificate_subject: str


def _certificate(pem: str) -> x509.Certificate:
    try:
        return x509.load_pem_x509_certificate(pem.encode())
    except ValueError as e:
        raise InvalidInputError(
            "Chứng thư của nút không đọc được (cần PEM) / the node certificate is not a PEM "
            "certificate",
            details=[{"field": "certificate", "message": "PEM certificate"}],
        ) from e


def peer_certificate(peer: ExchangePeer) -> x509.Certificate:
    """The certificate a peer's packages must be signed with."""
    return _certificate(peer.certificate_pem)


def _view(session: Session, peer: ExchangePeer) -> PeerView:
    codes = session.scalars(
        select(PeerAgency.code).where(PeerAgency.peer_id == peer.id).order_by(PeerAgency.code)
    ).all()
    return PeerView(
        peer.name, peer.url, list(codes), peer_certificate(peer).subject.rfc4514_string()
    )


def add_peer(
    session: Session,
    name: str,
    url: str,
    certificate_pem: str,
    agencies: list[str],
    actor_id: int | None = None,
) -> PeerView:
    """Add (or update) a peer node and the agencies it serves.

    Raises InvalidInputError (bad URL, certificate or agency code), ConflictError when an
    agency is served here or by another peer.
    """
    if not url.startswith(("http://", "https://")):
        raise InvalidInputError(
            "URL của nút phải bắt đầu bằng http:// hoặc https:// / the node URL must start "
            "with http:// or https://",
            details=[{"field": "url", "message": "http(s) URL"}],
        )
    _certificate(certificate_pem)
    codes = [validate_agency_code(c) for c in agencies]
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
    audit.record(session, actor_id, "add_peer", "exchange_peer", name, {"agencies": codes})
    return _view(session, peer)


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
