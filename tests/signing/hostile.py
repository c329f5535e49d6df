"""Broken and crafted PDFs for the robustness tests."""

from __future__ import annotations

import re
import subprocess
import tempfile
import zlib
from pathlib import Path

from tests.signing.pdfs import build_pdf, page_objects

_BYTE_RANGE = re.compile(rb"/ByteRange\s*\[[^\]]*\]\s*")


def with_byte_range(pdf: bytes, values: tuple[int, ...]) -> bytes:
    """Rewrite the first /ByteRange in place (same length, so offsets stay valid)."""
    m = _BYTE_RANGE.search(pdf)
    assert m is not None
    new = b"/ByteRange [" + b" ".join(b"%d" % v for v in values) + b"]"
    span = m.end() - m.start()
    assert len(new) <= span, "no room for the new byte range"
    return pdf[: m.start()] + new.ljust(span) + pdf[m.end() :]


def byte_range(pdf: bytes) -> tuple[int, int, int, int]:
    m = re.search(rb"/ByteRange\s*\[\s*(\d+)\s+(\d+)\s+(\d+)\s+(\d+)", pdf)
    assert m is not None
    return tuple(int(v) for v in m.groups())  # type: ignore[return-value]


def encrypted(pdf: bytes) -> bytes:
    """The PDF encrypted with AES-256 by qpdf (user password 'mo', owner 'chu')."""
    with tempfile.TemporaryDirectory() as tmp:
        src, dst = Path(tmp) / "in.pdf", Path(tmp) / "out.pdf"
        src.write_bytes(pdf)
        subprocess.run(
            ["qpdf", "--encrypt", "mo", "chu", "256", "--", str(src), str(dst)], check=True
        )
        return dst.read_bytes()


def deeply_nested(depth: int = 100_000) -> bytes:
    """A catalog carrying an array nested `depth` levels deep."""
    objs = page_objects()
    objs[0] = b"<< /Type /Catalog /Pages 2 0 R /Deep " + b"[" * depth + b"]" * depth + b" >>"
    return build_pdf(objs)


def flate_bomb(size: int = 1024 * 1024 * 1024) -> bytes:
    """A one-page PDF whose content stream inflates to `size` bytes of spaces."""
    comp = zlib.compressobj(9)
    chunk = b" " * (1 << 20)
    data = b"".join(comp.compress(chunk) for _ in range(size >> 20)) + comp.flush()
    objs = page_objects()
    objs[4] = b"<< /Length %d /Filter /FlateDecode >>\nstream\n%s\nendstream" % (len(data), data)
    return build_pdf(objs)


def page_tree_loop() -> bytes:
    """A page tree whose only kid is the tree itself."""
    objs = page_objects()
    objs[1] = b"<< /Type /Pages /Kids [2 0 R] /Count 1 >>"
    return build_pdf(objs)
