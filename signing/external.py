"""Two-step signing with a key the server never holds (a USB token behind the CA's signing
plug-in, a remote signing service).

`prepare_external` reserves the signature in the PDF and returns everything the second step
needs as plain bytes and numbers, so it can be stored and finished after a restart; the
device signs `PreparedSignature.to_sign` (the DER signed attributes; most devices hash it
with SHA-256 themselves, `digest` is that hash for those that want it); `finish_external`
embeds the value. Bytes in, bytes out.
"""

from __future__ import annotations

import hashlib
import io
from dataclasses import dataclass

from asn1crypto import cms
from cryptography import x509
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from pyhanko.pdf_utils.misc import PdfError
from pyhanko.sign import fields, signers
from pyhanko.sign.signers.pdf_byterange import PreparedByteRangeDigest
from pyhanko.sign.signers.pdf_signer import PdfTBSDocument
from pyhanko_certvalidator.registry import SimpleCertificateStore

from signing.aio import run_sync
from signing.documents import malformed, open_writer
from signing.errors import SigningError
from signing.keys import _asn1

__all__ = ["PreparedSignature", "finish_external", "prepare_external"]

_DIGEST = "sha256"


@dataclass(frozen=True)
class PreparedSignature:
    pdf: bytes  # the document with the signature's place reserved
    document_digest: bytes
    region_start: int
    region_end: int
    signed_attrs: bytes  # DER; what the device signs
    field_name: str

    @property
    def to_sign(self) -> bytes:
        """The bytes the external device signs (DER-encoded CMS signed attributes)."""
        return self.signed_attrs

    @property
    def digest(self) -> bytes:
        """SHA-256 of `to_sign`, for devices that sign a hash."""
        return hashlib.sha256(self.signed_attrs).digest()


def _value_size(cert: x509.Certificate) -> int:
    key = cert.public_key()
    if isinstance(key, rsa.RSAPublicKey):
        return key.key_size // 8
    if isinstance(key, ec.EllipticCurvePublicKey):
        return 2 * ((key.key_size + 7) // 8) + 9  # DER ECDSA-Sig-Value at its largest
    raise SigningError(
        "Chỉ hỗ trợ khóa RSA hoặc ECDSA / only RSA and ECDSA keys are supported",
        code="unsupported_key",
    )


def _signer(
    cert: x509.Certificate, chain: tuple[x509.Certificate, ...], value: bytes | int
) -> signers.ExternalSigner:
    registry = SimpleCertificateStore.from_certs([_asn1(c) for c in chain])
    return signers.ExternalSigner(_asn1(cert), registry, signature_value=value)


def prepare_external(
    pdf: bytes,
    cert: x509.Certificate,
    chain: tuple[x509.Certificate, ...] = (),
    *,
    field_name: str = "Signature-external",
    reason: str | None = None,
) -> PreparedSignature:
    """Reserve a PAdES B-B signature by `cert` in `pdf`; raises MalformedPdfError,
    SigningError for an unsupported key."""
    writer = open_writer(pdf)
    signer = _signer(cert, chain, _value_size(cert))
    meta = signers.PdfSignatureMetadata(
        field_name=field_name,
        md_algorithm=_DIGEST,
        reason=reason,
        subfilter=fields.SigSeedSubFilter.PADES,
    )
    pdf_signer = signers.PdfSigner(meta, signer)

    async def prepare() -> PreparedSignature:
        out = io.BytesIO()
        digest, _, output = await pdf_signer.async_digest_doc_for_signing(writer, output=out)
        attrs = await signer.signed_attrs(
            digest.document_digest, _DIGEST, use_pades=True, is_pdf_sig=True
        )
        output.seek(0)
        return PreparedSignature(
            pdf=output.read(),
            document_digest=digest.document_digest,
            region_start=digest.reserved_region_start,
            region_end=digest.reserved_region_end,
            signed_attrs=attrs.dump(),
            field_name=field_name,
        )

    try:
        return run_sync(prepare(), None)
    except PdfError as e:
        raise malformed(e) from e


def finish_external(
    prepared: PreparedSignature,
    signature_value: bytes,
    cert: x509.Certificate,
    chain: tuple[x509.Certificate, ...] = (),
) -> bytes:
    """The signed PDF: the device's `signature_value` over `prepared.to_sign` embedded.

    Does not check the value (the caller validates the result); raises SigningError when
    it is larger than the place reserved for it.
    """
    signer = _signer(cert, chain, signature_value)
    attrs = cms.CMSAttributes.load(prepared.signed_attrs)

    async def finish() -> bytes:
        content = await signer.async_sign_prescribed_attributes(_DIGEST, signed_attrs=attrs)
        out = io.BytesIO(prepared.pdf)
        digest = PreparedByteRangeDigest(
            prepared.document_digest, prepared.region_start, prepared.region_end
        )
        await PdfTBSDocument.async_finish_signing(out, digest, content)
        return out.getvalue()

    try:
        return run_sync(finish(), None)
    except (PdfError, ValueError) as e:
        raise SigningError(
            f"Không gắn được chữ ký vào tài liệu: {e} / the signature value cannot be "
            f"embedded: {e}",
            code="external_signature_unusable",
        ) from e
