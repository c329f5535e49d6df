"""Fixtures of the signing tests: a test PKI served over HTTP, keys, external tools.

Tools (pdfsig, qpdf, certutil, softhsm2-util, pdftoppm) are skipped locally when
missing; under CI (`CI` set) their absence is a failure, never a skip.
"""

from __future__ import annotations

import os
import shutil
import subprocess
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import serialization

from signing.keys import SigningKey, load_pkcs12
from signing.trust import TrustSettings
from tests.pki import PASSWORD, Issued, PkiServer, TestPki


def require_tool(*names: str) -> None:
    """Skip locally without the tools; under CI their absence fails the test."""
    missing = [n for n in names if shutil.which(n) is None]
    if missing:
        msg = f"missing {', '.join(missing)} (Debian: poppler-utils qpdf libnss3-tools softhsm2 opensc)"
        if os.environ.get("CI"):
            pytest.fail(f"{msg}; under CI these tests may not skip", pytrace=False)
        pytest.skip(msg)


@pytest.fixture(scope="session")
def pki_server() -> Iterator[PkiServer]:
    with PkiServer.running() as server:
        server.add("rsa", "rsa")
        server.add("ecdsa", "ecdsa")
        yield server


@pytest.fixture(scope="session")
def pki_rsa(pki_server: PkiServer) -> TestPki:
    return pki_server.pkis["rsa"]


@pytest.fixture(scope="session")
def pki_ec(pki_server: PkiServer) -> TestPki:
    return pki_server.pkis["ecdsa"]


@pytest.fixture(params=["rsa", "ecdsa"])
def pki(request: pytest.FixtureRequest, pki_server: PkiServer) -> TestPki:
    """Each key kind in turn."""
    return pki_server.pkis[request.param]


def key_of(pki: TestPki, who: Issued) -> SigningKey:
    return load_pkcs12(pki.pkcs12(who), PASSWORD)


def trust_of(pki: TestPki, **kwargs: object) -> TrustSettings:
    """Trust the PKI's root; revocation data fetched from the test server."""
    return TrustSettings.of([pki.root.cert], fetch=True, **kwargs)


@pytest.fixture(scope="session")
def nss_db(tmp_path_factory: pytest.TempPathFactory, pki_server: PkiServer) -> Path:
    """An NSS database trusting both test roots, for pdfsig."""
    require_tool("certutil")
    db = tmp_path_factory.mktemp("nss")
    subprocess.run(["certutil", "-N", "-d", f"sql:{db}", "--empty-password"], check=True)
    for name, pki in pki_server.pkis.items():
        pem = db / f"{name}.pem"
        pem.write_bytes(pki.root.pem)
        subprocess.run(
            [
                "certutil",
                "-A",
                "-d",
                f"sql:{db}",
                "-n",
                f"root-{name}",
                "-t",
                "CT,C,C",
                "-i",
                str(pem),
            ],
            check=True,
        )
    return db


SOFTHSM_MODULES = (
    "/usr/lib/softhsm/libsofthsm2.so",
    "/usr/lib/x86_64-linux-gnu/softhsm/libsofthsm2.so",
)


def softhsm_module() -> str:
    """SoftHSM2's PKCS#11 module; fails under CI, skips elsewhere, when it is missing."""
    for path in SOFTHSM_MODULES:
        if Path(path).is_file():
            # Resolved, as `signing.keys.open_pkcs11` loads it: python-pkcs11 keeps one library
            # per path string, and tests unload it by that string between their tokens.
            return os.path.realpath(path)
    if os.environ.get("CI"):
        pytest.fail("libsofthsm2.so not found (Debian: softhsm2); under CI it may not skip")
    pytest.skip("libsofthsm2.so not found (Debian: softhsm2)")


def run_tool(*args: str) -> bytes:
    """A token tool's standard output (softhsm2-util, pkcs11-tool); raises if it fails."""
    return subprocess.run(args, check=True, capture_output=True, timeout=60).stdout


@dataclass(frozen=True)
class TokenKey:
    """A key pair to generate on a token, with the certificate `pki` issues for it."""

    key_id: str
    label: str
    pki: TestPki
    subject: str
    key_type: str = "rsa:2048"


@dataclass(frozen=True)
class SoftHsmToken:
    module: str
    label: str
    pin: str
    certificates: dict[str, x509.Certificate]  # by key label


def softhsm_token(
    mp: pytest.MonkeyPatch,
    home: Path,
    *keys: TokenKey,
    label: str,
    pin: str,
    so_pin: str,
    module: str | Path | None = None,
) -> SoftHsmToken:
    """Initialise a SoftHSM2 token kept in `home`; generate `keys` on it, each with a certificate.

    `module` defaults to `softhsm_module()`. SOFTHSM2_CONF is set through `mp` and must stay
    set while the token is used: SoftHSM reads it once, when a process initialises the module.
    Skips locally (fails under CI) without softhsm2-util, pkcs11-tool or the module.
    """
    require_tool("softhsm2-util", "pkcs11-tool")
    module = softhsm_module() if module is None else str(module)
    (home / "tokens").mkdir()
    conf = home / "softhsm2.conf"
    conf.write_text(
        f"directories.tokendir = {home / 'tokens'}\nobjectstore.backend = file\nlog.level = ERROR\n"
    )
    mp.setenv("SOFTHSM2_CONF", str(conf))
    run_tool(
        "softhsm2-util", "--init-token", "--free", "--label", label,
        "--pin", pin, "--so-pin", so_pin,
    )  # fmt: skip
    p11 = ["pkcs11-tool", "--module", module, "--token-label", label, "--login", "--pin", pin]
    certificates: dict[str, x509.Certificate] = {}
    for key in keys:
        names = ("--id", key.key_id, "--label", key.label)
        run_tool(*p11, "--keypairgen", "--key-type", key.key_type, *names)
        pub = serialization.load_der_public_key(
            run_tool(*p11, "--read-object", "--type", "pubkey", "--id", key.key_id)
        )
        cert = key.pki.certify_key(pub, key.subject)
        der = home / f"{key.label}.der"
        der.write_bytes(cert.public_bytes(serialization.Encoding.DER))
        run_tool(*p11, "--write-object", str(der), "--type", "cert", *names)
        certificates[key.label] = cert
    return SoftHsmToken(module, label, pin, certificates)
