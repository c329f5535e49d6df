"""Signing benchmark: PAdES B-B signatures per second, raw pyHanko against ours, and validation.

In one run, interleaved: (a) pyHanko's default signer, (b) pyHanko with the key kept loaded
and the signature size reserved, (c) our `signing` API, (d) our REST endpoint
(`POST /api/v1/signatures/sign`) on a real `lienthong serve` — for RSA-2048 and ECDSA P-256
keys, 1- and 50-page PDFs; and validations per second, pyHanko's `validate_pdf_signature`
against our `validate_pdf`. Goals: (c) ≥ 60 signs/s for RSA-2048, 1 page; our validation
≥ 0.7 × raw. Writes bench/results/signing.json and its section of bench/README.md.
"""

from __future__ import annotations

import argparse
import contextlib
import ctypes
import gc
import io
import os
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parent.parent
# `python bench/signing.py` puts bench/ on the path, where this file would shadow the `signing`
# package: put the repository there instead.
sys.path[:] = [p for p in sys.path if Path(p or ".").resolve() != REPO / "bench"]
sys.path.insert(0, str(REPO))

import httpx  # noqa: E402
from cryptography.hazmat.primitives import hashes  # noqa: E402
from cryptography.hazmat.primitives.asymmetric import ec, padding, rsa  # noqa: E402
from cryptography.hazmat.primitives.serialization import pkcs12  # noqa: E402
from pyhanko.pdf_utils.incremental_writer import IncrementalPdfFileWriter  # noqa: E402
from pyhanko.pdf_utils.reader import PdfFileReader  # noqa: E402
from pyhanko.sign import fields, signers  # noqa: E402
from pyhanko.sign.validation import validate_pdf_signature  # noqa: E402
from pyhanko_certvalidator import ValidationContext  # noqa: E402

from bench.common import machine, publish, version_of  # noqa: E402
from signing.keys import load_pkcs12  # noqa: E402
from signing.pades import PadesLevel, PadesSigner  # noqa: E402
from signing.sandbox import ValidationSandbox  # noqa: E402
from signing.trust import TrustSettings  # noqa: E402
from signing.validate import validate_pdf  # noqa: E402
from tests.pki import PASSWORD, PkiServer, TestPki, asn1_cert  # noqa: E402
from tests.signing.pdfs import make_pdf  # noqa: E402

KINDS = {"rsa": "RSA-2048", "ecdsa": "ECDSA P-256"}
PAGES = (1, 50)
SIGNERS = {
    "a": "raw pyHanko, default signer (SimpleSigner.load_pkcs12, sizing dry run)",
    "b": "raw pyHanko, key kept loaded + signature size reserved",
    "c": "ours: signing.PadesSigner (loaded key, CMS template, reserved size)",
    "d": "ours over HTTP: POST /api/v1/signatures/sign, real server (SQLite)",
}
REST_USERS = {"rsa": "lanhdao", "ecdsa": "chuyenvien"}  # demo users, one own key each
GOAL_SIGNS, GOAL_VALIDATION = 60.0, 0.7
RESERVE = 16 * 1024  # bytes reserved for the CMS in variant (b): generous, no dry run


class BenchError(RuntimeError):
    pass


# -- the signers -------------------------------------------------------------------------------


def _metadata() -> signers.PdfSignatureMetadata:
    return signers.PdfSignatureMetadata(
        field_name="Signature1", md_algorithm="sha256", subfilter=fields.SigSeedSubFilter.PADES
    )


class RawDefault:
    """What the pyHanko documentation shows: load the PKCS#12 once, `sign_pdf` each time."""

    def __init__(self, p12: Path) -> None:
        loaded = signers.SimpleSigner.load_pkcs12(str(p12), passphrase=PASSWORD.encode())
        if loaded is None:
            raise BenchError("pyHanko could not load the PKCS#12 file")
        self.signer = loaded

    def sign(self, pdf: bytes) -> bytes:
        out = io.BytesIO()
        signers.sign_pdf(
            IncrementalPdfFileWriter(io.BytesIO(pdf)), _metadata(), signer=self.signer, output=out
        )
        return out.getvalue()


class _CachedKeySigner(signers.SimpleSigner):
    """pyHanko's SimpleSigner with the `cryptography` key parsed once (no CMS template)."""

    def __init__(self, private_key: Any, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self._key = private_key

    def sign_raw(self, data: bytes, digest_algorithm: str) -> bytes:
        digest = {"sha256": hashes.SHA256, "sha384": hashes.SHA384}[digest_algorithm]()
        if isinstance(self._key, rsa.RSAPrivateKey):
            return bytes(self._key.sign(data, padding.PKCS1v15(), digest))
        return bytes(self._key.sign(data, ec.ECDSA(digest)))


class RawTuned:
    """pyHanko alone, tuned: the key parsed once and the signature size reserved."""

    def __init__(self, p12: Path) -> None:
        data = p12.read_bytes()
        base = signers.SimpleSigner.load_pkcs12_data(data, None, passphrase=PASSWORD.encode())
        key, _, _ = pkcs12.load_key_and_certificates(data, PASSWORD.encode())
        self.signer = _CachedKeySigner(
            key,
            signing_cert=base.signing_cert,
            signing_key=base.signing_key,
            cert_registry=base.cert_registry,
        )

    def sign(self, pdf: bytes) -> bytes:
        out = io.BytesIO()
        signers.PdfSigner(_metadata(), self.signer).sign_pdf(
            IncrementalPdfFileWriter(io.BytesIO(pdf)), bytes_reserved=RESERVE, output=out
        )
        return out.getvalue()


class Ours:
    def __init__(self, p12: Path) -> None:
        self.signer = PadesSigner(load_pkcs12(p12.read_bytes(), PASSWORD), PadesLevel.B_B)

    def sign(self, pdf: bytes) -> bytes:
        return self.signer.sign(pdf)


# -- the REST server ---------------------------------------------------------------------------


def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _die_with_parent() -> None:
    """In the child before exec: SIGKILL it when this process dies (Linux only)."""
    with contextlib.suppress(Exception):
        ctypes.CDLL(None, use_errno=True).prctl(1, signal.SIGKILL)  # PR_SET_PDEATHSIG


@contextlib.contextmanager
def rest_server(root: Path, timeout: float = 90.0) -> Iterator[str]:
    """`lienthong serve --no-worker` on a fresh SQLite data directory (demo data); its URL."""
    root.mkdir(parents=True, exist_ok=True)
    port = _free_port()
    env = {k: v for k, v in os.environ.items() if not k.startswith("LIENTHONG_")}
    env.update(
        {
            "LIENTHONG_DATA_DIR": str(root / "data"),
            "LIENTHONG_DEMO": "1",
            "LIENTHONG_PORT": str(port),
        }
    )
    cli = str(Path(sys.executable).parent / "lienthong")
    for args in (("db", "upgrade"), ("demo",)):
        done = subprocess.run([cli, *args], env=env, cwd=root, capture_output=True, text=True)
        if done.returncode != 0:
            raise BenchError(f"lienthong {' '.join(args)} failed:\n{done.stdout}{done.stderr}")
    log = (root / "server.log").open("ab")
    proc = subprocess.Popen(
        [cli, "serve", "--no-worker"],
        env=env,
        cwd=root,
        stdin=subprocess.DEVNULL,
        stdout=log,
        stderr=subprocess.STDOUT,
        preexec_fn=_die_with_parent if sys.platform == "linux" else None,
    )
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + timeout
        while True:
            if proc.poll() is not None or time.monotonic() > deadline:
                tail = (root / "server.log").read_text(errors="replace")[-3000:]
                raise BenchError(f"the server did not come up:\n{tail}")
            with contextlib.suppress(httpx.HTTPError):
                if httpx.get(f"{url}/healthz", timeout=2).status_code == 200:
                    break
            time.sleep(0.2)
        yield url
    finally:
        proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(15)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(5)
        log.close()


class Rest:
    """One official with an own key, over one keep-alive client."""

    def __init__(self, url: str, user: str, p12: bytes) -> None:
        self.http = httpx.Client(base_url=url, timeout=httpx.Timeout(120.0))
        r = self.http.post("/api/v1/auth/token", data={"username": user, "password": "demo"})
        if r.status_code != 200:
            raise BenchError(f"login {user}: {r.status_code} {r.text}")
        self.http.headers["Authorization"] = f"Bearer {r.json()['access_token']}"
        r = self.http.post(
            "/api/v1/me/signing-key",
            data={"password": PASSWORD},
            files={"file": ("key.p12", p12, "application/x-pkcs12")},
        )
        if r.status_code != 201:
            raise BenchError(f"register the key of {user}: {r.status_code} {r.text}")

    def upload(self, pdf: bytes) -> str:
        r = self.http.post("/api/v1/files", files={"file": ("vb.pdf", pdf, "application/pdf")})
        if r.status_code != 201:
            raise BenchError(f"upload: {r.status_code} {r.text[:300]}")
        return str(r.json()["id"])

    def sign(self, file_id: str) -> None:
        r = self.http.post("/api/v1/signatures/sign", json={"file_id": file_id, "key": "own"})
        if r.status_code != 201:
            raise BenchError(f"sign: {r.status_code} {r.text[:300]}")

    def close(self) -> None:
        self.http.close()


# -- measuring ---------------------------------------------------------------------------------


def _rate(op: Callable[[], object], count: int) -> float:
    gc.collect()
    started = time.perf_counter()
    for _ in range(count):
        op()
    return count / (time.perf_counter() - started)


def _rest_rate(rest: Rest, pdf_of: Callable[[], bytes], count: int) -> float:
    ids = [rest.upload(pdf_of()) for _ in range(count)]  # not timed
    gc.collect()
    started = time.perf_counter()
    for file_id in ids:
        rest.sign(file_id)
    return count / (time.perf_counter() - started)


def raw_validate(pdf: bytes, root: Any) -> None:
    """pyHanko's own validation of every signature (difference analysis included)."""
    reader = PdfFileReader(io.BytesIO(pdf), strict=True)
    for sig in reader.embedded_signatures:
        status = validate_pdf_signature(sig, ValidationContext(trust_roots=[root]))
        if not (status.intact and status.valid and status.trusted):
            raise BenchError(f"raw validation failed: {status.summary()}")


def ours_validate(pdf: bytes, trust: TrustSettings) -> None:
    report = validate_pdf(pdf, trust)
    if not all(s.passed for s in report.signatures):
        raise BenchError(f"our validation failed: {report}")


@dataclass
class Cell:
    kind: str
    pages: int
    pdf: bytes
    signers: dict[str, Any]  # variant -> object with sign(pdf)
    rest: Rest | None


def _fresh_pdf(pages: int) -> Callable[[], bytes]:
    return lambda: make_pdf(pages, f"Quyet dinh {uuid.uuid4().hex[:12]}")


def measure(
    cells: list[Cell],
    validators: dict[str, dict[str, Callable[[], None]]],
    args: argparse.Namespace,
) -> list[dict[str, Any]]:
    """Every round: each cell's variants in a rotated order, then the validators."""
    rounds = []
    for n in range(args.rounds):
        signs: dict[str, dict[str, float]] = {}
        for i, cell in enumerate(cells):
            names = [v for v in "abcd" if v in cell.signers or (v == "d" and cell.rest)]
            shift = (n + i) % len(names)
            rates: dict[str, float] = {}
            for v in names[shift:] + names[:shift]:
                if v == "d":
                    assert cell.rest is not None
                    rates[v] = _rest_rate(cell.rest, _fresh_pdf(cell.pages), args.rest_signs)
                else:
                    count = args.signs if v != "a" else max(args.signs // 2, 3)
                    signer = cell.signers[v]
                    rates[v] = _rate(lambda s=signer, c=cell: s.sign(c.pdf), count)
            signs[f"{cell.kind}/{cell.pages}"] = rates
        checks: dict[str, dict[str, float]] = {}
        for kind, ops in validators.items():
            order = list(ops)
            shift = n % len(order)
            checks[kind] = {
                name: _rate(
                    ops[name],
                    args.validations if name != "sandbox" else max(args.validations // 2, 1),
                )
                for name in order[shift:] + order[:shift]
            }
        rounds.append({"signs_per_s": signs, "validations_per_s": checks})
        print(f"round {n + 1}/{args.rounds}: " + "; ".join(
            f"{c} " + " ".join(f"{v}={r:.0f}" for v, r in sorted(rates.items()))
            for c, rates in signs.items()
        ), flush=True)  # fmt: skip
    return rounds


def _median(values: list[float]) -> float:
    return round(statistics.median(values), 1)


def summarise(rounds: list[dict[str, Any]]) -> dict[str, Any]:
    signs: dict[str, dict[str, float]] = {}
    ratios: dict[str, dict[str, float]] = {}
    for cell in rounds[0]["signs_per_s"]:
        per = [r["signs_per_s"][cell] for r in rounds]
        signs[cell] = {v: _median([p[v] for p in per]) for v in per[0]}
        ratios[cell] = {
            f"{x}/{y}": round(statistics.median([p[x] / p[y] for p in per]), 2)
            for x, y in (("c", "a"), ("c", "b"), ("d", "c"))
            if x in per[0] and y in per[0]
        }
    checks: dict[str, dict[str, float]] = {}
    check_ratios: dict[str, float] = {}
    for kind in rounds[0]["validations_per_s"]:
        per = [r["validations_per_s"][kind] for r in rounds]
        checks[kind] = {v: _median([p[v] for p in per]) for v in per[0]}
        check_ratios[kind] = round(statistics.median([p["ours"] / p["raw"] for p in per]), 2)
    return {
        "signs_per_s": signs,
        "sign_ratios": ratios,
        "validations_per_s": checks,
        "validation_ratio_ours_raw": check_ratios,
        "goal": {
            f"ours >= {GOAL_SIGNS:g} signs/s RSA-2048 1 page": signs["rsa/1"]["c"] >= GOAL_SIGNS,
            f"validation ours >= {GOAL_VALIDATION} x raw": all(
                r >= GOAL_VALIDATION for r in check_ratios.values()
            ),
        },
    }


def extras(server: PkiServer) -> dict[str, Any]:
    """B-LTA against the local test TSA (online, with revocation data fetched): a few signs."""
    out: dict[str, Any] = {}
    pdf = make_pdf()
    for kind in KINDS:
        pki = server.add(f"lta-{kind}", kind)  # certificates that name its CRL and OCSP
        key = load_pkcs12(pki.pkcs12(pki.official), PASSWORD)
        trust = TrustSettings.of([pki.root.cert], fetch=True)
        lta = PadesSigner(key, PadesLevel.B_LTA, tsa_url=server.tsa_url(f"lta-{kind}"), trust=trust)
        lta.sign(pdf)
        out[f"{kind} B-LTA signs/s (local TSA, CRL/OCSP fetched)"] = round(
            _rate(lambda lta=lta: lta.sign(pdf), 5), 1
        )
    return out


def run(args: argparse.Namespace, tmp: Path) -> dict[str, Any]:
    with contextlib.ExitStack() as stack:
        server = stack.enter_context(PkiServer.running())
        pki = {kind: TestPki.generate(kind) for kind in KINDS}  # no CRL/OCSP declared
        p12 = {
            kind: pki[kind].write_pkcs12(tmp / f"{kind}.p12", pki[kind].official) for kind in KINDS
        }
        sandbox = stack.enter_context(ValidationSandbox())
        url = None if args.no_rest else stack.enter_context(rest_server(tmp / "server"))
        rests = (
            {} if url is None else {k: Rest(url, REST_USERS[k], p12[k].read_bytes()) for k in KINDS}
        )
        for r in rests.values():
            stack.callback(r.close)
        cells = []
        for kind in KINDS:
            variants = {"a": RawDefault(p12[kind]), "b": RawTuned(p12[kind]), "c": Ours(p12[kind])}
            for pages in PAGES:
                cell = Cell(kind, pages, make_pdf(pages), variants, rests.get(kind))
                for signer in variants.values():  # warm up: templates, imports, caches
                    signer.sign(cell.pdf)
                if cell.rest:
                    cell.rest.sign(cell.rest.upload(_fresh_pdf(pages)()))
                cells.append(cell)
        validators: dict[str, dict[str, Callable[[], None]]] = {}
        for kind in KINDS:
            signed = Ours(p12[kind]).sign(make_pdf())
            root = asn1_cert(pki[kind].root.cert)
            trust = TrustSettings.of([pki[kind].root.cert])
            validators[kind] = {
                "raw": lambda s=signed, r=root: raw_validate(s, r),
                "ours": lambda s=signed, t=trust: ours_validate(s, t),
                "sandbox": lambda s=signed, t=trust: sandbox.validate(s, t),
            }
            for check in validators[kind].values():
                check()
        load_before = os.getloadavg()
        rounds = measure(cells, validators, args)
        load_after = os.getloadavg()
        more = {} if args.quick else extras(server)
    return {
        "rounds": rounds,
        "extra": more,
        "load_average": {"before": load_before, "after": load_after},
    }


# -- reporting ---------------------------------------------------------------------------------

SECTION = """\
## Signing: `bench/signing.py`

PAdES B-B signatures per second, pyHanko alone against ours, and validations per second. One
run, in one process, interleaved: each round runs, for each key (RSA-2048, ECDSA P-256; the
test PKI's official, certificate chain of two CAs in the PKCS#12) and each document (a 1-page
and a 50-page PDF), every signer once, in an order rotated from round to round, then every
validator. A figure is the median over rounds, a ratio the median of per-round ratios.

| signer | what it measures |
|---|---|
| (a) | pyHanko as its documentation shows it: `SimpleSigner.load_pkcs12` once, `sign_pdf` per document. pyHanko re-parses the private key for every signature (cryptography checks an RSA key on load) and signs twice to size the signature (dry run). |
| (b) | pyHanko tuned by hand: the `cryptography` key parsed once (a `SimpleSigner` subclass), `bytes_reserved` fixed (16 KB), no dry run. pyHanko still builds the CMS with asn1crypto every time. |
| (c) | our `signing` API: `PadesSigner(load_pkcs12(...)).sign(pdf)`, the key loaded once, the reserved size computed from the certificates, the constant part of the CMS spliced from a template (`signing/cms.py`). |
| (d) | our REST endpoint over real HTTP: `lienthong serve --no-worker` (SQLite, demo data) as a subprocess, one keep-alive httpx client, `POST /api/v1/signatures/sign {"file_id", "key": "own"}` with the caller's configured key (kept loaded by the server); the PDFs are uploaded before the timed block. Includes authentication, reading and checking the stored PDF, signing, storing the new version (object, row, audit) and the commit. |

Validation of a 1-page B-B signature, trusted root, no revocation data declared: **raw** is
pyHanko's `validate_pdf_signature` (difference analysis included) with a new
`ValidationContext` per document; **ours** is `signing.validate.validate_pdf` (AdES report:
indication, chain, coverage, modifications, level); **sandbox** (extra) is ours in the worker
process `POST /api/v1/signatures/verify` uses (`signing.sandbox`, pickling both ways).

Goals: **(c) ≥ 60 signs/s for RSA-2048, 1 page** (≤ 17 ms a signature) and **our validation
≥ 0.7 × raw**.

Where the time goes (a one-off cProfile, not part of the script; RSA-2048, 1 page, a quiet
moment): (a) 120 ms a signature — the RSA key parsed and checked twice (dry run and real
signature) and the CMS built twice; (b) 17 ms, nearly all of it asn1crypto serialising the CMS
`SignedData` (certificates included) inside pyHanko's `async_sign_pdf`; (c) 2 ms. Over REST
the signature itself is a small part of (d): the rest is the HTTP request, the token check,
reading and hashing the stored PDF, writing the new object and row, and the commit.

```sh
.venv/bin/python bench/signing.py              # ~3–5 minutes; writes results and this section
.venv/bin/python bench/signing.py --quick --no-write
```

Options: `--rounds` (5; `--quick` 2), `--signs` per signer, cell and round (20; 8; (a) does
half), `--rest-signs` (20; 8), `--validations` (20; 8; the sandbox half), `--no-rest`,
`--no-write`. Extra (not with `--quick`): B-LTA signs/s against the in-process test TSA with
CRLs/OCSP responses fetched from it. Writes `bench/results/signing.json` (machine, load
average, parameters, every round, medians, ratios, goals).

### Latest run
"""


def _f(x: float | None) -> str:
    return "–" if x is None else f"{x:.1f}" if x < 100 else f"{x:.0f}"


def table(result: dict[str, Any]) -> str:
    rows = [
        "| key | pages | (a) raw default | (b) raw tuned | (c) ours | (d) ours, REST | (c)/(a) | (c)/(b) | (d)/(c) |",
        "|---|---:|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for cell, s in result["signs_per_s"].items():
        kind, pages = cell.split("/")
        r = result["sign_ratios"][cell]
        rows.append(
            f"| {KINDS[kind]} | {pages} | {_f(s.get('a'))} | {_f(s.get('b'))} | **{_f(s.get('c'))}** "
            f"| {_f(s.get('d'))} | {r.get('c/a', '–')} | {r.get('c/b', '–')} | {r.get('d/c', '–')} |"
        )
    rows += [
        "",
        "| key | validations/s raw | ours | ours/raw | ours in sandbox (extra) |",
        "|---|---:|---:|---:|---:|",
    ]
    for kind, v in result["validations_per_s"].items():
        rows.append(
            f"| {KINDS[kind]} | {_f(v['raw'])} | {_f(v['ours'])} | "
            f"**{result['validation_ratio_ours_raw'][kind]}** | {_f(v.get('sandbox'))} |"
        )
    return "\n".join(rows)


def readme_block(result: dict[str, Any]) -> str:
    p, m, load = result["parameters"], result["machine"], result["load_average"]
    goal = result["goal"]
    rsa = result["signs_per_s"]["rsa/1"]["c"]
    ratios = result["validation_ratio_ours_raw"]
    lines = [
        SECTION,
        f"Latest run: {result['date']}; {p['rounds']} interleaved rounds of {p['signs']} signatures "
        f"per signer and cell ((a) {max(p['signs'] // 2, 3)}, REST {p['rest_signs']}) and "
        f"{p['validations']} validations; Python {m['python']}, {m['cpu_count']} CPUs, "
        f"{m['platform']}, pyHanko {m['pyhanko']}, cryptography {m['cryptography']}, "
        f"uvicorn {m['uvicorn']}; load average {load['before'][0]:.2f} before, "
        f"{load['after'][0]:.2f} after.",
        "",
        "Signatures per second (B-B, median over rounds):",
        "",
        table(result),
        "",
        f"Goals: ours ≥ {GOAL_SIGNS:g} signs/s RSA-2048 1 page: "
        f"**{'met' if list(goal.values())[0] else 'NOT met'}** ({rsa:.1f}/s, "
        f"{1000 / rsa:.1f} ms a signature); our validation ≥ {GOAL_VALIDATION} × raw: "
        f"**{'met' if list(goal.values())[1] else 'NOT met'}** "
        f"({', '.join(f'{KINDS[k]} {v}' for k, v in ratios.items())}).",
    ]
    if result.get("extra"):
        lines += ["", "Extra: " + "; ".join(f"{k} {v}" for k, v in result["extra"].items()) + "."]
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=(__doc__ or "").split("\n\n")[0])
    ap.add_argument("--quick", action="store_true", help="fewer rounds and operations, no extras")
    ap.add_argument("--rounds", type=int, help="interleaved rounds (5; --quick 2)")
    ap.add_argument("--signs", type=int, help="signatures per signer, cell and round (20; 8)")
    ap.add_argument(
        "--rest-signs", type=int, help="signatures over REST per cell and round (20; 8)"
    )
    ap.add_argument("--validations", type=int, help="validations per validator and round (20; 8)")
    ap.add_argument("--no-rest", action="store_true", help="leave out the REST endpoint")
    ap.add_argument("--no-write", action="store_true", help="do not write results or README")
    args = ap.parse_args(argv)
    quick = args.quick
    args.rounds = args.rounds or (2 if quick else 5)
    args.signs = args.signs or (8 if quick else 20)
    args.rest_signs = args.rest_signs or (8 if quick else 20)
    args.validations = args.validations or (8 if quick else 20)
    started = time.perf_counter()
    with tempfile.TemporaryDirectory(prefix="bench-signing-") as tmp:
        out = run(args, Path(tmp))
    result = {
        "benchmark": "signing",
        "date": datetime.now(UTC).isoformat(timespec="seconds"),
        "machine": machine(
            pyhanko=version_of("pyHanko"),
            cryptography=version_of("cryptography"),
            asn1crypto=version_of("asn1crypto"),
            uvicorn=version_of("uvicorn"),
            httpx=version_of("httpx"),
            openssl=_openssl(),
        ),
        "load_average": out["load_average"],
        "parameters": {
            "rounds": args.rounds,
            "signs": args.signs,
            "rest_signs": args.rest_signs,
            "validations": args.validations,
            "rest": not args.no_rest,
            "level": "B-B",
            "signers": SIGNERS,
            "goal": f"c >= {GOAL_SIGNS:g} signs/s RSA-2048 1 page; validation ours/raw >= "
            f"{GOAL_VALIDATION}",
        },
        **summarise(out["rounds"]),
        "extra": out["extra"],
        "rounds": out["rounds"],
        "seconds": round(time.perf_counter() - started, 1),
    }
    print()
    print(table(result))
    print(f"\ngoal: {result['goal']}; extra: {result['extra']}; took {result['seconds']} s")
    if not args.no_write:
        written = publish("signing", result, readme_block(result))
        print(f"wrote {' and '.join(str(p.relative_to(REPO)) for p in written)}")
    return 0


def _openssl() -> str:
    from cryptography.hazmat.backends.openssl.backend import backend

    return str(backend.openssl_version_text())


if __name__ == "__main__":
    raise SystemExit(main())
