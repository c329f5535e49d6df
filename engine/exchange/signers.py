"""Who signed a package: the certificates a sending agency's packages may be signed with,
the check of a received package against them, and which key signed one this node sent.

A package from an agency is signed with the certificate of the node serving it or with the
certificate pinned for the agency itself (its own key). Its signature normally carries that
certificate (KeyInfo/X509Data), which must be one of them. A legacy package that carries
none is checked against each in turn: the one its signature value holds with signed it.
The evidence log records the signer on both sides (`Signer`).
"""

from __future__ import annotations

import base64
import hashlib
from dataclasses import dataclass

from cryptography import x509
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from lxml import etree
from sqlalchemy import select
from sqlalchemy.orm import Session

from engine.errors import ExchangeError
from engine.exchange.agency_keys import AgencyKeys, exchange_certificate, fingerprint
from engine.exchange.identity import NodeIdentity
from engine.exchange.peers import peer_certificate
from signing.errors import XmlSignatureError
from signing.xmldsig import DSIG, verify_package
from signing.xmlsafe import error, find_signatures, parse_untrusted, parser
from storage.models import Agency, ExchangePeer, PeerAgency

__all__ = ["Sender", "Signer", "sender_of", "signer_of", "verify_signer"]

# Verifying with one candidate fails this way when the package was not signed with it (or
# the candidate is out of date); any other failure is the package's, whichever key is tried.
_NOT_THIS_KEY = frozenset({"xmldsig_bad_signature", "xmldsig_certificate_not_valid"})
# How `signing.xmldsig.sign_package` opens the Signature it puts last in edXMLHeader.
_OUR_SIGNATURE = f'<Signature xmlns="{DSIG}">'.encode()
_CERTIFICATE = f"{{{DSIG}}}KeyInfo/{{{DSIG}}}X509Data/{{{DSIG}}}X509Certificate"
_METHOD = f"{{{DSIG}}}SignedInfo/{{{DSIG}}}SignatureMethod"


@dataclass(frozen=True)
class Signer:
    """Whose key made a package's signature: "agency" (the agency's own) or "node" (the
    node serving it), and that certificate's SHA-256 fingerprint."""

    kind: str
    sha256: str


@dataclass(frozen=True)
class Sender:
    """Who may have signed a package from one agency: its node, or the agency itself."""

    organ_id: str
    node: x509.Certificate
    agency: x509.Certificate | None  # pinned for the agency (or its own, on this node)
    peer: str  # the node's name

    @property
    def candidates(self) -> list[x509.Certificate]:
        """The certificates its packages may be signed with."""
        return [c for c in (self.node, self.agency) if c is not None]

    def signer(self, cert: x509.Certificate) -> Signer:
        """The evidence's name for the certificate the signature held with."""
        kind = "agency" if self.agency is not None and cert == self.agency else "node"
        return Signer(kind, fingerprint(cert))


def sender_of(
    session: Session, node: NodeIdentity, organ_id: str, keys: AgencyKeys | None = None
) -> Sender:
    """The certificates agency `organ_id`'s packages may be signed with: for an agency of
    this node, this node's and the agency's own (when `keys` opens one); else its peer
    node's and the one pinned for it. Raises ExchangeError when no known node serves it."""
    local = session.scalar(select(Agency.id).where(Agency.code == organ_id))
    if local:
        own = exchange_certificate(session, keys, local)
        return Sender(organ_id, node.certificate, own, node.name)
    row = session.execute(
        select(ExchangePeer, PeerAgency.certificate_pem)
        .join(PeerAgency, PeerAgency.peer_id == ExchangePeer.id)
        .where(PeerAgency.code == organ_id)
    ).first()
    if row is None:
        raise ExchangeError(
            f"Không biết nút nào phục vụ cơ quan gửi {organ_id}; thêm nút đó vào danh bạ / no "
            f"known node serves the sending agency {organ_id}; add it with `lienthong exchange "
            "peer add`",
            code="unknown_sender",
        )
    peer, pinned = row
    agency = x509.load_pem_x509_certificate(pinned.encode()) if pinned else None
    return Sender(organ_id, peer_certificate(peer), agency, peer.name)


def verify_signer(data: bytes, sender: Sender) -> Signer:
    """Verify a received package's signature against the sender's certificates; return
    which one signed it.

    Raises XmlSignatureError, its code saying what failed (`verify_package`'s codes); a
    legacy package without X509Certificate that holds with none of them is
    xmldsig_bad_signature, as it is when only the node's certificate is known.
    """
    candidates = sender.candidates
    try:
        return sender.signer(verify_package(data, expected=candidates).certificate)
    except XmlSignatureError as e:
        if e.code != "xmldsig_no_certificate" or len(candidates) < 2:
            raise
    return sender.signer(_without_certificate(data, sender))


def _without_certificate(data: bytes, sender: Sender) -> x509.Certificate:
    failed: list[XmlSignatureError] = []
    # signxml refuses a key of the other kind as a malformed signature, which would end the
    # search: try only the certificates whose key fits the signature method.
    method = _signature_method(data)
    for cert in [c for c in sender.candidates if _fits(c, method)] or sender.candidates:
        try:
            return verify_package(data, expected=cert).certificate
        except XmlSignatureError as e:
            if e.code not in _NOT_THIS_KEY:
                raise  # the package was changed, or its algorithm refused: with any key
            failed.append(e)
    if all(e.code == "xmldsig_certificate_not_valid" for e in failed):
        raise failed[0]
    names = ", ".join(
        f"{'cơ quan / agency' if c is sender.agency else 'nút / node'} {c.subject.rfc4514_string()}"
        for c in sender.candidates
    )
    raise error(
        f"Chữ ký không kèm chứng thư và không khớp chứng thư nào đã đăng ký cho {sender.organ_id}"
        f" ({names})",
        f"The signature carries no certificate and matches none of those registered for "
        f"{sender.organ_id} ({names}); the package was signed with another key — if the "
        "sender's key changed, pin its new certificate (`lienthong exchange peer add`)",
        "xmldsig_bad_signature",
    )


def signer_of(xml: bytes, node: NodeIdentity) -> Signer | None:
    """Who signed a package this node signed (`agency_keys.sign_as`): its node key or the
    sending agency's own; None when the signature names no certificate."""
    der = _signing_certificate(xml)
    if der is None:
        return None
    sha256 = hashlib.sha256(der).hexdigest()
    return Signer("node" if sha256 == fingerprint(node.certificate) else "agency", sha256)


def _fits(cert: x509.Certificate, method: str | None) -> bool:
    key = cert.public_key()
    if method is None:
        return True
    if "ecdsa" in method:
        return isinstance(key, ec.EllipticCurvePublicKey)
    if "rsa" in method:
        return isinstance(key, rsa.RSAPublicKey)
    return True


def _signature_method(xml: bytes) -> str | None:
    signature = _our_signature(xml)
    found = signature.find(_METHOD) if signature is not None else None
    return found.get("Algorithm") if found is not None else None


def _our_signature(xml: bytes) -> etree._Element | None:
    # Our Signature is the package's last element of its kind: parse just it rather than
    # the whole package (attachments included) once more; anything else, the whole package.
    start = xml.rfind(_OUR_SIGNATURE)
    end = xml.find(b"</Signature>", start) if start >= 0 else -1
    try:
        if end >= 0:
            part = xml[start : end + len(b"</Signature>")]
            return etree.fromstring(part, parser(len(part)))
        (signature,) = find_signatures(parse_untrusted(xml))
        return signature
    except (etree.XMLSyntaxError, XmlSignatureError, ValueError):
        return None


def _signing_certificate(xml: bytes) -> bytes | None:
    signature = _our_signature(xml)
    first = signature.find(_CERTIFICATE) if signature is not None else None
    if first is None:
        return None
    try:
        return base64.b64decode("".join((first.text or "").split()))
    except ValueError:
        return None
