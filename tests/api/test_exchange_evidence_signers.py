"""The evidence log names the key that signed what this node sends, as it does for what it
receives; `lienthong exchange node` lists the agency certificates the node publishes; and a
legacy package whose signature carries no X509Certificate is checked against each
certificate trusted for its sender. One node (same-node delivery, packages from a peer
posted to its endpoint), on SQLite and PostgreSQL."""

from __future__ import annotations

import hashlib
import json
import os
import subprocess
from pathlib import Path
from urllib.parse import quote

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import serialization
from lxml import etree

from api.routes.exchange import agency_keys
from engine.exchange.identity import NodeIdentity, load_identity
from engine.exchange.outbox import Outbox
from engine.exchange.peers import add_peer
from signing.keys import SigningKey, load_pkcs12
from signing.xmldsig import DSIG, sign_package
from tests.api.test_documents_api import COMMUNE, _do, _doc
from tests.api.test_exchange_faults import _unsigned
from tests.api.test_exchange_local import _dispatched, _incoming_of, _no_http
from tests.conftest import Api
from tests.nodes import LIENTHONG
from tests.pki import PASSWORD, TestPki

DEPARTMENT = "000.00.10.H99"  # Sở Tư pháp: sends the demo's outgoing documents
FOREIGN = "000.00.10.H96"  # an agency of the peer node this test adds


def _fingerprint(cert: x509.Certificate) -> str:
    return hashlib.sha256(cert.public_bytes(serialization.Encoding.DER)).hexdigest()


def _evidence(api: Api, exchange_id: str) -> list[dict]:
    r = api.client.get(
        f"/api/v1/exchange/evidence?exchange_id={quote(exchange_id)}", headers=api.login("admin")
    )
    assert r.status_code == 200, r.text
    return list(r.json()["items"])


def _signers(api: Api, exchange_id: str) -> dict[tuple[str, str, str | None], tuple[str, str]]:
    """(direction, kind, status code) → (signed_by, signer_sha256) in the evidence log."""
    return {
        (e["direction"], e["kind"], e["status_code"]): (e["signed_by"], e["signer_sha256"])
        for e in _evidence(api, exchange_id)
        if e["signed_by"]
    }


def _register_seal(api: Api, pki: TestPki) -> None:
    r = api.client.post(
        "/api/v1/admin/signing-keys",
        data={"agency_code": DEPARTMENT, "password": PASSWORD, "label": "Dấu Sở Tư pháp"},
        files={"file": ("seal.p12", pki.pkcs12(pki.seal), "application/x-pkcs12")},
        headers=api.login("admin"),
    )
    assert r.status_code == 201, r.text


def _outbox(api: Api, *, agency_keys_on: bool) -> Outbox:
    s = api.state
    keys = agency_keys(s, s.objects) if agency_keys_on else None
    return Outbox(s.sessions, s.objects, s.node, _no_http, s.settings.tmp_dir, keys=keys)


# --- what this node sends ---------------------------------------------------------------


def test_sent_package_and_statuses_name_the_node_key_when_the_agencies_have_none(
    api: Api, pki: TestPki
) -> None:
    did = _dispatched(api, pki)
    outbox = _outbox(api, agency_keys_on=False)
    outbox.run_once()
    exchange_id = _doc(api, "vanthu.so", did)["exchange_id"]
    _do(api, "vanthu", "register", _incoming_of(api, exchange_id)["id"], {"decision": "register"})
    outbox.run_once()  # status 03 back to the department

    node = ("node", _fingerprint(api.state.node.certificate))
    signers = _signers(api, exchange_id)
    assert signers[("sent", "package", None)] == node
    assert signers[("received", "package", None)] == node
    assert signers[("sent", "status", "01")] == node  # the commune's receipt
    assert signers[("received", "status", "01")] == node  # … as the sender recorded it
    assert signers[("sent", "status", "03")] == node


def test_sent_package_names_the_seal_certificate_of_the_agency_that_signed_it(
    api: Api, pki: TestPki
) -> None:
    _register_seal(api, pki)
    did = _dispatched(api, pki)
    _outbox(api, agency_keys_on=True).run_once()
    exchange_id = _doc(api, "vanthu.so", did)["exchange_id"]

    seal = ("agency", _fingerprint(pki.seal.cert))
    signers = _signers(api, exchange_id)
    assert signers[("sent", "package", None)] == seal
    assert signers[("received", "package", None)] == seal
    # The commune has no key of its own: its receipt is signed with the node's.
    assert signers[("sent", "status", "01")] == ("node", _fingerprint(api.state.node.certificate))


def test_exchange_node_lists_the_agency_certificates_the_node_publishes(
    api: Api, pki: TestPki, db_url: str, tmp_path: Path
) -> None:
    env = {k: v for k, v in os.environ.items() if not k.startswith("LIENTHONG_")} | {
        "LIENTHONG_DATA_DIR": str(api.state.settings.data_dir),
        "LIENTHONG_DATABASE_URL": db_url,
        "LIENTHONG_DEMO": "1",
    }

    def node(*args: str) -> subprocess.CompletedProcess[str]:
        r = subprocess.run(
            [LIENTHONG, "exchange", "node", *args],
            env=env, capture_output=True, text=True, timeout=120,
        )  # fmt: skip
        assert r.returncode == 0, r.stderr
        return r

    assert "no agency certificates published" in node().stderr
    _register_seal(api, pki)
    published = api.client.get("/exchange/v1/node").json()["agency_certificates"]
    assert list(published) == [DEPARTMENT]

    listed = json.loads(node("--json").stdout)
    assert listed["certificate_sha256"] == _fingerprint(api.state.node.certificate)
    (agency,) = listed["agency_certificates"]
    assert agency == {
        "code": DEPARTMENT,
        "subject": pki.seal.cert.subject.rfc4514_string(),
        "sha256": _fingerprint(pki.seal.cert),
        "not_before": pki.seal.cert.not_valid_before_utc.isoformat(),
        "not_after": pki.seal.cert.not_valid_after_utc.isoformat(),
        "certificate_pem": published[DEPARTMENT],
    }
    # Without --json: stdout is still just the node's PEM (`… > my-node.pem`), and the
    # agencies' certificates are listed beside it for the admin to read out.
    plain = node()
    assert plain.stdout == api.state.node.certificate_pem
    (line,) = [x for x in plain.stderr.splitlines() if DEPARTMENT in x]
    assert _fingerprint(pki.seal.cert) in line
    assert pki.seal.cert.subject.rfc4514_string() in line
    assert pki.seal.cert.not_valid_after_utc.strftime("%Y-%m-%d") in line


# --- legacy packages without X509Certificate --------------------------------------------


@pytest.fixture
def peer(api: Api, pki: TestPki, tmp_path: Path) -> NodeIdentity:
    """A peer node serving FOREIGN, whose own certificate is pinned here: the seal's."""
    identity = load_identity("node-h96", None, None, tmp_path / "h96.p12")
    with api.state.sessions.begin() as session:
        add_peer(
            session,
            identity.name,
            "http://127.0.0.1:9",
            identity.certificate_pem,
            [FOREIGN],
            agency_certificates={FOREIGN: pki.seal.pem.decode()},
        )
    return identity


def _legacy(key: SigningKey) -> tuple[bytes, str]:
    """A package from FOREIGN to the commune signed with `key`, its KeyInfo left out (as
    some older senders do: the signature names no certificate)."""
    xml, document_id = _unsigned([COMMUNE], sender=FOREIGN)
    root = etree.fromstring(sign_package(xml, key))
    (info,) = root.iter(f"{{{DSIG}}}KeyInfo")
    info.getparent().remove(info)  # type: ignore[union-attr]
    return etree.tostring(root, xml_declaration=True, encoding="UTF-8"), document_id


def _post(api: Api, data: bytes) -> dict:
    r = api.client.post(
        "/exchange/v1/packages", content=data, headers={"Content-Type": "application/xml"}
    )
    assert r.status_code == 200, r.text
    (receipt,) = r.json()["receipts"]
    return dict(receipt)


def _received(api: Api, document_id: str) -> dict:
    (row,) = [e for e in _evidence(api, document_id) if e["direction"] == "received"]
    return row


@pytest.mark.parametrize("signer", ["agency", "node"])
def test_a_legacy_package_is_accepted_when_a_certificate_trusted_for_its_sender_verifies_it(
    api: Api, pki: TestPki, peer: NodeIdentity, signer: str
) -> None:
    key = load_pkcs12(pki.pkcs12(pki.seal), PASSWORD) if signer == "agency" else peer.key
    data, document_id = _legacy(key)
    receipt = _post(api, data)
    assert (receipt["organ_id"], receipt["status_code"]) == (COMMUNE, "01")
    assert receipt["status_package"]  # a signed receipt
    row = _received(api, document_id)
    assert (row["result"], row["signed_by"]) == ("accepted", signer)
    assert row["signer_sha256"] == _fingerprint(key.certificate)
    _incoming_of(api, document_id)  # the commune has it


def test_a_legacy_package_signed_with_another_key_is_refused_with_02(
    api: Api, pki: TestPki, peer: NodeIdentity
) -> None:
    data, document_id = _legacy(load_pkcs12(pki.pkcs12(pki.official), PASSWORD))
    receipt = _post(api, data)
    assert (receipt["organ_id"], receipt["status_code"], receipt["status_package"]) == (
        COMMUNE,
        "02",
        "",
    )
    assert FOREIGN in receipt["description"]
    row = _received(api, document_id)
    assert row["result"] == "xmldsig_bad_signature"
    assert row["signed_by"] is None and row["signer_sha256"] is None
    h = api.login("vanthu")
    items = api.client.get("/api/v1/documents?direction=incoming", headers=h).json()["items"]
    assert not [d for d in items if d["exchange_id"] == document_id]
