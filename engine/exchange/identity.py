"""This node's identity on the exchange: its name and the key its packages are signed with."""

from __future__ import annotations

import datetime as dt
import threading
from dataclasses import dataclass
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from cryptography.hazmat.primitives.serialization import pkcs12
from cryptography.x509.oid import NameOID

from signing.keys import SigningKey, load_pkcs12
from storage.durable import write_atomic

__all__ = ["NodeIdentity", "load_identity"]

_lock = threading.Lock()


@dataclass(frozen=True)
class NodeIdentity:
    name: str
    key: SigningKey

    @property
    def certificate(self) -> x509.Certificate:
        """The certificate peers pin this node's packages to."""
        return self.key.certificate

    @property
    def certificate_pem(self) -> str:
        """The certificate as PEM text, to hand to the operators of peer nodes."""
        return self.certificate.public_bytes(serialization.Encoding.PEM).decode()


def _self_signed(name: str, password: bytes) -> bytes:
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    subject = x509.Name(
        [
            x509.NameAttribute(NameOID.COUNTRY_NAME, "VN"),
            x509.NameAttribute(NameOID.ORGANIZATION_NAME, "lienthong"),
            x509.NameAttribute(NameOID.COMMON_NAME, f"lienthong node {name}"),
        ]
    )
    now = dt.datetime.now(dt.UTC)
    cert = (
        x509.CertificateBuilder()
        .subject_name(subject)
        .issuer_name(subject)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - dt.timedelta(days=1))
        .not_valid_after(now + dt.timedelta(days=3650))
        .add_extension(
            x509.KeyUsage(True, True, False, False, False, False, False, False, False), True
        )
        .sign(key, hashes.SHA256())
    )
    return pkcs12.serialize_key_and_certificates(
        name.encode(), key, cert, None, serialization.BestAvailableEncryption(password)
    )


def load_identity(
    name: str, key_file: Path | None, password: str | None, generated: Path
) -> NodeIdentity:
    """The node's key from `key_file` (PKCS#12), or — when none is configured — one generated
    once and kept at `generated` (self-signed; peers pin it, so it must not change).

    Raises signing errors (wrong password, unreadable key) for a configured file.
    """
    if key_file is not None:
        return NodeIdentity(name, load_pkcs12(key_file.read_bytes(), password))
    secret = (password or "lienthong-node").encode()
    with _lock:
        if not generated.exists():
            # Synced, and created only if absent: a power cut must not lose the key peers
            # pin, and of two processes starting at once (`serve` and `worker`) one key wins.
            write_atomic(generated, _self_signed(name, secret), exclusive=True)
    return NodeIdentity(name, load_pkcs12(generated.read_bytes(), secret))
