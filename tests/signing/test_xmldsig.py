"""XML-DSig of edXML packages: sign, verify, tampering, legacy forms, and the JDK's view."""

from __future__ import annotations

import datetime as dt
import shutil
import subprocess
from pathlib import Path

import pytest
from lxml import etree
from signxml import XMLSigner
from signxml.algorithms import CanonicalizationMethod, DigestAlgorithm, SignatureMethod

from engine.exchange.edxml import build_document, build_status, parse_status
from signing.errors import XmlSignatureError
from signing.keys import SigningKey, load_pkcs12
from signing.trust import TrustSettings
from signing.xmldsig import DSIG, sign_package, verify_package
from tests.engine.exchange.samples import STATUS_SAMPLE, make_package
from tests.pki import PASSWORD, TestPki
from tests.signing.conftest import require_tool

EDXML = "http://www.mic.gov.vn/TBT/QCVN_102_2016"
UNPREFIXED = b'<Signature xmlns="http://www.w3.org/2000/09/xmldsig#">'


@pytest.fixture(scope="module")
def pki() -> TestPki:
    return TestPki.generate("rsa")


@pytest.fixture(scope="module")
def seal(pki: TestPki) -> SigningKey:
    return load_pkcs12(pki.pkcs12(pki.seal), PASSWORD)


@pytest.fixture(scope="module")
def package() -> bytes:
    return build_document(make_package())


@pytest.fixture(scope="module")
def signed(package: bytes, seal: SigningKey) -> bytes:
    return sign_package(package, seal)


def _refused(xml: bytes, **kwargs: object) -> XmlSignatureError:
    with pytest.raises(XmlSignatureError) as e:
        verify_package(xml, **kwargs)  # type: ignore[arg-type]
    assert " / " in e.value.message
    return e.value


# --- signing ------------------------------------------------------------------------------


def test_signature_goes_last_in_the_header_unprefixed(signed: bytes) -> None:
    root = etree.fromstring(signed)
    header = root.find(f".//{{{EDXML}}}edXMLHeader")
    assert header is not None
    assert [etree.QName(c).localname for c in header] == [
        "MessageHeader",
        "TraceHeaderList",
        "Signature",
    ]
    sig = header[-1]
    assert sig.tag == f"{{{DSIG}}}Signature" and sig.prefix is None
    assert UNPREFIXED in signed
    ns = {"ds": DSIG}
    assert sig.xpath("ds:SignedInfo/ds:Reference/@URI", namespaces=ns) == [""]
    assert sig.xpath("ds:SignedInfo/ds:SignatureMethod/@Algorithm", namespaces=ns) == [
        "http://www.w3.org/2001/04/xmldsig-more#rsa-sha256"
    ]
    assert sig.xpath("ds:SignedInfo/ds:CanonicalizationMethod/@Algorithm", namespaces=ns) == [
        "http://www.w3.org/TR/2001/REC-xml-c14n-20010315"
    ]


def test_signed_package_verifies_against_the_senders_certificate(
    signed: bytes, pki: TestPki
) -> None:
    result = verify_package(signed, expected=pki.seal.cert)
    assert result.certificate == pki.seal.cert
    assert result.signer_name == "Ủy ban nhân dân tỉnh Hà Nam"
    assert result.chain == (pki.intermediate.cert,)
    assert not result.legacy_sha1 and not result.namespace_repaired


def test_signed_package_verifies_against_trusted_roots(signed: bytes, pki: TestPki) -> None:
    result = verify_package(signed, trust=TrustSettings.of([pki.root.cert]))
    assert result.certificate == pki.seal.cert
    both = verify_package(
        signed, expected=[pki.official.cert, pki.seal.cert], trust=TrustSettings.of([pki.root.cert])
    )
    assert both.certificate == pki.seal.cert


def test_status_package_is_signed_after_its_status(seal: SigningKey, pki: TestPki) -> None:
    signed = sign_package(build_status(parse_status(STATUS_SAMPLE.read_bytes())), seal)
    header = etree.fromstring(signed).find(f".//{{{EDXML}}}edXMLHeader")
    assert [etree.QName(c).localname for c in header] == ["Status", "Signature"]  # type: ignore[union-attr]
    assert verify_package(signed, expected=pki.seal.cert).certificate == pki.seal.cert


def test_ecdsa_keys_sign_with_ecdsa_sha256(package: bytes) -> None:
    ec_pki = TestPki.generate("ecdsa")
    signed = sign_package(package, load_pkcs12(ec_pki.pkcs12(ec_pki.official), PASSWORD))
    result = verify_package(signed, trust=TrustSettings.of([ec_pki.root.cert]))
    assert result.signature_method.endswith("ecdsa-sha256")
    assert result.signer_name == "Nguyễn Văn Ánh"


def test_a_signed_package_is_not_signed_twice_unless_replaced(
    signed: bytes, seal: SigningKey, pki: TestPki
) -> None:
    with pytest.raises(XmlSignatureError) as e:
        sign_package(signed, seal)
    assert e.value.code == "xmldsig_already_signed"
    official = load_pkcs12(pki.pkcs12(pki.official), PASSWORD)
    resigned = sign_package(signed, official, replace=True)
    assert resigned.count(UNPREFIXED) == 1
    assert verify_package(resigned, expected=pki.official.cert).signer_name == "Nguyễn Văn Ánh"


def test_signing_needs_an_edxml_header(seal: SigningKey) -> None:
    with pytest.raises(XmlSignatureError) as e:
        sign_package(b"<a/>", seal)
    assert e.value.code == "xmldsig_no_header"


# --- refusals -----------------------------------------------------------------------------


@pytest.mark.parametrize(
    "change",
    [
        ("Mẫu".encode(), b"Mau"),  # the sender's name in MessageHeader
        (b"<edXML:Priority>1<", b"<edXML:Priority>3<"),  # urgency raised
        (b"cid:0002</ContentId>", b"cid:0003</ContentId>"),  # attachment outside the envelope
    ],
    ids=["header-text", "priority", "attachment"],
)
def test_any_change_after_signing_is_detected(
    signed: bytes, pki: TestPki, change: tuple[bytes, bytes]
) -> None:
    tampered = signed.replace(*change, 1)
    assert tampered != signed
    assert _refused(tampered, expected=pki.seal.cert).code == "xmldsig_digest_mismatch"


def test_a_forged_signature_value_is_detected(signed: bytes, pki: TestPki) -> None:
    root = etree.fromstring(signed)
    value = root.find(f".//{{{DSIG}}}SignatureValue")
    assert value is not None and value.text
    value.text = ("A" if value.text[0] != "A" else "B") + value.text[1:]
    assert _refused(etree.tostring(root), expected=pki.seal.cert).code == "xmldsig_bad_signature"


def test_a_signature_by_another_certificate_is_refused(signed: bytes, pki: TestPki) -> None:
    error = _refused(signed, expected=pki.official.cert)
    assert error.code == "xmldsig_unexpected_signer"
    assert "Ủy ban nhân dân tỉnh Hà Nam" in error.message


def test_a_certificate_from_an_untrusted_ca_is_refused(signed: bytes) -> None:
    stranger = TestPki.generate("ecdsa")
    error = _refused(signed, trust=TrustSettings.of([stranger.root.cert]))
    assert error.code == "xmldsig_untrusted"


def test_an_expired_certificate_is_refused_at_the_time_checked(signed: bytes, pki: TestPki) -> None:
    later = dt.datetime.now(dt.UTC) + dt.timedelta(days=800)
    assert _refused(signed, expected=pki.seal.cert, moment=later).code == (
        "xmldsig_certificate_not_valid"
    )


def test_an_unsigned_package_says_so(package: bytes, pki: TestPki) -> None:
    error = _refused(package, expected=pki.seal.cert)
    assert error.code == "xmldsig_missing"
    assert error.message.startswith("Gói tin chưa được ký số")


def test_two_signatures_are_refused(signed: bytes, pki: TestPki) -> None:
    root = etree.fromstring(signed)
    sig = root.find(f".//{{{DSIG}}}Signature")
    sig.getparent().append(etree.fromstring(etree.tostring(sig)))  # type: ignore[union-attr]
    assert _refused(etree.tostring(root), expected=pki.seal.cert).code == "xmldsig_multiple"


def test_a_signature_over_part_of_the_package_is_refused(signed: bytes, pki: TestPki) -> None:
    partial = signed.replace(b'<Reference URI="">', b'<Reference URI="#MessageHeader">')
    assert _refused(partial, expected=pki.seal.cert).code == "xmldsig_partial"


def test_verification_needs_a_certificate_or_roots(signed: bytes) -> None:
    assert _refused(signed).code == "xmldsig_no_trust_anchor"


def test_hostile_xml_is_refused_before_any_crypto(pki: TestPki, seal: SigningKey) -> None:
    hostile = b'<!DOCTYPE x [<!ENTITY e SYSTEM "file:///etc/passwd">]><x>&e;</x>'
    assert _refused(hostile, expected=pki.seal.cert).code == "xml_forbidden_dtd"
    with pytest.raises(XmlSignatureError) as e:
        sign_package(hostile, seal)
    assert e.value.code == "xml_forbidden_dtd"
    assert _refused(b"not xml", expected=pki.seal.cert).code == "xml_malformed"


# --- legacy forms -------------------------------------------------------------------------


def test_sha1_signature_from_a_legacy_sender_is_accepted(
    package: bytes, seal: SigningKey, pki: TestPki
) -> None:
    legacy = sign_package(package, seal, digest="sha1")
    result = verify_package(legacy, expected=pki.seal.cert)
    assert result.legacy_sha1
    assert result.signature_method == "http://www.w3.org/2000/09/xmldsig#rsa-sha1"
    assert _refused(legacy, expected=pki.seal.cert, allow_sha1=False).code == (
        "xmldsig_algorithm_refused"
    )


class _LegacySigner(XMLSigner):
    def check_deprecated_methods(self) -> None:  # the old axes signed with SHA-1
        pass


def test_sha1_signature_made_by_another_library_is_accepted(package: bytes, pki: TestPki) -> None:
    # signxml's own form: `ds:` prefix, no c14n transform in the Reference (as old samples).
    root = etree.fromstring(package)
    header = root.find(f".//{{{EDXML}}}edXMLHeader")
    etree.SubElement(header, f"{{{DSIG}}}Signature", Id="placeholder")  # type: ignore[arg-type]
    signer = _LegacySigner(
        signature_algorithm=SignatureMethod.RSA_SHA1,
        digest_algorithm=DigestAlgorithm.SHA1,
        c14n_algorithm=CanonicalizationMethod.CANONICAL_XML_1_0,
    )
    signed = etree.tostring(
        signer.sign(
            root, key=pki.seal.key, cert=[pki.seal.cert], exclude_c14n_transform_element=True
        )
    )
    assert b"<ds:Signature" in signed
    assert verify_package(signed, expected=pki.seal.cert).legacy_sha1


def test_signature_that_lost_its_namespace_is_accepted(signed: bytes, pki: TestPki) -> None:
    # Real packages carry <Signature> with no xmlns: it inherits the edXML namespace.
    stripped = signed.replace(UNPREFIXED, b"<Signature>")
    assert b"xmldsig#" in stripped and UNPREFIXED not in stripped
    result = verify_package(stripped, expected=pki.seal.cert)
    assert result.namespace_repaired and result.certificate == pki.seal.cert
    tampered = stripped.replace("Mẫu".encode(), b"Mau", 1)
    assert _refused(tampered, expected=pki.seal.cert).code == "xmldsig_digest_mismatch"


# --- the JDK's XML-DSig (what the national axis' Java SDK uses) ---------------------------

JAVA_SOURCE = """
import java.io.*;
import java.security.*;
import java.security.cert.*;
import java.util.*;
import javax.xml.crypto.dsig.*;
import javax.xml.crypto.dsig.dom.*;
import javax.xml.crypto.dsig.keyinfo.*;
import javax.xml.crypto.dsig.spec.*;
import javax.xml.parsers.*;
import javax.xml.transform.*;
import javax.xml.transform.dom.*;
import javax.xml.transform.stream.*;
import org.w3c.dom.*;

public class EdxmlDsig {
    static Document load(String path) throws Exception {
        DocumentBuilderFactory f = DocumentBuilderFactory.newInstance();
        f.setNamespaceAware(true);
        f.setFeature("http://apache.org/xml/features/disallow-doctype-decl", true);
        return f.newDocumentBuilder().parse(new File(path));
    }

    public static void main(String[] a) throws Exception {
        Document doc = load(a[1]);
        if (a[0].equals("verify")) {
            X509Certificate cert = (X509Certificate) CertificateFactory.getInstance("X.509")
                .generateCertificate(new FileInputStream(a[2]));
            Node sig = doc.getElementsByTagNameNS(XMLSignature.XMLNS, "Signature").item(0);
            DOMValidateContext ctx = new DOMValidateContext(cert.getPublicKey(), sig);
            ctx.setProperty("org.jcp.xml.dsig.secureValidation", Boolean.FALSE);
            XMLSignature s = XMLSignatureFactory.getInstance("DOM").unmarshalXMLSignature(ctx);
            System.out.println(s.validate(ctx) ? "VALID" : "INVALID");
            return;
        }
        KeyStore ks = KeyStore.getInstance("PKCS12");
        ks.load(new FileInputStream(a[2]), a[3].toCharArray());
        String alias = ks.aliases().nextElement();
        X509Certificate cert = (X509Certificate) ks.getCertificate(alias);
        XMLSignatureFactory fac = XMLSignatureFactory.getInstance("DOM");
        Reference ref = fac.newReference("", fac.newDigestMethod(DigestMethod.SHA256, null),
            List.of(fac.newTransform(Transform.ENVELOPED, (TransformParameterSpec) null)), null, null);
        SignedInfo si = fac.newSignedInfo(
            fac.newCanonicalizationMethod(CanonicalizationMethod.INCLUSIVE, (C14NMethodParameterSpec) null),
            fac.newSignatureMethod("http://www.w3.org/2001/04/xmldsig-more#rsa-sha256", null), List.of(ref));
        KeyInfoFactory kif = fac.getKeyInfoFactory();
        KeyInfo ki = kif.newKeyInfo(List.of(kif.newX509Data(List.of(cert))));
        Node header = doc.getElementsByTagNameNS(
            "http://www.mic.gov.vn/TBT/QCVN_102_2016", "edXMLHeader").item(0);
        fac.newXMLSignature(si, ki).sign(
            new DOMSignContext((PrivateKey) ks.getKey(alias, a[3].toCharArray()), header));
        TransformerFactory.newInstance().newTransformer()
            .transform(new DOMSource(doc), new StreamResult(new File(a[4])));
    }
}
"""


@pytest.fixture(scope="module")
def jdk(tmp_path_factory: pytest.TempPathFactory) -> Path:
    require_tool("java", "javac")
    where = tmp_path_factory.mktemp("jdk")
    (where / "EdxmlDsig.java").write_text(JAVA_SOURCE)
    subprocess.run(
        ["javac", "-d", str(where), str(where / "EdxmlDsig.java")], check=True, timeout=120
    )
    return where


def _java(jdk: Path, *args: str | Path) -> str:
    java = shutil.which("java") or "java"
    done = subprocess.run(
        [java, "-cp", str(jdk), "EdxmlDsig", *map(str, args)],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 0, done.stderr
    return done.stdout.strip()


@pytest.mark.parametrize("digest", ["sha256", "sha1"])
def test_the_jdk_verifies_our_signatures(
    jdk: Path, tmp_path: Path, package: bytes, seal: SigningKey, pki: TestPki, digest: str
) -> None:
    (tmp_path / "signed.edxml").write_bytes(sign_package(package, seal, digest=digest))
    (tmp_path / "seal.pem").write_bytes(pki.seal.pem)
    assert _java(jdk, "verify", tmp_path / "signed.edxml", tmp_path / "seal.pem") == "VALID"


def test_we_verify_what_the_jdk_signs(
    jdk: Path, tmp_path: Path, package: bytes, pki: TestPki
) -> None:
    (tmp_path / "in.edxml").write_bytes(package)
    (tmp_path / "seal.p12").write_bytes(pki.pkcs12(pki.seal, "java-pass"))  # JDK: ASCII only
    _java(
        jdk,
        "sign",
        tmp_path / "in.edxml",
        tmp_path / "seal.p12",
        "java-pass",
        tmp_path / "out.edxml",
    )
    signed = (tmp_path / "out.edxml").read_bytes()
    assert UNPREFIXED in signed
    assert verify_package(signed, expected=pki.seal.cert).certificate == pki.seal.cert
    stripped = signed.replace(UNPREFIXED, b"<Signature>")
    assert verify_package(stripped, expected=pki.seal.cert).namespace_repaired


def test_a_forged_status_hidden_in_the_signature_is_refused(seal: SigningKey, pki: TestPki) -> None:
    """Signature wrapping: the signed status stays valid, a forged one rides in ds:Object."""
    status = sign_package(build_status(parse_status(STATUS_SAMPLE.read_bytes())), seal)
    root = etree.fromstring(status)
    sig = next(root.iter(f"{{{DSIG}}}Signature"))
    header = sig.getparent()
    assert header is not None
    header.remove(sig)
    header.insert(0, sig)
    forged = etree.SubElement(sig, f"{{{DSIG}}}Object")
    forged.append(etree.fromstring(etree.tostring(next(root.iter("{*}Status")))))
    wrapped = etree.tostring(root)
    error = _refused(wrapped, expected=pki.seal.cert)
    assert error.code == "xmldsig_misplaced"
    with pytest.raises(Exception) as e:
        parse_status(wrapped)
    assert getattr(e.value, "code", "") == "edxml_multiple_status"
