"""Enveloped XML-DSig of edXML packages (QCVN 102:2016): sign, and verify against a pinned
certificate (the sending node's) and/or trusted roots. Bytes in, bytes out.

Signing puts `<Signature xmlns="http://www.w3.org/2000/09/xmldsig#">` (unprefixed, as the
national axis' samples show it) last in `edXMLHeader`, i.e. after `TraceHeaderList` or
`Status`: one Reference URI="" (the whole package, attachments included) with the
enveloped-signature transform, inclusive C14N 1.0, RSA-SHA256 (ECDSA-SHA256 for EC
keys). SHA-1 is made only when asked for, for axes that still require it.

Verification (signxml) accepts RSA-SHA1 from legacy senders unless told not to, and a
`Signature` that lost its namespace and inherits the edXML one (seen in real packages):
a copy is moved into the XML-DSig namespace first. Exactly one signature, covering the
whole package, is accepted. Parsing and canonicalisation are `signing.xmlsafe`'s.
"""

from __future__ import annotations

import base64
import datetime as dt
from collections.abc import Iterable
from dataclasses import dataclass

from asn1crypto import x509 as asn1_x509
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa, utils
from lxml import etree
from pyhanko_certvalidator import CertificateValidator
from pyhanko_certvalidator.errors import PathBuildingError, RevokedError, ValidationError
from signxml import SignatureConfiguration
from signxml.algorithms import CanonicalizationMethod, DigestAlgorithm, SignatureMethod
from signxml.exceptions import InvalidCertificate, InvalidDigest, InvalidInput, InvalidSignature

from signing.aio import run_sync
from signing.errors import XmlSignatureError
from signing.keys import SigningKey
from signing.trust import TrustSettings
from signing.xmlsafe import (
    DSIG,
    EDXML,
    MAX_XML_BYTES,
    Verifier,
    c14n,
    error,
    find_signatures,
    into_dsig_namespace,
    local_name,
    parse_untrusted,
    parser,
)

__all__ = [
    "DSIG",
    "MAX_XML_BYTES",
    "XmlSignature",
    "sign_package",
    "verify_integrity",
    "verify_package",
]

_C14N = CanonicalizationMethod.CANONICAL_XML_1_0
_ENVELOPED = "http://www.w3.org/2000/09/xmldsig#enveloped-signature"
_DIGESTS: dict[str, tuple[type[hashes.HashAlgorithm], DigestAlgorithm]] = {
    "sha256": (hashes.SHA256, DigestAlgorithm.SHA256),
    "sha1": (hashes.SHA1, DigestAlgorithm.SHA1),
}
_METHODS = {
    ("rsa", "sha256"): SignatureMethod.RSA_SHA256,
    ("rsa", "sha1"): SignatureMethod.RSA_SHA1,
    ("ecdsa", "sha256"): SignatureMethod.ECDSA_SHA256,
}
_MODERN_METHODS = frozenset(
    m for m in SignatureMethod if m.name.split("_")[0] in ("RSA", "ECDSA") and "SHA1" not in m.name
)
_MODERN_DIGESTS = frozenset(
    {DigestAlgorithm.SHA256, DigestAlgorithm.SHA384, DigestAlgorithm.SHA512}
)


@dataclass(frozen=True)
class XmlSignature:
    """A signature that held: who signed, and how."""

    certificate: x509.Certificate
    chain: tuple[x509.Certificate, ...]  # the other certificates in X509Data
    signature_method: str  # algorithm URI
    digest_method: str
    legacy_sha1: bool
    namespace_repaired: bool  # `Signature` had lost the XML-DSig namespace

    @property
    def signer_name(self) -> str:
        """The signer's common name (or the whole subject)."""
        return _name(self.certificate)


def _header(root: etree._Element) -> etree._Element:
    for el in root.iter():
        if local_name(el) == (EDXML, "edXMLHeader"):
            return el
    raise error(
        "Không tìm thấy edXMLHeader để đặt chữ ký",
        "No edXMLHeader to put the signature in; build the package first",
        "xmldsig_no_header",
    )


def _key_kind(key: SigningKey) -> str:
    public = key.certificate.public_key()
    if isinstance(public, rsa.RSAPublicKey):
        return "rsa"
    if isinstance(public, ec.EllipticCurvePublicKey):
        return "ecdsa"
    raise error(
        "Chỉ ký gói tin edXML bằng khóa RSA hoặc ECDSA",
        "edXML packages are signed with RSA or ECDSA keys only",
        "xmldsig_unsupported_key",
    )


def _raw_signature(key: SigningKey, data: bytes, digest: str, kind: str) -> bytes:
    try:
        signature = run_sync(key.signer.async_sign_raw(data, digest))
    except (ValueError, RuntimeError) as e:  # pyHanko's SigningError, PKCS#11 errors
        raise error(
            "Không ký được gói tin bằng khóa này",
            f"Signing with this key failed: {e}",
            "xmldsig_sign_failed",
        ) from e
    if kind == "ecdsa":  # XML-DSig wants r || s, not DER
        r, s = utils.decode_dss_signature(signature)
        size = (key.certificate.public_key().key_size + 7) // 8  # type: ignore[union-attr]
        signature = r.to_bytes(size, "big") + s.to_bytes(size, "big")
    return signature


def _sub(
    parent: etree._Element, tag: str, text: str | None = None, **attrib: str
) -> etree._Element:
    el = etree.SubElement(parent, f"{{{DSIG}}}{tag}", attrib)
    el.text = text
    return el


def _signed_info(
    sig: etree._Element, method: SignatureMethod, digest: str, value: bytes
) -> etree._Element:
    info = _sub(sig, "SignedInfo")
    _sub(info, "CanonicalizationMethod", Algorithm=_C14N.value)
    _sub(info, "SignatureMethod", Algorithm=method.value)
    ref = _sub(info, "Reference", URI="")
    transforms = _sub(ref, "Transforms")
    _sub(transforms, "Transform", Algorithm=_ENVELOPED)
    _sub(transforms, "Transform", Algorithm=_C14N.value)
    _sub(ref, "DigestMethod", Algorithm=_DIGESTS[digest][1].value)
    _sub(ref, "DigestValue", base64.b64encode(value).decode())
    return info


def sign_package(
    xml: bytes,
    key: SigningKey,
    *,
    digest: str = "sha256",
    replace: bool = False,
    max_bytes: int = MAX_XML_BYTES,
) -> bytes:
    """Sign an edXML package (enveloped, in edXMLHeader) with a PKCS#12 or PKCS#11 key.

    `digest` is "sha256" or, for legacy axes only, "sha1". Raises XmlSignatureError when
    the bytes are not a safe XML package, the package is already signed (unless
    `replace`), or the key cannot sign.
    """
    if digest not in _DIGESTS:
        raise error(
            f"Thuật toán băm không hỗ trợ: {digest}",
            f"Unsupported digest {digest}",
            "xmldsig_bad_digest",
        )
    root = parse_untrusted(xml, max_bytes)
    header = _header(root)
    for old in find_signatures(root):
        if not replace:
            raise error(
                "Gói tin đã có chữ ký số", "The package is already signed", "xmldsig_already_signed"
            )
        old.getparent().remove(old)  # type: ignore[union-attr]
    kind = _key_kind(key)
    method = _METHODS.get((kind, digest))
    if method is None:
        raise error(
            f"Không ký {kind} với {digest}",
            f"{kind} with {digest} is not offered",
            "xmldsig_bad_digest",
        )
    # Before the Signature exists the tree is exactly what the enveloped transform leaves.
    document = c14n(root, parser(len(xml)))
    h = hashes.Hash(_DIGESTS[digest][0]())
    h.update(document)
    sig = etree.SubElement(header, f"{{{DSIG}}}Signature", nsmap={None: DSIG})
    info = _signed_info(sig, method, digest, h.finalize())
    raw = _raw_signature(key, c14n(info, parser(0)), digest, kind)
    _sub(sig, "SignatureValue", base64.b64encode(raw).decode())
    x509_data = _sub(_sub(sig, "KeyInfo"), "X509Data")
    for cert in (key.certificate, *(c for c in key.chain if c.issuer != c.subject)):
        der = cert.public_bytes(serialization.Encoding.DER)
        _sub(x509_data, "X509Certificate", base64.b64encode(der).decode())
    return etree.tostring(root.getroottree(), xml_declaration=True, encoding="UTF-8")


# --- verification -----------------------------------------------------------------------


def _the_signature(root: etree._Element) -> tuple[etree._Element, bool]:
    found = find_signatures(root)
    if not found:
        raise error(
            "Gói tin chưa được ký số", "The package carries no XML signature", "xmldsig_missing"
        )
    if len(found) > 1:
        raise error(
            f"Gói tin có {len(found)} chữ ký; chỉ chấp nhận một",
            f"The package has {len(found)} signatures; exactly one is accepted",
            "xmldsig_multiple",
        )
    sig = found[0]
    _check_placement(sig)
    if local_name(sig)[0] == DSIG:
        return sig, False
    return into_dsig_namespace(sig), True


def _check_placement(sig: etree._Element) -> None:
    # Signature wrapping: with an enveloped signature over URI="", content hidden inside the
    # Signature (ds:Object) is excluded from the digest, so a parser that looked there would
    # read unsigned data. The signature must sit directly in edXMLHeader, as the last
    # element, and carry nothing but SignedInfo, SignatureValue and KeyInfo.
    parent = sig.getparent()
    allowed = {"SignedInfo", "SignatureValue", "KeyInfo"}
    children = [local_name(c)[1] for c in sig if isinstance(c.tag, str)]
    following = [c for c in sig.itersiblings() if isinstance(c.tag, str)]
    if (
        parent is None
        or local_name(parent)[1] != "edXMLHeader"
        or following
        or not set(children) <= allowed
    ):
        raise error(
            "Chữ ký số đặt sai vị trí hoặc chứa nội dung khác (ds:Object) trong gói tin",
            "The signature is misplaced or carries other content (ds:Object); it must be the "
            "last element of edXMLHeader",
            "xmldsig_misplaced",
        )


def _algorithms(sig: etree._Element) -> tuple[str, str]:
    ns = {"ds": DSIG}
    refs = sig.findall("ds:SignedInfo/ds:Reference", ns)
    if len(refs) != 1 or refs[0].get("URI") != "":
        raise error(
            'Chữ ký phải bao trùm toàn bộ gói tin (một Reference URI="")',
            'The signature must cover the whole package (one Reference URI="")',
            "xmldsig_partial",
        )
    method = sig.find("ds:SignedInfo/ds:SignatureMethod", ns)
    digest = refs[0].find("ds:DigestMethod", ns)
    return (
        (method.get("Algorithm") or "") if method is not None else "",
        (digest.get("Algorithm") or "") if digest is not None else "",
    )


def _embedded(sig: etree._Element) -> list[x509.Certificate]:
    certs = []
    for el in sig.findall("ds:KeyInfo/ds:X509Data/ds:X509Certificate", {"ds": DSIG}):
        try:
            certs.append(
                x509.load_der_x509_certificate(base64.b64decode("".join((el.text or "").split())))
            )
        except ValueError as e:
            raise error(
                "Chứng thư trong chữ ký bị hỏng",
                "A certificate in the signature is corrupt",
                "xmldsig_malformed",
            ) from e
    return certs


def _leaf(certs: list[x509.Certificate]) -> x509.Certificate:
    # The certificate that issued none of the others.
    for cert in certs:
        if not any(o is not cert and o.issuer == cert.subject for o in certs):
            return cert
    return certs[0]


def _der(cert: x509.Certificate) -> bytes:
    return cert.public_bytes(serialization.Encoding.DER)


def _name(cert: x509.Certificate) -> str:
    attrs = cert.subject.get_attributes_for_oid(x509.NameOID.COMMON_NAME)
    return str(attrs[0].value) if attrs else cert.subject.rfc4514_string()


def _unexpected(cert: x509.Certificate) -> XmlSignatureError:
    return error(
        f"Gói tin được ký bằng chứng thư của {_name(cert)} (số sê-ri {cert.serial_number:x}), "
        "không phải chứng thư đã đăng ký của cơ quan gửi",
        f"The package is signed with {_name(cert)}'s certificate (serial {cert.serial_number:x}), "
        "not the sending node's registered one; update the node's certificate if it changed",
        "xmldsig_unexpected_signer",
    )


def _signer(embedded: list[x509.Certificate], pinned: list[x509.Certificate]) -> x509.Certificate:
    # The certificate in X509Data, which must be a pinned one; else the one pinned.
    if embedded:
        signer = _leaf(embedded)
        if pinned and _der(signer) not in {_der(c) for c in pinned}:
            raise _unexpected(signer)
        return signer
    if len(pinned) == 1:
        return pinned[0]
    raise error(
        "Chữ ký không kèm chứng thư (X509Certificate)",
        "The signature carries no X509Certificate to verify with",
        "xmldsig_no_certificate",
    )


def _config(moment: dt.datetime | None, allow_sha1: bool) -> SignatureConfiguration:
    methods, digests = set(_MODERN_METHODS), set(_MODERN_DIGESTS)
    if allow_sha1:
        methods.add(SignatureMethod.RSA_SHA1)
        digests.add(DigestAlgorithm.SHA1)
    return SignatureConfiguration(
        location=".//",
        expect_references=1,
        signature_methods=frozenset(methods),
        digest_algorithms=frozenset(digests),
        verification_time=moment,
        # XML-DSig's default for a node-set without a c14n transform (old samples)
        default_reference_c14n_method=_C14N,
    )


def _check_value(
    root: etree._Element, cert: x509.Certificate, config: SignatureConfiguration, size: int
) -> None:
    try:
        Verifier().verify(root, x509_cert=cert, parser=parser(size), expect_config=config)
    except InvalidDigest as e:
        raise error(
            "Gói tin đã bị thay đổi sau khi ký",
            "The package was changed after it was signed",
            "xmldsig_digest_mismatch",
        ) from e
    except InvalidCertificate as e:
        raise error(
            f"Chứng thư của {_name(cert)} không có hiệu lực vào thời điểm kiểm tra",
            f"{_name(cert)}'s certificate is not valid at the time checked ({e})",
            "xmldsig_certificate_not_valid",
        ) from e
    except InvalidSignature as e:
        raise error(
            f"Giá trị chữ ký không khớp với chứng thư của {_name(cert)}",
            f"The signature value does not match {_name(cert)}'s certificate",
            "xmldsig_bad_signature",
        ) from e
    except (InvalidInput, etree.DocumentInvalid, ValueError) as e:
        refused = "forbidden by configuration" in str(e)
        raise error(
            "Thuật toán chữ ký không được chấp nhận"
            if refused
            else "Phần tử Signature không hợp lệ",
            f"Signature algorithm refused: {e}" if refused else f"Malformed Signature element: {e}",
            "xmldsig_algorithm_refused" if refused else "xmldsig_malformed",
        ) from e


def _check_chain(
    cert: x509.Certificate,
    others: Iterable[x509.Certificate],
    trust: TrustSettings,
    moment: dt.datetime | None,
) -> None:
    vc = trust.validation_context(moment=moment)
    validator = CertificateValidator(
        asn1_x509.Certificate.load(_der(cert)),
        intermediate_certs=[asn1_x509.Certificate.load(_der(c)) for c in others],
        validation_context=vc,
    )
    try:
        run_sync(validator.async_validate_usage({"digital_signature"}), vc)
    except RevokedError as e:
        raise error(
            f"Chứng thư của {_name(cert)} đã bị thu hồi",
            f"{_name(cert)}'s certificate is revoked",
            "xmldsig_revoked",
        ) from e
    except (PathBuildingError, ValidationError) as e:
        raise error(
            f"Chứng thư của {_name(cert)} không thuộc tổ chức chứng thực tin cậy",
            f"{_name(cert)}'s certificate does not chain to a trusted root: {e}",
            "xmldsig_untrusted",
        ) from e


def verify_package(
    xml: bytes,
    *,
    expected: x509.Certificate | Iterable[x509.Certificate] | None = None,
    trust: TrustSettings | None = None,
    moment: dt.datetime | None = None,
    allow_sha1: bool = True,
    max_bytes: int = MAX_XML_BYTES,
) -> XmlSignature:
    """Verify the one enveloped signature of an edXML package; return who signed.

    `expected` pins the signer to one of these certificates (the sending node's); `trust`
    requires a path to its roots; give at least one. Certificates are checked at
    `moment` (default now). Raises XmlSignatureError, its `code` saying what failed:
    xmldsig_missing, xmldsig_multiple, xmldsig_partial, xmldsig_malformed,
    xmldsig_algorithm_refused, xmldsig_digest_mismatch, xmldsig_bad_signature,
    xmldsig_certificate_not_valid, xmldsig_unexpected_signer, xmldsig_untrusted,
    xmldsig_revoked, xmldsig_no_certificate, xml_* for unsafe XML.
    """
    pinned = [expected] if isinstance(expected, x509.Certificate) else list(expected or ())
    if not pinned and trust is None:
        raise error(
            "Cần chứng thư của cơ quan gửi hoặc danh sách CA tin cậy để kiểm tra chữ ký",
            "Give the sender's certificate or trusted roots to verify a signature against",
            "xmldsig_no_trust_anchor",
        )
    root = parse_untrusted(xml, max_bytes)
    sig, repaired = _the_signature(root)
    method, digest = _algorithms(sig)
    embedded = _embedded(sig)
    signer = _signer(embedded, pinned)
    _check_value(root, signer, _config(moment, allow_sha1), len(xml))
    others = tuple(c for c in embedded if c is not signer)
    if trust is not None:
        _check_chain(signer, (*others, *trust.intermediates), trust, moment)
    return XmlSignature(
        certificate=signer,
        chain=others,
        signature_method=method,
        digest_method=digest,
        legacy_sha1=method.endswith("sha1") or digest.endswith("sha1"),
        namespace_repaired=repaired,
    )


def verify_integrity(xml: bytes, *, max_bytes: int = MAX_XML_BYTES) -> XmlSignature:
    """Verify a package's one signature against the certificate it carries, with no
    certificate of our own to pin or trust: it proves the package is unchanged since that
    key signed it, not who holds the key. Raises XmlSignatureError as `verify_package`
    (xmldsig_missing when unsigned, xmldsig_no_certificate when it carries none)."""
    sig, _ = _the_signature(parse_untrusted(xml, max_bytes))
    embedded = _embedded(sig)
    if not embedded:
        raise error(
            "Chữ ký không kèm chứng thư (X509Certificate); hãy chỉ ra chứng thư của cơ quan gửi",
            "The signature carries no X509Certificate; give the sender's certificate to check it",
            "xmldsig_no_certificate",
        )
    return verify_package(xml, expected=_leaf(embedded), max_bytes=max_bytes)
