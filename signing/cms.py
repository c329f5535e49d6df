"""CMS signers that keep their key loaded and reuse the constant part of a PAdES CMS.

pyHanko's `SimpleSigner` parses the private key again for every signature (about 50 ms
for RSA-2048) and rebuilds the whole CMS `SignedData` with asn1crypto (about 8 ms). For a
PAdES signature by one key almost all of that structure is constant: the signed
attributes are content-type, message-digest and signing-certificate-v2 (PAdES forbids
signing-time), and the certificates never change. So the first signature of a key is
built by pyHanko as usual and split around the message digest and the signature value;
later ones splice the new digest and signature into that template. A test checks the
result is byte-for-byte what pyHanko builds.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from asn1crypto import cms
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec, padding, rsa
from pyhanko.sign.signers import SimpleSigner
from pyhanko.sign.signers.pdf_cms import PdfCMSSignedAttributes

__all__ = ["LoadedKeySigner", "TemplateCmsMixin"]

_HASHES: dict[str, type[hashes.HashAlgorithm]] = {
    "sha256": hashes.SHA256,
    "sha384": hashes.SHA384,
    "sha512": hashes.SHA512,
}


def _der_length(n: int) -> bytes:
    if n < 0x80:
        return bytes([n])
    raw = n.to_bytes((n.bit_length() + 7) // 8, "big")
    return bytes([0x80 | len(raw)]) + raw


def _tlv(tag: int, content: bytes) -> bytes:
    return bytes([tag]) + _der_length(len(content)) + content


def _split_once(data: bytes, needle: bytes) -> tuple[bytes, bytes] | None:
    at = data.find(needle)
    if at < 0 or data.find(needle, at + 1) >= 0:
        return None
    return data[:at], data[at + len(needle) :]


@dataclass(frozen=True)
class _Template:
    """A PAdES CMS cut around the two values that change between signatures."""

    attrs: tuple[bytes, bytes]  # signed attributes (SET OF), around the message digest
    signer_info: tuple[bytes, bytes]  # SignerInfo fields up to the signature, around the digest
    signed_data_head: bytes  # version, digestAlgorithms, encapContentInfo, certificates
    content_type: bytes  # the id-signedData OID

    @classmethod
    def from_sample(cls, sample: cms.ContentInfo, digest: bytes) -> _Template | None:
        """Cut a pyHanko-built CMS; None if its shape is not the plain one we expect."""
        sd = sample["content"]
        if len(sd["signer_infos"]) != 1 or "crls" in sd and sd["crls"].native:
            return None
        si = sd["signer_infos"][0]
        # Inside SignerInfo the attributes are [0] IMPLICIT; what is signed is the SET OF.
        attrs = _split_once(b"\x31" + si["signed_attrs"].dump()[1:], digest)
        head = b"".join(
            si[k].dump()
            for k in ("version", "sid", "digest_algorithm", "signed_attrs", "signature_algorithm")
        )
        signer_info = _split_once(head, digest)
        if attrs is None or signer_info is None:
            return None
        sd_head = b"".join(
            sd[k].dump() for k in ("version", "digest_algorithms", "encap_content_info")
        )
        sd_head += sd["certificates"].dump()
        return cls(attrs, signer_info, sd_head, sample["content_type"].dump())

    def signed_attrs(self, digest: bytes) -> bytes:
        return self.attrs[0] + digest + self.attrs[1]

    def content_info(self, digest: bytes, signature: bytes, unsigned: bytes | None) -> bytes:
        si = self.signer_info[0] + digest + self.signer_info[1] + _tlv(0x04, signature)
        if unsigned is not None:
            si += b"\xa1" + unsigned[1:]  # [1] IMPLICIT SET OF Attribute
        signed_data = _tlv(0x30, self.signed_data_head + _tlv(0x31, _tlv(0x30, si)))
        return _tlv(0x30, self.content_type + _tlv(0xA0, signed_data))


class TemplateCmsMixin:
    """Reuse the constant part of this signer's PAdES CMS (see the module docstring)."""

    _templates: dict[str, _Template | None]

    def _template_ok(self, settings: PdfCMSSignedAttributes | None, kw: dict[str, Any]) -> bool:
        plain = settings is None or (
            settings.adobe_revinfo_attr is None and settings.cades_signed_attrs is None
        )
        return (
            plain
            and kw.get("use_pades", False)
            and kw.get("is_pdf_sig", True)
            and not kw.get("dry_run", False)
            and kw.get("encap_content_info") is None
            and getattr(self, "signed_attr_prov_spec", None) is None
            and getattr(self, "unsigned_attr_prov_spec", None) is None
        )

    async def async_sign(  # type: ignore[no-untyped-def]
        self, data_digest: bytes, digest_algorithm: str, *args, **kwargs
    ) -> cms.ContentInfo:
        parent: Any = super()
        if args or not self._template_ok(kwargs.get("signed_attr_settings"), kwargs):
            return await parent.async_sign(data_digest, digest_algorithm, *args, **kwargs)
        templates = self.__dict__.setdefault("_templates", {})
        if digest_algorithm not in templates:
            sample = await parent.async_sign(data_digest, digest_algorithm, *args, **kwargs)
            templates[digest_algorithm] = _Template.from_sample(sample, data_digest)
            return sample
        template = templates[digest_algorithm]
        if template is None:
            return await parent.async_sign(data_digest, digest_algorithm, *args, **kwargs)
        me: Any = self
        attrs = template.signed_attrs(data_digest)
        signature = await me.async_sign_raw(attrs, digest_algorithm)
        unsigned = None
        if kwargs.get("timestamper") is not None:
            unsigned_attrs = await me.unsigned_attrs(
                digest_algorithm,
                signature,
                signed_attrs=cms.CMSAttributes.load(attrs),
                timestamper=kwargs["timestamper"],
            )
            unsigned = unsigned_attrs.dump() if unsigned_attrs is not None else None
        der = template.content_info(data_digest, signature, unsigned)
        return cms.ContentInfo.load(der)


class LoadedKeySigner(TemplateCmsMixin, SimpleSigner):
    """A `SimpleSigner` that keeps the parsed `cryptography` private key."""

    def __init__(self, private_key: Any, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self._private_key = private_key

    def sign_raw(self, data: bytes, digest_algorithm: str) -> bytes:
        mech = self.get_signature_mechanism_for_digest(digest_algorithm)
        name = mech["algorithm"].native
        hash_cls = _HASHES.get(digest_algorithm)
        key = self._private_key
        if hash_cls is None:
            return super().sign_raw(data, digest_algorithm)
        if isinstance(key, rsa.RSAPrivateKey) and name in (
            "rsassa_pkcs1v15",
            f"{digest_algorithm}_rsa",
        ):
            return key.sign(data, padding.PKCS1v15(), hash_cls())
        if isinstance(key, ec.EllipticCurvePrivateKey) and name in (
            "ecdsa",
            f"{digest_algorithm}_ecdsa",
        ):
            return key.sign(data, ec.ECDSA(hash_cls()))
        return super().sign_raw(data, digest_algorithm)  # PSS, EdDSA…: pyHanko's own path
