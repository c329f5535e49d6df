"""Measure signing and validation speed (a first look; the full bench/signing.py of the issue
— raw pyHanko vs ours vs REST, RSA and ECDSA, 1 and 50 pages — is still to write).

    .venv/bin/python -m bench.signing_quick [N]

Prints ms per B-B signature of a 1-page PDF with a loaded RSA-2048 / ECDSA P-256 key
(wall and CPU time, median and best), and ms per validation (in-process and in the
sandbox), B-B and B-LTA (the latter offline, from the material in the file).
"""

from __future__ import annotations

import statistics
import sys
import time
from collections.abc import Callable

from signing.keys import load_pkcs12
from signing.pades import PadesLevel, PadesSigner
from signing.sandbox import ValidationSandbox
from signing.trust import TrustSettings
from signing.validate import validate_pdf
from tests.pki import PASSWORD, PkiServer
from tests.signing.pdfs import make_pdf


def _measure(fn: Callable[[], object], n: int) -> str:
    walls, cpu0 = [], time.process_time()
    for _ in range(n):
        t = time.perf_counter()
        fn()
        walls.append((time.perf_counter() - t) * 1000)
    cpu = (time.process_time() - cpu0) * 1000 / n
    median = statistics.median(walls)
    return f"median {median:.1f} ms, best {min(walls):.1f} ms, cpu {cpu:.1f} ms ({1000 / median:.0f}/s)"


def _bench(server: PkiServer, box: ValidationSandbox, kind: str, n: int) -> None:
    pdf = make_pdf()
    pki = server.add(kind, kind)
    key = load_pkcs12(pki.pkcs12(pki.official), PASSWORD)
    signer = PadesSigner(key, PadesLevel.B_B)
    for _ in range(10):
        signed = signer.sign(pdf)
    print(f"sign B-B {kind:5}                  {_measure(lambda: signer.sign(pdf), n)}")
    trust = TrustSettings.of([pki.root.cert], revocation="none")
    m = max(n // 10, 10)
    print(f"validate B-B {kind:5}              {_measure(lambda: validate_pdf(signed, trust), m)}")
    print(f"validate B-B {kind:5} in sandbox   {_measure(lambda: box.validate(signed, trust), m)}")
    online = TrustSettings.of([pki.root.cert], fetch=True)
    lta = PadesSigner(key, PadesLevel.B_LTA, tsa_url=server.tsa_url(kind), trust=online)
    print(f"sign B-LTA {kind:5} (local TSA)    {_measure(lambda: lta.sign(pdf), 5)}")
    signed_lta = lta.sign(pdf)
    offline = TrustSettings.of([pki.root.cert])
    print(
        f"validate B-LTA {kind:5} offline    {_measure(lambda: validate_pdf(signed_lta, offline), m)}"
    )


def main(n: int = 300) -> None:
    with PkiServer.running() as server, ValidationSandbox() as box:
        for kind in ("rsa", "ecdsa"):
            _bench(server, box, kind, n)


if __name__ == "__main__":
    main(int(sys.argv[1]) if len(sys.argv) > 1 else 300)
