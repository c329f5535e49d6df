"""Who signed a package, as the evidence log records it: read back from a package this node
signed, and found among the sender's certificates for a legacy package that names none."""

from __future__ import annotations

import hashlib
from pathlib import Path

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import serialization
from lxml import etree

from engine.exchange.identity import NodeIdentity, load_identity
from engine.exchange.signers import Sender, Signer, signer_of, verify_signer
from signing.errors import XmlSignatureError
from signing.keys import SigningKey, load_pkcs12
from signing.xmldsig import DSIG, sign_package
from tests.api.test_exchange_faults import _unsigned
from tests.pki import PASSWORD, TestPki

SENDER, COMMUNE = "000.00.10.H96", "000.01.20.H99"


@pytest.fixture
def node(tmp_path: Path) -> NodeIdentity:
    return load_identity("node-h96", None, None, tmp_path / "node.p12")


def _fingerprint(cert: x509.Certificate) -> str:
    return hashlib.sha256(cert.public_bytes(serialization.Encoding.DER)).hexdigest()


def _seal(pki: TestPki) -> SigningKey:
    return load_pkcs12(pki.pkcs12(pki.seal), PASSWORD)


def _signed(key: SigningKey, *, keyinfo: bool = True) -> bytes:
    xml, _ = _unsigned([COMMUNE], sender=SENDER)
    signed = sign_package(xml, key)
    if keyinfo:
        return signed
    root = etree.fromstring(signed)
    (info,) = root.iter(f"{{{DSIG}}}KeyInfo")
    info.getparent().remove(info)  # type: ignore[union-attr]
    return etree.tostring(root, xml_declaration=True, encoding="UTF-8")


def test_a_package_this_node_signed_names_the_node_key_or_the_agency_seal(
    node: NodeIdentity, pki: TestPki
) -> None:
    assert signer_of(_signed(node.key), node) == Signer("node", _fingerprint(node.certificate))
    assert signer_of(_signed(_seal(pki)), node) == Signer("agency", _fingerprint(pki.seal.cert))
    assert signer_of(_signed(node.key, keyinfo=False), node) is None


def test_a_legacy_package_changed_after_signing_is_refused_as_changed(
    node: NodeIdentity, pki: TestPki
) -> None:
    # The pinned seal's key made the signature value, so what failed is the content: say so,
    # rather than that no certificate matches.
    sender = Sender(SENDER, node.certificate, pki.seal.cert, node.name)
    data = _signed(_seal(pki), keyinfo=False)
    assert verify_signer(data, sender) == Signer("agency", _fingerprint(pki.seal.cert))
    with pytest.raises(XmlSignatureError) as e:
        verify_signer(data.replace(b"TEST-LT", b"TEST-LX"), sender)
    assert e.value.code == "xmldsig_digest_mismatch"


def test_a_legacy_package_is_checked_with_the_candidate_whose_key_fits(pki: TestPki) -> None:
    # The peer node signs with an EC key, the agency with its RSA seal: an RSA signature
    # must be tried against the agency's certificate, not stop at the node's EC one.
    ec_node = TestPki.generate("ecdsa").seal.cert
    sender = Sender(SENDER, ec_node, pki.seal.cert, "node-h96")
    data = _signed(_seal(pki), keyinfo=False)
    assert verify_signer(data, sender) == Signer("agency", _fingerprint(pki.seal.cert))
