"""Agencies' own exchange keys: a package leaves signed by the agency that sends it.

An agency's exchange key is its active seal key (`engine.signing_keys`, registered by an
admin) when that is an RSA key our signing layer can drive: a PKCS#12 file, or a PKCS#11
token key. signxml only verifies here; the signature value is made by `signing.xmldsig`
through pyHanko's signer (RSA-SHA256), so a token that can do RSA PKCS#1 v1.5 with SHA-256
signs the package itself. Without a usable key — none registered, not RSA, not openable,
or a token that refuses to sign — the node's key signs, as before, and the log says why.

The node publishes its agencies' exchange certificates at `GET /exchange/v1/node`, the set
signed with the node's key (`publish`): a peer that pinned the node's certificate out of
band can pin the agencies' from there, even over plain HTTP (`verify_published`).
"""

from __future__ import annotations

import base64
import hashlib
import json
import logging
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta

from cryptography import x509
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, padding, rsa
from sqlalchemy import select
from sqlalchemy.orm import Session

from engine.errors import ExchangeError, LienthongError
from engine.exchange.identity import NodeIdentity
from engine.files import verified_chunks
from engine.signing_keys import agency_seal_key, check_module_allowed
from engine.signing_secrets import LoadedKey, SecretBox, loaded_key
from signing.aio import run_sync
from signing.errors import SigningError, XmlSignatureError
from signing.xmldsig import sign_package
from storage.models import Agency, SigningKey, StoredFile, utcnow
from storage.objects import ObjectStore

__all__ = [
    "AgencyCertificate",
    "AgencyKeys",
    "Published",
    "agency_certificates",
    "exchange_certificate",
    "fingerprint",
    "publish",
    "published_certificates",
    "sign_as",
    "verify_published",
]

log = logging.getLogger("lienthong.exchange")

MAX_AGE = timedelta(days=1)  # a published set older than this is not pinned (replay)
_SKEW = timedelta(minutes=5)


@dataclass(frozen=True)
class AgencyKeys:
    """What opening agencies' seal keys needs: the box that decrypts them and the store with
    their seal images (the process caches a key with its image, for PDF sealing too)."""

    box: SecretBox
    store: ObjectStore
    pkcs11_modules: tuple[str, ...] = ()  # LIENTHONG_PKCS11_MODULES


def fingerprint(cert: x509.Certificate) -> str:
    """The certificate's SHA-256 fingerprint, hex."""
    return hashlib.sha256(cert.public_bytes(serialization.Encoding.DER)).hexdigest()


def _image(session: Session, store: ObjectStore, row: SigningKey) -> Callable[[], bytes | None]:
    def load() -> bytes | None:
        image = session.get(StoredFile, row.image_file_id) if row.image_file_id else None
        if image is None:
            return None
        return b"".join(verified_chunks(store, image, lambda _message: None))

    return load


def _loaded(session: Session, keys: AgencyKeys, agency_id: int) -> LoadedKey | None:
    row = agency_seal_key(session, agency_id)
    if row is None:
        return None
    try:
        check_module_allowed(row, keys.pkcs11_modules)
        loaded = loaded_key(row, keys.box, _image(session, keys.store, row))
    except (LienthongError, SigningError) as e:
        log.warning(
            "agency %s: seal key %s cannot be opened (%s); its packages are signed with the "
            "node key",
            agency_id,
            row.id,
            getattr(e, "code", e.__class__.__name__),
        )
        return None
    if not isinstance(loaded.key.certificate.public_key(), rsa.RSAPublicKey):
        log.warning(
            "agency %s: seal key %s is not an RSA key (packages are RSA-SHA256); its packages "
            "are signed with the node key",
            agency_id,
            row.id,
        )
        return None
    return loaded


def exchange_certificate(
    session: Session, keys: AgencyKeys | None, agency_id: int
) -> x509.Certificate | None:
    """The certificate of the agency's exchange key; None when its packages are node-signed."""
    loaded = _loaded(session, keys, agency_id) if keys is not None else None
    return loaded.key.certificate if loaded is not None else None


def sign_as(
    session: Session | None,
    keys: AgencyKeys | None,
    node: NodeIdentity,
    agency_id: int | None,
    xml: bytes,
) -> bytes:
    """`xml` (an unsigned edXML package) signed with the agency's exchange key, or with the
    node's when the agency has none usable (no `keys`, `session` or `agency_id`: the node's).

    Raises XmlSignatureError when the package cannot be signed at all.
    """
    if keys is None or session is None or agency_id is None:
        return sign_package(xml, node.key)
    for _ in range(3):  # an entry closed under us (key replaced meanwhile): load it again
        loaded = _loaded(session, keys, agency_id)
        if loaded is None:
            break
        with loaded.lock:  # a loaded key is not thread-safe
            if loaded.closed:
                continue
            try:
                return sign_package(xml, loaded.key)
            except XmlSignatureError as e:
                if e.code != "xmldsig_sign_failed":
                    raise
                log.warning(
                    "agency %s: its %s seal key could not sign the package (%s); signed with "
                    "the node key instead",
                    agency_id,
                    loaded.key.source,
                    e.message,
                )
                break
    return sign_package(xml, node.key)


def agency_certificates(session: Session, keys: AgencyKeys | None) -> dict[str, str]:
    """Code → PEM exchange certificate, for each agency of this node that has one."""
    if keys is None:
        return {}
    agencies = session.scalars(
        select(Agency)
        .join(SigningKey, SigningKey.agency_id == Agency.id)
        .where(SigningKey.revoked_at.is_(None))
        .distinct()
        .order_by(Agency.code)
    ).all()
    out = {}
    for agency in agencies:
        cert = exchange_certificate(session, keys, agency.id)
        if cert is not None:
            out[agency.code] = cert.public_bytes(serialization.Encoding.PEM).decode()
    return out


@dataclass(frozen=True)
class AgencyCertificate:
    """One agency certificate this node publishes, as its admin reads it to a peer's."""

    code: str
    subject: str
    sha256: str  # fingerprint, hex
    not_before: datetime
    not_after: datetime
    certificate_pem: str


def published_certificates(session: Session, keys: AgencyKeys) -> list[AgencyCertificate]:
    """The agencies' exchange certificates this node publishes (`agency_certificates`, what
    `GET /exchange/v1/node` signs), by code, each with its subject, fingerprint and validity."""
    out = []
    for code, pem in agency_certificates(session, keys).items():
        cert = x509.load_pem_x509_certificate(pem.encode())
        out.append(
            AgencyCertificate(
                code,
                cert.subject.rfc4514_string(),
                fingerprint(cert),
                cert.not_valid_before_utc,
                cert.not_valid_after_utc,
                pem,
            )
        )
    return out


@dataclass(frozen=True)
class Published:
    """The agencies' exchange certificates as this node vouches for them."""

    agency_certificates: dict[str, str]
    signed_at: str  # ISO 8601, UTC
    signature: str  # base64: the node key's signature over `statement(...)`


def _statement(node_name: str, signed_at: str, certificates: dict[str, str]) -> bytes:
    body = {"node": node_name, "signed_at": signed_at, "agency_certificates": certificates}
    return json.dumps(body, sort_keys=True, separators=(",", ":"), ensure_ascii=False).encode()


def publish(node: NodeIdentity, certificates: dict[str, str]) -> Published:
    """`certificates` signed with the node's key, now. Raises ValueError/SigningError when
    the node key cannot sign."""
    signed_at = utcnow().replace(microsecond=0).isoformat()
    raw = run_sync(
        node.key.signer.async_sign_raw(_statement(node.name, signed_at, certificates), "sha256")
    )
    return Published(certificates, signed_at, base64.b64encode(raw).decode())


def _refused(why: str, code: str) -> ExchangeError:
    return ExchangeError(
        f"Không ghim được chứng thư của các cơ quan: {why} / the agencies' certificates cannot "
        f"be pinned: {why}; check that --cert is the certificate of the node at that URL, or "
        "pin each one with --agency-cert CODE=FILE.pem",
        code=code,
    )


def verify_published(
    node_certificate: x509.Certificate,
    node_name: str,
    published: Published,
    *,
    now: datetime | None = None,
) -> dict[str, x509.Certificate]:
    """The agencies' certificates a node published, once its signature is checked against
    the node certificate the admin verified out of band.

    Raises ExchangeError: unsigned or badly signed (someone in between changed it, or the
    certificate is not that node's), older than a day or from the future (a replay).
    """
    try:
        signature = base64.b64decode(published.signature, validate=True)
        signed_at = datetime.fromisoformat(published.signed_at)
        certs = {
            code: x509.load_pem_x509_certificate(pem.encode())
            for code, pem in published.agency_certificates.items()
        }
    except (ValueError, TypeError) as e:
        raise _refused("the node's answer is malformed", "agency_certificates_malformed") from e
    data = _statement(node_name, published.signed_at, published.agency_certificates)
    key = node_certificate.public_key()
    try:
        if isinstance(key, rsa.RSAPublicKey):
            key.verify(signature, data, padding.PKCS1v15(), hashes.SHA256())
        elif isinstance(key, ec.EllipticCurvePublicKey):
            key.verify(signature, data, ec.ECDSA(hashes.SHA256()))
        else:
            raise InvalidSignature
    except InvalidSignature as e:
        raise _refused(
            "the node's signature over them does not hold", "agency_certificates_bad_signature"
        ) from e
    now = now or utcnow()
    if signed_at.tzinfo is None or not now - MAX_AGE <= signed_at <= now + _SKEW:
        raise _refused(
            f"they were signed at {published.signed_at}, not just now (check the clocks)",
            "agency_certificates_stale",
        )
    return certs
