"""Two nodes on 127.0.0.1 and agencies that sign their packages with their own key: node A's
department gets a PKCS#12 seal key, A publishes its certificate (signed with A's node key),
node B pins it with `peer add --fetch-agency-certs`, and B accepts the agency-signed package
only once pinned; a package signed with any other certificate is refused with 02."""

from __future__ import annotations

import hashlib
import json
import subprocess
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from cryptography import x509
from cryptography.hazmat.primitives import serialization

from engine.exchange.identity import load_identity
from signing.keys import load_pkcs12
from signing.xmldsig import sign_package
from tests.api.test_exchange_faults import _unsigned
from tests.nodes import (
    LIENTHONG,
    Node,
    pin_agency_certificates,
    running_nodes,
    send_document,
    wait_for,
)
from tests.pki import PASSWORD, TestPki

SENDER = "000.00.10.H99"  # Sở Tư pháp on node A: the demo department that sends
B_COMMUNE = "000.01.20.H98"
NODE_KEY_PASSWORD = "lienthong-node"  # engine.exchange.identity's default


@pytest.fixture(scope="module")
def nodes(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Node, Node]]:
    base = tmp_path_factory.mktemp("agency-keys")
    # Agencies' own keys sign only once the admin turns it on (after the peers have pinned).
    with running_nodes(base, ["H99", "H98"], LIENTHONG_EXCHANGE_AGENCY_KEYS="1") as (a, b):
        yield a, b


def _fingerprint(cert: x509.Certificate) -> str:
    return hashlib.sha256(cert.public_bytes(serialization.Encoding.DER)).hexdigest()


def _node_certificate(node: Node) -> x509.Certificate:
    pem = httpx.get(f"{node.url}/exchange/v1/node").json()["certificate_pem"]
    return x509.load_pem_x509_certificate(pem.encode())


def _register_seal(node: Node, pki: TestPki) -> None:
    r = httpx.post(
        f"{node.url}/api/v1/admin/signing-keys",
        data={"agency_code": SENDER, "password": PASSWORD, "label": "Dấu Sở Tư pháp"},
        files={"file": ("seal.p12", pki.pkcs12(pki.seal), "application/x-pkcs12")},
        headers=node.headers("admin"),
        timeout=30,
    )
    assert r.status_code == 201, r.text


def _status(a: Node, did: int) -> str | None:
    (d,) = a.get("vanthu.so", f"/api/v1/documents/{did}/deliveries")
    return d["status_code"]  # type: ignore[no-any-return]


def _received(b: Node, a: Node, did: int) -> dict:
    """B's evidence of the package of A's document `did`."""
    exchange_id = a.get("vanthu.so", f"/api/v1/documents/{did}")["exchange_id"]
    return _evidence(b, exchange_id)


def _evidence(
    b: Node, exchange_id: str, direction: str = "received", kind: str = "package"
) -> dict:
    items = b.get("admin", f"/api/v1/exchange/evidence?exchange_id={exchange_id}")["items"]
    (row,) = [e for e in items if (e["direction"], e["kind"]) == (direction, kind)]
    return dict(row)


def _sent_by(a: Node, did: int) -> tuple[str, str]:
    """Whose key signed the package of A's document `did`, as A's own evidence says."""
    exchange_id = a.get("vanthu.so", f"/api/v1/documents/{did}")["exchange_id"]
    row = _evidence(a, exchange_id, "sent")
    return row["signed_by"], row["signer_sha256"]


def test_agency_signs_with_its_own_key_once_it_has_one_and_the_peer_accepts_it_once_pinned(
    nodes: tuple[Node, Node], pki: TestPki
) -> None:
    a, b = nodes
    to = [{"code": B_COMMUNE, "name": "UBND xã Hoà Bình (tỉnh B)"}]

    # 1. The department has no key of its own: A's node key signs; B accepts it.
    did = send_document(a, pki, to)
    wait_for(lambda: _status(a, did) == "01", "01 for the node-signed package")
    first = _received(b, a, did)
    assert (first["result"], first["signed_by"]) == ("accepted", "node")
    assert first["signer_sha256"] == _fingerprint(_node_certificate(a))
    assert _sent_by(a, did) == ("node", first["signer_sha256"])  # the sender says the same

    # 2. A's admin gives it a PKCS#12 seal key: A publishes its certificate, signed.
    _register_seal(a, pki)
    info = httpx.get(f"{a.url}/exchange/v1/node").json()
    assert SENDER in info["agencies"]  # the list of codes stays as it was
    assert info["agency_certificates"] == {SENDER: pki.seal.pem.decode()}
    assert info["agency_certificates_signature"] and info["agency_certificates_signed_at"]
    # … and its admin reads the same set, fingerprinted, from the command line.
    listed = json.loads(a.cli("exchange", "node", "--json"))["agency_certificates"]
    assert [(c["code"], c["sha256"]) for c in listed] == [(SENDER, _fingerprint(pki.seal.cert))]

    # 3. B has not pinned it: the agency-signed package is refused, 02 and unsigned.
    did = send_document(a, pki, to)
    wait_for(lambda: _status(a, did) == "02", "02 for the package signed with an unpinned key")
    refused = _received(b, a, did)
    assert refused["result"] == "xmldsig_unexpected_signer" and refused["signed_by"] is None
    assert b.get("vanthu", "/api/v1/documents?direction=incoming")["total"] == 1

    # 4. B pins what A published (checked against A's node certificate): accepted, and
    # B's evidence names the department's certificate, not the node's.
    assert SENDER in pin_agency_certificates(b, a)
    (peer,) = json.loads(b.cli("exchange", "peer", "list", "--json"))
    assert peer["agency_certificates"] == {SENDER: pki.seal.cert.subject.rfc4514_string()}
    did = send_document(a, pki, to)
    wait_for(lambda: _status(a, did) == "01", "01 for the agency-signed package")
    accepted = _received(b, a, did)
    assert (accepted["result"], accepted["signed_by"]) == ("accepted", "agency")
    assert accepted["signer_sha256"] == _fingerprint(pki.seal.cert)
    assert _sent_by(a, did) == ("agency", accepted["signer_sha256"])

    # Statuses still flow back: B's commune (no key of its own) signs with B's node key.
    arrived = b.get("vanthu", "/api/v1/documents?direction=incoming")["items"]
    exchange_id = a.get("vanthu.so", f"/api/v1/documents/{did}")["exchange_id"]
    (copy,) = [d for d in arrived if d["exchange_id"] == exchange_id]
    b.do("vanthu", "register", copy["id"], {"decision": "register"})
    wait_for(lambda: _status(a, did) == "03", "03 from node B")
    statuses = b.get("admin", f"/api/v1/exchange/evidence?exchange_id={exchange_id}")["items"]
    b_node = _fingerprint(_node_certificate(b))
    assert {
        (e["status_code"], e["signed_by"], e["signer_sha256"])
        for e in statuses
        if (e["direction"], e["kind"]) == ("sent", "status")
    } == {("01", "node", b_node), ("03", "node", b_node)}
    # A recorded who signed what came back: B's node key, checked against its pinned certificate.
    back = a.get("admin", f"/api/v1/exchange/evidence?exchange_id={exchange_id}")["items"]
    assert {
        (e["status_code"], e["signed_by"], e["signer_sha256"])
        for e in back
        if (e["direction"], e["kind"]) == ("received", "status")
    } == {("01", "node", b_node), ("03", "node", b_node)}


@pytest.mark.parametrize("signer", ["self_made", "another_agency_of_the_same_ca"])
def test_a_package_signed_with_a_certificate_pinned_for_no_one_is_refused_with_02(
    nodes: tuple[Node, Node], pki: TestPki, tmp_path: Path, signer: str
) -> None:
    a, b = nodes
    if signer == "self_made":
        key = load_identity("rogue", None, None, tmp_path / "rogue.p12").key
    else:
        key = load_pkcs12(pki.pkcs12(pki.official), PASSWORD)
    xml, document_id = _unsigned([B_COMMUNE])
    r = httpx.post(
        f"{b.url}/exchange/v1/packages",
        content=sign_package(xml, key),
        headers={"Content-Type": "application/xml"},
        timeout=30,
    )
    assert r.status_code == 200, r.text
    (receipt,) = r.json()["receipts"]
    assert (receipt["organ_id"], receipt["status_code"], receipt["status_package"]) == (
        B_COMMUNE,
        "02",
        "",
    )
    refused = _evidence(b, document_id)
    assert refused["result"] == "xmldsig_unexpected_signer"
    assert refused["signed_by"] is None and refused["signer_sha256"] is None


def test_agency_certificates_are_not_pinned_from_a_node_info_the_given_certificate_did_not_sign(
    nodes: tuple[Node, Node], tmp_path: Path
) -> None:
    a, b = nodes
    # The admin of B hands over the wrong node certificate (B's own): as if a man in the
    # middle had answered with his own key and certificates.
    wrong = tmp_path / "wrong.pem"
    wrong.write_text(httpx.get(f"{b.url}/exchange/v1/node").json()["certificate_pem"])
    r = subprocess.run(
        [LIENTHONG, "exchange", "peer", "add", a.name, a.url, "--cert", str(wrong),
         "--agency", SENDER, "--fetch-agency-certs"],
        env=b.env(), capture_output=True, text=True, timeout=120,
    )  # fmt: skip
    assert r.returncode == 1
    assert "signature over them does not hold" in r.stderr
    (peer,) = json.loads(b.cli("exchange", "peer", "list", "--json"))
    assert peer["certificate_subject"] == _node_certificate(a).subject.rfc4514_string()
