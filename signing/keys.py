"""Signing keys: a PKCS#12 file with its password, or a key on a PKCS#11 token.

Load a key once and reuse the `SigningKey` for many documents: the private key stays
parsed (or the token session open) and the constant part of the CMS is cached (see
`signing.cms`). A `SigningKey` is not thread-safe; give each worker thread its own.
"""

from __future__ import annotations

import datetime as dt
import os
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import Any

from asn1crypto import keys as asn1_keys
from asn1crypto import pkcs12 as asn1_pkcs12
from asn1crypto import x509 as asn1_x509
from cryptography import x509
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from cryptography.hazmat.primitives.serialization import pkcs12
from cryptography.x509.oid import NameOID
from pyhanko.sign.signers import Signer
from pyhanko_certvalidator.registry import SimpleCertificateStore

from signing.aio import run_sync
from signing.cms import LoadedKeySigner, TemplateCmsMixin
from signing.errors import KeyMaterialError, TokenError, WrongPasswordError

__all__ = ["SigningKey", "load_pkcs12", "open_pkcs11"]

_DER = serialization.Encoding.DER
# CMS overhead besides certificates and the signature value: attributes, algorithm
# identifiers, issuer names; generous so that no dry run is needed.
_CMS_OVERHEAD = 2048
# An RFC 3161 token carries the TSA's certificate and often its chain.
_TIMESTAMP_ALLOWANCE = 12 * 1024


def _asn1(cert: x509.Certificate) -> asn1_x509.Certificate:
    return asn1_x509.Certificate.load(cert.public_bytes(_DER))


def _common_name(cert: x509.Certificate) -> str:
    for oid in (NameOID.COMMON_NAME, NameOID.ORGANIZATION_NAME):
        attrs = cert.subject.get_attributes_for_oid(oid)
        if attrs:
            value = attrs[0].value
            return value if isinstance(value, str) else value.decode()
    return cert.subject.rfc4514_string()


def _signature_value_size(public_key: Any) -> int:
    if isinstance(public_key, rsa.RSAPublicKey):
        return (public_key.key_size + 7) // 8
    if isinstance(public_key, ec.EllipticCurvePublicKey):
        return 2 * ((public_key.key_size + 7) // 8) + 9  # DER SEQUENCE of two INTEGERs
    return 1024  # EdDSA, ML-DSA…: be generous


@dataclass(frozen=True, eq=False)
class SigningKey:
    """A loaded key with its certificate and chain, ready to sign many documents."""

    signer: Signer
    certificate: x509.Certificate
    chain: tuple[x509.Certificate, ...]
    source: str  # "pkcs12" or "pkcs11"
    _closer: Callable[[], None] | None = field(default=None, repr=False)

    @property
    def subject_name(self) -> str:
        """The certificate holder's common name (or organisation)."""
        return _common_name(self.certificate)

    def signature_size(self, *, timestamped: bool = False) -> int:
        """Bytes to reserve in the PDF for this key's CMS (hex-encoded, so doubled)."""
        size = _CMS_OVERHEAD + _signature_value_size(self.certificate.public_key())
        size += sum(len(c.public_bytes(_DER)) for c in (self.certificate, *self.chain))
        if timestamped:
            size += _TIMESTAMP_ALLOWANCE
        return 2 * size

    def close(self) -> None:
        """Release the token session (no-op for PKCS#12 keys)."""
        if self._closer is not None:
            self._closer()

    def __enter__(self) -> SigningKey:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def _check_validity(cert: x509.Certificate, now: dt.datetime | None = None) -> None:
    now = now or dt.datetime.now(dt.UTC)
    if not cert.not_valid_before_utc <= now <= cert.not_valid_after_utc:
        raise KeyMaterialError(
            f"Chứng thư số của {_common_name(cert)} chỉ có hiệu lực từ "
            f"{cert.not_valid_before_utc:%Y-%m-%d} đến {cert.not_valid_after_utc:%Y-%m-%d}; "
            "hãy dùng chứng thư còn hiệu lực / The certificate is not valid now; "
            "use a current one",
            code="certificate_not_valid_now",
        )


def _looks_like_pkcs12(data: bytes) -> bool:
    try:
        pfx = asn1_pkcs12.Pfx.load(data)
        pfx["auth_safe"]["content_type"].native  # noqa: B018 - forces parsing
        return pfx["version"].native == "v3"
    except (ValueError, TypeError, KeyError):
        return False


def load_pkcs12(data: bytes, password: str | bytes | None) -> SigningKey:
    """Load a PKCS#12 (.p12/.pfx) key and its certificates.

    Raises WrongPasswordError for a wrong password, KeyMaterialError for a file that
    is not PKCS#12, has no key or certificate, or whose certificate is not valid now.
    """
    secret = password.encode() if isinstance(password, str) else password
    try:
        key, cert, extra = pkcs12.load_key_and_certificates(data, secret or None)
    except (ValueError, TypeError) as e:
        if _looks_like_pkcs12(data):
            raise WrongPasswordError(
                "Sai mật khẩu của tệp khóa PKCS#12; hãy nhập lại / "
                "Wrong password for the PKCS#12 key file; enter it again"
            ) from e
        raise KeyMaterialError(
            "Tệp khóa không phải PKCS#12 (.p12/.pfx) hợp lệ; hãy xuất lại tệp từ nhà cung cấp "
            "chứng thư / Not a valid PKCS#12 (.p12/.pfx) file; export it again from your CA"
        ) from e
    if key is None or cert is None:
        raise KeyMaterialError(
            "Tệp PKCS#12 không chứa khóa bí mật và chứng thư của nó / "
            "The PKCS#12 file lacks the private key or its certificate; export both"
        )
    if key.public_key().public_bytes(_DER, serialization.PublicFormat.SubjectPublicKeyInfo) != (
        cert.public_key().public_bytes(_DER, serialization.PublicFormat.SubjectPublicKeyInfo)
    ):
        raise KeyMaterialError(
            "Khóa bí mật không khớp với chứng thư trong tệp PKCS#12 / "
            "The private key does not match the certificate in the PKCS#12 file"
        )
    _check_validity(cert)
    chain = tuple(extra)
    key_der = key.private_bytes(
        _DER, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    )
    signer = LoadedKeySigner(
        key,
        signing_cert=_asn1(cert),
        signing_key=asn1_keys.PrivateKeyInfo.load(key_der),
        cert_registry=SimpleCertificateStore.from_certs([_asn1(c) for c in chain]),
    )
    return SigningKey(signer, cert, chain, "pkcs12")


def _pkcs11_signer_class() -> Any:
    from pyhanko.sign.pkcs11 import PKCS11Signer

    class _Pkcs11Signer(TemplateCmsMixin, PKCS11Signer):
        pass

    return _Pkcs11Signer


def open_pkcs11(
    module_path: str,
    *,
    token_label: str,
    key_label: str,
    pin: str,
    cert_label: str | None = None,
    chain: Iterable[x509.Certificate] = (),
) -> SigningKey:
    """Log in to a PKCS#11 token and find the signing key and its certificate.

    The certificate is read from the token (`cert_label`, by default the key's label);
    CA certificates on the token are added to the chain. Close the returned key (or
    use it as a context manager) to log out.
    Raises WrongPasswordError for a wrong PIN, TokenError when the module, token, key
    or certificate cannot be found or the token fails.
    """
    try:
        import pkcs11
        from pyhanko.config.pkcs11 import TokenCriteria
        from pyhanko.sign.pkcs11 import open_pkcs11_session
    except ImportError as e:  # pragma: no cover - the pkcs11 extra is a dependency
        raise TokenError("Thiếu python-pkcs11 / python-pkcs11 is not installed") from e
    try:
        # python-pkcs11 keeps one library per path string: the same module reached through a
        # symlink would be initialised twice in one process, which the module refuses.
        session = open_pkcs11_session(
            os.path.realpath(module_path),
            token_criteria=TokenCriteria(label=token_label),
            user_pin=pin,
        )
    except pkcs11.PinIncorrect as e:
        raise WrongPasswordError(
            "Sai mã PIN của thiết bị ký số; hãy nhập lại (thiết bị có thể bị khóa sau vài lần sai) "
            "/ Wrong token PIN; enter it again (the token may lock after a few tries)",
            code="wrong_token_pin",
        ) from e
    except (pkcs11.PKCS11Error, OSError, RuntimeError) as e:
        raise TokenError(
            f"Không mở được thiết bị ký số '{token_label}' qua {module_path}: hãy cắm thiết bị "
            f"và kiểm tra trình điều khiển / Cannot open token '{token_label}' via "
            f"{module_path}: plug it in and check the driver ({e})"
        ) from e
    try:
        signer = _pkcs11_signer_class()(
            session,
            cert_label=cert_label or key_label,
            key_label=key_label,
            ca_chain=[_asn1(c) for c in chain],
            other_certs_to_pull=None,
        )
        run_sync(signer.ensure_objects_loaded())
        signing_cert = signer.signing_cert
        cert = x509.load_der_x509_certificate(signing_cert.dump())
        if isinstance(cert.public_key(), ec.EllipticCurvePublicKey):
            # Tokens (SoftHSM2 among them) often lack CKM_ECDSA_SHA256: hash here, sign raw.
            signer.use_raw_mechanism = True
        extra = tuple(
            x509.load_der_x509_certificate(c.dump())
            for c in signer.cert_registry
            if c.dump() != signing_cert.dump()
        )
    except (pkcs11.PKCS11Error, RuntimeError, ValueError) as e:
        session.close()
        raise TokenError(
            f"Không tìm thấy khóa '{key_label}' hoặc chứng thư của nó trên thiết bị "
            f"'{token_label}' / Key '{key_label}' or its certificate is not on token "
            f"'{token_label}' ({e})",
            code="token_key_not_found",
        ) from e
    try:
        _check_validity(cert)
    except KeyMaterialError:
        session.close()
        raise
    return SigningKey(signer, cert, extra, "pkcs11", session.close)
