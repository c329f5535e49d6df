"""A throw-away PKI for the signing tests, generated with `cryptography`.

    root CA ── intermediate CA ─┬─ official (signer's personal certificate)
                                ├─ agency seal (the agency's certificate)
                                ├─ revoked official (listed on the CRL and by OCSP)
                                ├─ OCSP responder (id-kp-OCSPSigning)
                                └─ TSA (id-kp-timeStamping, critical; always RSA)

`TestPki.generate("rsa" | "ecdsa", base_url=...)` builds it; with a `base_url` the
certificates carry CRL distribution points and an OCSP URL under it, and `PkiServer`
answers there over real HTTP on 127.0.0.1: RFC 3161 timestamps at `/tsa`, CRLs at
`/crl/<issuer>.crl`, OCSP at `/ocsp` (RFC 6960, POST).
"""

from __future__ import annotations

import datetime as dt
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

from asn1crypto import keys as asn1_keys
from asn1crypto import tsp
from asn1crypto import x509 as asn1_x509
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from cryptography.hazmat.primitives.serialization import pkcs12
from cryptography.x509 import ocsp
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

__all__ = ["Issued", "PkiServer", "TestPki", "asn1_cert"]

PrivateKey = rsa.RSAPrivateKey | ec.EllipticCurvePrivateKey
PASSWORD = "mật-khẩu-thử"
UTC = dt.UTC


def _key(kind: str) -> PrivateKey:
    if kind == "rsa":
        return rsa.generate_private_key(public_exponent=65537, key_size=2048)
    if kind == "ecdsa":
        return ec.generate_private_key(ec.SECP256R1())
    raise ValueError(f"unknown key kind {kind!r}")


def _name(common_name: str, org: str = "Bộ Thử nghiệm") -> x509.Name:
    return x509.Name(
        [
            x509.NameAttribute(NameOID.COUNTRY_NAME, "VN"),
            x509.NameAttribute(NameOID.ORGANIZATION_NAME, org),
            x509.NameAttribute(NameOID.COMMON_NAME, common_name),
        ]
    )


def asn1_cert(cert: x509.Certificate) -> asn1_x509.Certificate:
    """The asn1crypto form of a certificate (what pyHanko's own APIs take)."""
    return asn1_x509.Certificate.load(cert.public_bytes(serialization.Encoding.DER))


@dataclass(frozen=True)
class Issued:
    """A key and its certificate."""

    key: PrivateKey
    cert: x509.Certificate

    @property
    def der(self) -> bytes:
        return self.cert.public_bytes(serialization.Encoding.DER)

    @property
    def pem(self) -> bytes:
        return self.cert.public_bytes(serialization.Encoding.PEM)


@dataclass
class TestPki:
    """Root, intermediate and end-entity certificates of one key kind."""

    kind: str
    root: Issued
    intermediate: Issued
    official: Issued
    seal: Issued
    revoked: Issued
    ocsp_responder: Issued
    tsa: Issued
    base_url: str | None = None
    revoked_serials: set[int] = field(default_factory=set)
    # Added to the wall clock when CRLs and OCSP responses are made, so a test can ask
    # the CAs for revocation data "in the future" (e.g. after a certificate expired).
    clock_offset: dt.timedelta = dt.timedelta(0)

    __test__ = False  # not a pytest class

    @classmethod
    def generate(
        cls,
        kind: str = "rsa",
        *,
        base_url: str | None = None,
        now: dt.datetime | None = None,
        official_days: int = 365,
        ocsp_nocheck: bool = False,
    ) -> TestPki:
        """A fresh PKI whose end-entity certificates are valid from yesterday for a year.

        `official_days` shortens (or lengthens) the official's certificate alone, e.g. to
        have it expire long before the TSA's. `ocsp_nocheck` gives the OCSP responder's
        certificate id-pkix-ocsp-nocheck (RFC 6960 § 4.2.2.2.1), as real responders have:
        past-time validation (ETSI EN 319 102-1 § 5.6.2.1) asks for revocation data of
        every certificate it meets otherwise.
        """
        now = now or dt.datetime.now(UTC)
        start = now - dt.timedelta(days=1)
        root_key = _key(kind)
        root = _issue(
            _name(f"Lienthong Test Root CA ({kind})"), root_key, None, start, 3650, ca=True
        )
        inter_key = _key(kind)
        intermediate = _issue(
            _name(f"Lienthong Test Issuing CA ({kind})"),
            inter_key,
            root,
            start,
            3000,
            ca=True,
            path_length=0,
            base_url=base_url,
            crl_name="root",
        )
        kw = {"base_url": base_url, "crl_name": "intermediate"}
        official = _issue(
            _name("Nguyễn Văn Ánh", "Ủy ban nhân dân tỉnh Hà Nam"),
            _key(kind),
            intermediate,
            start,
            official_days,
            **kw,
        )
        seal = _issue(
            _name("Ủy ban nhân dân tỉnh Hà Nam", "Ủy ban nhân dân tỉnh Hà Nam"),
            _key(kind),
            intermediate,
            start,
            365,
            **kw,
        )
        revoked = _issue(
            _name("Trần Thị Bích (revoked)"), _key(kind), intermediate, start, 365, **kw
        )
        responder = _issue(
            _name("Lienthong Test OCSP"),
            _key(kind),
            intermediate,
            start,
            365,
            eku=[ExtendedKeyUsageOID.OCSP_SIGNING],
            key_usage="digital_signature",
            ocsp_nocheck=ocsp_nocheck,
        )
        tsa = _issue(
            _name("Lienthong Test TSA"),
            _key("rsa"),  # pyHanko's DummyTimeStamper signs with RSA only
            intermediate,
            start,
            365,
            eku=[ExtendedKeyUsageOID.TIME_STAMPING],
            key_usage="digital_signature",
            **kw,
        )
        return cls(
            kind,
            root,
            intermediate,
            official,
            seal,
            revoked,
            responder,
            tsa,
            base_url,
            {revoked.cert.serial_number},
        )

    def now(self) -> dt.datetime:
        """The CAs' clock: the wall clock plus `clock_offset`."""
        return dt.datetime.now(UTC) + self.clock_offset

    def issue(self, common_name: str, *, start: dt.datetime, days: int) -> Issued:
        """Another end-entity certificate from the intermediate (e.g. an expired one)."""
        return _issue(
            _name(common_name),
            _key(self.kind),
            self.intermediate,
            start,
            days,
            base_url=self.base_url,
            crl_name="intermediate",
        )

    def certify_key(self, public_key: object, common_name: str) -> x509.Certificate:
        """A signing certificate for a key made elsewhere (e.g. on a PKCS#11 token)."""
        now = dt.datetime.now(UTC) - dt.timedelta(days=1)
        builder = (
            x509.CertificateBuilder()
            .subject_name(_name(common_name, "Ủy ban nhân dân tỉnh Hà Nam"))
            .issuer_name(self.intermediate.cert.subject)
            .public_key(public_key)  # type: ignore[arg-type]
            .serial_number(x509.random_serial_number())
            .not_valid_before(now)
            .not_valid_after(now + dt.timedelta(days=365))
            .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
            .add_extension(_key_usage(False, "signing"), critical=True)
            .add_extension(
                x509.AuthorityKeyIdentifier.from_issuer_public_key(
                    self.intermediate.key.public_key()
                ),
                critical=False,
            )
        )
        return builder.sign(self.intermediate.key, hashes.SHA256())

    def chain(self) -> list[x509.Certificate]:
        """The CA certificates an end entity's PKCS#12 file carries."""
        return [self.intermediate.cert, self.root.cert]

    def pkcs12(self, who: Issued, password: str = PASSWORD) -> bytes:
        """A PKCS#12 file with `who`'s key, certificate and the CA chain."""
        return pkcs12.serialize_key_and_certificates(
            b"key",
            who.key,
            who.cert,
            self.chain(),
            serialization.BestAvailableEncryption(password.encode()),
        )

    def write_pkcs12(self, path: Path, who: Issued, password: str = PASSWORD) -> Path:
        path.write_bytes(self.pkcs12(who, password))
        return path

    def crl(self, issuer: Issued | None = None) -> x509.CertificateRevocationList:
        """A fresh CRL of `issuer` (the intermediate by default)."""
        issuer = issuer or self.intermediate
        now = self.now()
        builder = (
            x509.CertificateRevocationListBuilder()
            .issuer_name(issuer.cert.subject)
            .last_update(now - dt.timedelta(minutes=5))
            .next_update(now + dt.timedelta(days=7))
            .add_extension(x509.CRLNumber(int(now.timestamp())), critical=False)
        )
        if issuer is self.intermediate:
            for serial in sorted(self.revoked_serials):
                builder = builder.add_revoked_certificate(
                    x509.RevokedCertificateBuilder()
                    .serial_number(serial)
                    .revocation_date(now - dt.timedelta(hours=1))
                    .build()
                )
        return builder.sign(issuer.key, hashes.SHA256())

    def ocsp_response(self, request_der: bytes) -> bytes:
        """An OCSP response signed by the delegated responder."""
        req = ocsp.load_der_ocsp_request(request_der)
        by_serial = {
            i.cert.serial_number: i for i in (self.official, self.seal, self.revoked, self.tsa)
        }
        subject = by_serial.get(req.serial_number)
        if subject is None:
            return ocsp.OCSPResponseBuilder.build_unsuccessful(
                ocsp.OCSPResponseStatus.UNAUTHORIZED
            ).public_bytes(serialization.Encoding.DER)
        now = self.now()
        revoked = req.serial_number in self.revoked_serials
        builder = ocsp.OCSPResponseBuilder().add_response(
            cert=subject.cert,
            issuer=self.intermediate.cert,
            algorithm=hashes.SHA1()
            if isinstance(req.hash_algorithm, hashes.SHA1)
            else hashes.SHA256(),
            cert_status=ocsp.OCSPCertStatus.REVOKED if revoked else ocsp.OCSPCertStatus.GOOD,
            this_update=now - dt.timedelta(minutes=1),
            next_update=now + dt.timedelta(days=1),
            revocation_time=now - dt.timedelta(hours=1) if revoked else None,
            revocation_reason=x509.ReasonFlags.key_compromise if revoked else None,
        )
        builder = builder.responder_id(ocsp.OCSPResponderEncoding.HASH, self.ocsp_responder.cert)
        builder = builder.certificates([self.ocsp_responder.cert])
        for ext in req.extensions:
            if isinstance(ext.value, x509.OCSPNonce):
                builder = builder.add_extension(ext.value, critical=False)
        resp = builder.sign(self.ocsp_responder.key, hashes.SHA256())
        return resp.public_bytes(serialization.Encoding.DER)

    def timestamper(self):  # -> pyhanko DummyTimeStamper
        """An in-process RFC 3161 TSA signing with the test TSA key."""
        from pyhanko.sign.timestamps import DummyTimeStamper
        from pyhanko_certvalidator.registry import SimpleCertificateStore

        key_der = self.tsa.key.private_bytes(
            serialization.Encoding.DER,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
        return DummyTimeStamper(
            tsa_cert=asn1_cert(self.tsa.cert),
            tsa_key=asn1_keys.PrivateKeyInfo.load(key_der),
            certs_to_embed=SimpleCertificateStore.from_certs([asn1_cert(self.intermediate.cert)]),
        )


def _issue(
    subject: x509.Name,
    key: PrivateKey,
    issuer: Issued | None,
    start: dt.datetime,
    days: int,
    *,
    ca: bool = False,
    path_length: int | None = None,
    eku: list[x509.ObjectIdentifier] | None = None,
    key_usage: str = "signing",
    base_url: str | None = None,
    crl_name: str | None = None,
    ocsp_nocheck: bool = False,
) -> Issued:
    issuer_name = issuer.cert.subject if issuer else subject
    issuer_key = issuer.key if issuer else key
    builder = (
        x509.CertificateBuilder()
        .subject_name(subject)
        .issuer_name(issuer_name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(start)
        .not_valid_after(start + dt.timedelta(days=days))
        .add_extension(x509.BasicConstraints(ca=ca, path_length=path_length), critical=True)
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(key.public_key()), critical=False)
        .add_extension(_key_usage(ca, key_usage), critical=True)
    )
    if issuer is not None:
        builder = builder.add_extension(
            x509.AuthorityKeyIdentifier.from_issuer_public_key(issuer.key.public_key()),
            critical=False,
        )
    if eku:
        builder = builder.add_extension(x509.ExtendedKeyUsage(eku), critical=True)
    if ocsp_nocheck:
        builder = builder.add_extension(x509.OCSPNoCheck(), critical=False)
    if base_url and crl_name:
        builder = builder.add_extension(
            x509.CRLDistributionPoints(
                [
                    x509.DistributionPoint(
                        [x509.UniformResourceIdentifier(f"{base_url}/crl/{crl_name}.crl")],
                        None,
                        None,
                        None,
                    )
                ]
            ),
            critical=False,
        )
        if crl_name == "intermediate":
            builder = builder.add_extension(
                x509.AuthorityInformationAccess(
                    [
                        x509.AccessDescription(
                            x509.AuthorityInformationAccessOID.OCSP,
                            x509.UniformResourceIdentifier(f"{base_url}/ocsp"),
                        )
                    ]
                ),
                critical=False,
            )
    return Issued(key, builder.sign(issuer_key, hashes.SHA256()))


def _key_usage(ca: bool, kind: str) -> x509.KeyUsage:
    flags = dict.fromkeys(
        (
            "digital_signature",
            "content_commitment",
            "key_encipherment",
            "data_encipherment",
            "key_agreement",
            "key_cert_sign",
            "crl_sign",
            "encipher_only",
            "decipher_only",
        ),
        False,
    )
    if ca:
        flags.update(key_cert_sign=True, crl_sign=True, digital_signature=True)
    elif kind == "signing":
        flags.update(digital_signature=True, content_commitment=True)
    else:
        flags[kind] = True
    return x509.KeyUsage(**flags)


class PkiServer:
    """TSA, CRLs and OCSP of several `TestPki`s over HTTP on 127.0.0.1, in a thread.

    PKI `name` answers under `/<name>/`: `/tsa`, `/crl/<issuer>.crl`, `/ocsp`.
    """

    def __init__(self) -> None:
        self.pkis: dict[str, TestPki] = {}
        self.requests: list[str] = []
        self.tsa_down = False
        server = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args: object) -> None:  # quiet
                pass

            def _reply(self, status: int, ctype: str, body: bytes) -> None:
                self.send_response(status)
                self.send_header("Content-Type", ctype)
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def _route(self) -> tuple[TestPki | None, str]:
                server.requests.append(f"{self.command} {self.path}")
                _, name, *rest = self.path.split("/", 2) + [""]
                return server.pkis.get(name), "/" + (rest[0] if rest else "")

            def do_GET(self) -> None:
                pki, path = self._route()
                if pki and path.startswith("/crl/"):
                    issuer = pki.root if path == "/crl/root.crl" else pki.intermediate
                    der = pki.crl(issuer).public_bytes(serialization.Encoding.DER)
                    return self._reply(200, "application/pkix-crl", der)
                self._reply(404, "text/plain", b"not found")

            def do_POST(self) -> None:
                pki, path = self._route()
                body = self.rfile.read(int(self.headers.get("Content-Length", "0")))
                if pki and path == "/tsa" and not server.tsa_down:
                    req = tsp.TimeStampReq.load(body)
                    resp = pki.timestamper().request_tsa_response(req)
                    return self._reply(200, "application/timestamp-reply", resp.dump())
                if pki and path == "/ocsp":
                    return self._reply(200, "application/ocsp-response", pki.ocsp_response(body))
                self._reply(503 if server.tsa_down else 404, "text/plain", b"unavailable")

        self._httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self._httpd.daemon_threads = True
        self.base_url = f"http://127.0.0.1:{self._httpd.server_address[1]}"
        self._thread = threading.Thread(target=self._httpd.serve_forever, daemon=True)

    def add(
        self,
        name: str,
        kind: str = "rsa",
        *,
        official_days: int = 365,
        ocsp_nocheck: bool = False,
    ) -> TestPki:
        """Generate a PKI whose certificates point at this server under `/<name>/`
        (the keywords as in `TestPki.generate`)."""
        pki = TestPki.generate(
            kind,
            base_url=f"{self.base_url}/{name}",
            official_days=official_days,
            ocsp_nocheck=ocsp_nocheck,
        )
        self.pkis[name] = pki
        return pki

    def tsa_url(self, name: str) -> str:
        return f"{self.base_url}/{name}/tsa"

    @classmethod
    @contextmanager
    def running(cls) -> Iterator[PkiServer]:
        """Start the server; stop it on exit."""
        server = cls()
        server._thread.start()
        try:
            yield server
        finally:
            server._httpd.shutdown()
            server._httpd.server_close()
