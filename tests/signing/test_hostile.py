"""Broken and crafted PDFs give a clear result or a SigningError, quickly, never a crash."""

from __future__ import annotations

import os
import time
from collections.abc import Callable, Iterator

import pytest

from signing.errors import MalformedPdfError, PdfTooComplexError, SigningError
from signing.pades import PadesSigner
from signing.report import Indication, ValidationReport
from signing.sandbox import ValidationSandbox
from signing.trust import TrustSettings
from signing.validate import validate_pdf
from tests.pki import TestPki
from tests.signing.conftest import key_of, require_tool
from tests.signing.hostile import (
    byte_range,
    deeply_nested,
    encrypted,
    flate_bomb,
    page_tree_loop,
    with_byte_range,
)
from tests.signing.pdfs import make_pdf

LIMIT = 3.0


@pytest.fixture(scope="module")
def sandbox() -> Iterator[ValidationSandbox]:
    with ValidationSandbox(timeout=LIMIT) as box:
        yield box


@pytest.fixture(scope="module")
def signed(pki_rsa: TestPki) -> bytes:
    return PadesSigner(key_of(pki_rsa, pki_rsa.official)).sign(make_pdf())


def _outside(pdf: bytes) -> bytes:
    a, b, c, _ = byte_range(pdf)
    return with_byte_range(pdf, (a, b, c, 10**9))


def _gap(pdf: bytes) -> bytes:
    _, _, c, d = byte_range(pdf)
    return with_byte_range(pdf, (0, 100, c, d))


def _overlap(pdf: bytes) -> bytes:
    a, b, c, d = byte_range(pdf)
    return with_byte_range(pdf, (a, b + 10, c - 10, d + 10))


def _encrypted(pdf: bytes) -> bytes:
    require_tool("qpdf")
    return encrypted(pdf)


MALFORMED: dict[str, tuple[Callable[[bytes], bytes], str]] = {
    "garbage": (lambda _: os.urandom(4096), "malformed_pdf"),
    "empty": (lambda _: b"", "malformed_pdf"),
    "header-only": (lambda _: b"%PDF-1.7\n" + os.urandom(300), "malformed_pdf"),
    "truncated-half": (lambda p: p[: len(p) // 2], "malformed_pdf"),
    "truncated-tail": (lambda p: p[:-40], "malformed_pdf"),
    "encrypted": (_encrypted, "pdf_encrypted"),
    "nested-100k-deep": (lambda _: deeply_nested(), "malformed_pdf"),
}
BROKEN_SIGNATURE: dict[str, Callable[[bytes], bytes]] = {
    "byte-range-outside-file": _outside,
    "byte-range-gap": _gap,
    "byte-range-overlap": _overlap,
}


def _timed(fn: Callable[[], ValidationReport]) -> tuple[ValidationReport | SigningError, float]:
    start = time.perf_counter()
    try:
        result: ValidationReport | SigningError = fn()
    except SigningError as e:
        result = e
    return result, time.perf_counter() - start


@pytest.mark.parametrize("case", list(MALFORMED))
def test_unreadable_pdfs_are_a_clear_error(
    case: str, signed: bytes, sandbox: ValidationSandbox, pki_rsa: TestPki
) -> None:
    make, code = MALFORMED[case]
    data, trust = make(signed), TrustSettings.of([pki_rsa.root.cert])
    for run in (lambda: validate_pdf(data, trust), lambda: sandbox.validate(data, trust)):
        result, took = _timed(run)
        assert isinstance(result, MalformedPdfError), result
        assert result.code == code and result.http_status == 422
        assert "PDF" in result.message
        assert took < LIMIT


@pytest.mark.parametrize("case", list(BROKEN_SIGNATURE))
def test_broken_byte_ranges_fail_the_signature(
    case: str, signed: bytes, sandbox: ValidationSandbox, pki_rsa: TestPki
) -> None:
    data, trust = BROKEN_SIGNATURE[case](signed), TrustSettings.of([pki_rsa.root.cert])
    for run in (lambda: validate_pdf(data, trust), lambda: sandbox.validate(data, trust)):
        result, took = _timed(run)
        assert isinstance(result, ValidationReport), result
        (sig,) = result.signatures
        assert sig.indication is Indication.TOTAL_FAILED
        assert sig.sub_indication in ("FORMAT_FAILURE", "HASH_FAILURE")
        assert took < LIMIT


@pytest.mark.parametrize(
    "make", [flate_bomb, page_tree_loop], ids=["flate-bomb-1GiB", "page-tree-loop"]
)
def test_crafted_unsigned_pdfs_are_handled_quickly(
    make: Callable[[], bytes], sandbox: ValidationSandbox, pki_rsa: TestPki
) -> None:
    data, trust = make(), TrustSettings.of([pki_rsa.root.cert])
    result, took = _timed(lambda: sandbox.validate(data, trust))
    assert took < LIMIT
    assert isinstance(result, ValidationReport | MalformedPdfError)
    if isinstance(result, ValidationReport):
        assert result.signatures == ()


def test_signing_a_broken_pdf_is_a_clear_error(pki_rsa: TestPki) -> None:
    signer = PadesSigner(key_of(pki_rsa, pki_rsa.official))
    for data in (b"", os.urandom(2048), make_pdf()[:-40]):
        with pytest.raises(MalformedPdfError):
            signer.sign(data)


def test_overtime_is_cut_off_and_the_worker_replaced(signed: bytes, pki_rsa: TestPki) -> None:
    trust = TrustSettings.of([pki_rsa.root.cert], revocation="none")
    with ValidationSandbox(timeout=0.0001) as box:
        with pytest.raises(PdfTooComplexError) as e:
            box.validate(signed, trust)
        assert e.value.code == "pdf_too_complex"
        box.timeout = LIMIT
        (sig,) = box.validate(signed, trust).signatures  # a fresh worker answers
    assert sig.indication is Indication.TOTAL_PASSED
