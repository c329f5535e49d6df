from __future__ import annotations

import asyncio
import hashlib

from asn1crypto import cms
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec
from pyhanko.sign.signers import SimpleSigner

from signing.keys import load_pkcs12
from tests.pki import PASSWORD, TestPki


def _sign(signer: object, digest: bytes) -> bytes:
    coro = signer.async_sign(digest, "sha256", use_pades=True)  # type: ignore[attr-defined]
    return asyncio.run(coro).dump()


def test_cached_cms_is_byte_for_byte_what_pyhanko_builds(pki_rsa: TestPki) -> None:
    key = load_pkcs12(pki_rsa.pkcs12(pki_rsa.official), PASSWORD)
    plain = SimpleSigner.load_pkcs12_data(pki_rsa.pkcs12(pki_rsa.official), [], PASSWORD.encode())
    _sign(key.signer, hashlib.sha256(b"first document").digest())  # builds the template
    digest = hashlib.sha256(b"second document").digest()
    # RSA PKCS#1 v1.5 is deterministic, so the whole CMS must match
    assert _sign(key.signer, digest) == _sign(plain, digest)


def test_cached_ecdsa_cms_has_the_right_structure_and_verifies(pki_ec: TestPki) -> None:
    key = load_pkcs12(pki_ec.pkcs12(pki_ec.official), PASSWORD)
    _sign(key.signer, hashlib.sha256(b"first").digest())
    for n in range(20):  # ECDSA signatures vary in length: 70 to 72 bytes
        digest = hashlib.sha256(b"doc %d" % n).digest()
        info = cms.ContentInfo.load(_sign(key.signer, digest))
        si = info["content"]["signer_infos"][0]
        attrs = {a["type"].native: a["values"][0] for a in si["signed_attrs"]}
        assert attrs["message_digest"].native == digest
        assert "signing_time" not in attrs  # PAdES forbids it
        signed = b"\x31" + si["signed_attrs"].dump()[1:]
        pub = pki_ec.official.cert.public_key()
        assert isinstance(pub, ec.EllipticCurvePublicKey)
        pub.verify(si["signature"].native, signed, ec.ECDSA(hashes.SHA256()))
