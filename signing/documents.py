"""Opening PDFs from bytes, with every parser failure turned into a `MalformedPdfError`.

Readers are strict (no hybrid cross-reference tricks) and keep pyHanko's decode limits
for untrusted input, so a compression bomb fails instead of filling memory.
"""

from __future__ import annotations

import io
import zlib
from typing import Any

from pyhanko.pdf_utils.incremental_writer import IncrementalPdfFileWriter
from pyhanko.pdf_utils.misc import PdfError
from pyhanko.pdf_utils.reader import PdfFileReader

from signing.errors import MalformedPdfError

__all__ = ["PARSE_ERRORS", "is_certification", "malformed", "open_reader", "open_writer", "safely"]

# What pyHanko's parser raises on broken input, besides its own PdfError.
PARSE_ERRORS: tuple[type[BaseException], ...] = (
    PdfError,
    ValueError,
    KeyError,
    IndexError,
    TypeError,
    AttributeError,
    AssertionError,
    RecursionError,
    OverflowError,
    UnicodeError,
    zlib.error,
    EOFError,
)


def malformed(e: BaseException | None = None) -> MalformedPdfError:
    """The error for a PDF we cannot parse (the parser's reason in `details`)."""
    return MalformedPdfError(
        "Tệp không phải PDF hợp lệ hoặc đã bị hỏng/cắt cụt; hãy tải lên bản gốc / "
        "The file is not a valid PDF or is damaged or truncated; upload the original",
        details=str(e) if e else None,
    )


def _encrypted() -> MalformedPdfError:
    return MalformedPdfError(
        "Tệp PDF được mã hóa; hãy gỡ mật khẩu trước khi ký hoặc kiểm tra / "
        "The PDF is encrypted; remove its password before signing or checking it",
        code="pdf_encrypted",
    )


def open_reader(pdf: bytes) -> PdfFileReader:
    """A strict reader over `pdf`.

    Raises MalformedPdfError if it is not a PDF, is damaged or is encrypted.
    """
    if not pdf.lstrip()[:5].startswith(b"%PDF-") and b"%PDF-" not in pdf[:1024]:
        raise malformed()
    try:
        reader = PdfFileReader(io.BytesIO(pdf), strict=True)
        encrypted = reader.encrypted
        _ = reader.root["/Pages"]
    except PARSE_ERRORS as e:
        raise malformed(e) from e
    if encrypted:
        raise _encrypted()
    return reader


def open_writer(pdf: bytes) -> IncrementalPdfFileWriter:
    """An incremental writer appending to `pdf` (the original bytes are kept).

    Raises MalformedPdfError like `open_reader`.
    """
    reader = open_reader(pdf)
    try:
        return IncrementalPdfFileWriter(io.BytesIO(pdf), prev=reader)
    except PARSE_ERRORS as e:
        raise malformed(e) from e


def is_certification(sig: Any) -> bool:
    """Whether an embedded signature is a certification (DocMDP) signature."""
    try:
        refs = sig.sig_object.get("/Reference") or ()
        return any(r.get_object().get("/TransformMethod") == "/DocMDP" for r in refs)
    except PARSE_ERRORS:
        return False


def safely(fn: Any) -> Any:
    """`fn()`, or None if reading the document fails on the way."""
    try:
        return fn()
    except PARSE_ERRORS:
        return None
