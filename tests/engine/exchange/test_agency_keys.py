"""The agencies' certificates a node publishes, signed with its key: what a peer pins only
when that signature holds against the node certificate it verified out of band; and an
agency key on a PKCS#11 token signing a package through our signing layer."""

from __future__ import annotations

import datetime as dt
import shutil
from dataclasses import replace
from pathlib import Path

import pytest

from engine.errors import ExchangeError
from engine.exchange.agency_keys import publish, verify_published
from engine.exchange.identity import NodeIdentity, load_identity
from engine.signing_secrets import forget_loaded_keys
from signing.keys import open_pkcs11
from signing.xmldsig import sign_package, verify_package
from tests.api.test_exchange_faults import _unsigned
from tests.pki import TestPki
from tests.signing.conftest import TokenKey, softhsm_module, softhsm_token

CODE, OTHER = "000.00.10.H99", "000.01.20.H99"


@pytest.fixture
def node(tmp_path: Path) -> NodeIdentity:
    return load_identity("node-a", None, None, tmp_path / "node.p12")


def test_published_certificates_are_pinned_when_the_node_signature_holds(
    node: NodeIdentity, pki: TestPki
) -> None:
    published = publish(node, {CODE: pki.seal.pem.decode()})
    assert verify_published(node.certificate, node.name, published) == {CODE: pki.seal.cert}


def test_a_certificate_swapped_in_transit_is_not_pinned(node: NodeIdentity, pki: TestPki) -> None:
    published = publish(node, {CODE: pki.seal.pem.decode()})
    swapped = replace(published, agency_certificates={CODE: pki.official.pem.decode()})
    with pytest.raises(ExchangeError) as e:
        verify_published(node.certificate, node.name, swapped)
    assert e.value.code == "agency_certificates_bad_signature"


def test_an_agency_added_in_transit_is_not_pinned(node: NodeIdentity, pki: TestPki) -> None:
    published = publish(node, {CODE: pki.seal.pem.decode()})
    grown = replace(
        published,
        agency_certificates={CODE: pki.seal.pem.decode(), OTHER: pki.official.pem.decode()},
    )
    with pytest.raises(ExchangeError) as e:
        verify_published(node.certificate, node.name, grown)
    assert e.value.code == "agency_certificates_bad_signature"


def test_a_set_signed_by_another_node_is_not_pinned(
    node: NodeIdentity, pki: TestPki, tmp_path: Path
) -> None:
    intruder = load_identity("node-a", None, None, tmp_path / "intruder.p12")
    published = publish(intruder, {CODE: pki.official.pem.decode()})
    with pytest.raises(ExchangeError) as e:
        verify_published(node.certificate, node.name, published)
    assert e.value.code == "agency_certificates_bad_signature"


def test_an_old_published_set_replayed_is_not_pinned(node: NodeIdentity, pki: TestPki) -> None:
    published = publish(node, {CODE: pki.seal.pem.decode()})
    later = dt.datetime.now(dt.UTC) + dt.timedelta(days=2)
    with pytest.raises(ExchangeError) as e:
        verify_published(node.certificate, node.name, published, now=later)
    assert e.value.code == "agency_certificates_stale"


def test_an_rsa_key_on_a_pkcs11_token_signs_a_package_rsa_sha256(
    tmp_path: Path, pki: TestPki, monkeypatch: pytest.MonkeyPatch
) -> None:
    # signxml cannot drive a token; `signing.xmldsig` gets the signature value from pyHanko's
    # PKCS#11 signer, so an agency seal key on a token is usable for the exchange.
    # A copy of the module is a library of its own, initialised here with this test's
    # SOFTHSM2_CONF; the system one may already be loaded by other tests of this process.
    module = shutil.copy2(softhsm_module(), tmp_path / "libsofthsm2-exchange.so")
    forget_loaded_keys()
    seal = TokenKey("21", "dau", pki, "Sở Tư pháp (token)")
    token = softhsm_token(
        monkeypatch, tmp_path, seal, label="lt-exchange", pin="1234", so_pin="4321", module=module
    )
    with open_pkcs11(token.module, token_label=token.label, key_label="dau", pin=token.pin) as key:
        xml, _ = _unsigned(["000.01.20.H98"])
        signed = sign_package(xml, key)
    cert = token.certificates["dau"]
    held = verify_package(signed, expected=cert)
    assert held.certificate == cert
    assert held.signature_method.endswith("rsa-sha256")
