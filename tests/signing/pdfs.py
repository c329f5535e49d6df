"""Small real PDFs for the signing tests, and ways to tamper with signed ones."""

from __future__ import annotations

import io
import re
import subprocess
from dataclasses import dataclass

from pyhanko.pdf_utils import generic
from pyhanko.pdf_utils.incremental_writer import IncrementalPdfFileWriter

A4 = (595, 842)


def make_pdf(pages: int = 1, text: str = "Quyet dinh so 12/QD-UBND") -> bytes:
    """An A4 PDF with a line of Helvetica text per page and a classic xref table."""
    return build_pdf(page_objects(pages, text))


def page_objects(pages: int = 1, text: str = "Quyet dinh so 12/QD-UBND") -> list[bytes]:
    """Objects 1.. of `make_pdf`: catalog, page tree, font, then page and content pairs."""
    objs = [
        b"<< /Type /Catalog /Pages 2 0 R >>",
        "<< /Type /Pages /Kids [{}] /Count {} >>".format(
            " ".join(f"{4 + 2 * i} 0 R" for i in range(pages)), pages
        ).encode(),
        b"<< /Type /Font /Subtype /Type1 /BaseFont /Helvetica >>",
    ]
    for i in range(pages):
        content = f"BT /F1 14 Tf 72 760 Td ({text} - {i + 1}) Tj ET".encode()
        objs.append(
            b"<< /Type /Page /Parent 2 0 R /MediaBox [0 0 %d %d] "
            b"/Resources << /Font << /F1 3 0 R >> >> /Contents %d 0 R >>" % (*A4, 5 + 2 * i)
        )
        objs.append(b"<< /Length %d >>\nstream\n%s\nendstream" % (len(content), content))
    return objs


def build_pdf(objs: list[bytes]) -> bytes:
    """A PDF of the given objects (numbered from 1, object 1 the catalog)."""
    out = bytearray(b"%PDF-1.7\n%\xe2\xe3\xcf\xd3\n")
    offsets = []
    for n, body in enumerate(objs, 1):
        offsets.append(len(out))
        out += b"%d 0 obj\n%s\nendobj\n" % (n, body)
    xref = len(out)
    out += b"xref\n0 %d\n0000000000 65535 f \n" % (len(objs) + 1)
    out += b"".join(b"%010d 00000 n \n" % o for o in offsets)
    out += b"trailer\n<< /Size %d /Root 1 0 R >>\nstartxref\n%d\n%%%%EOF\n" % (len(objs) + 1, xref)
    return bytes(out)


def append_page(pdf: bytes, text: str = "Injected page") -> bytes:
    """Add a page in an incremental update, as someone altering a signed file would."""
    w = IncrementalPdfFileWriter(io.BytesIO(pdf))
    pages = w.root["/Pages"]
    first = pages["/Kids"][0].get_object()
    content = generic.StreamObject(stream_data=f"BT /F1 24 Tf 72 700 Td ({text}) Tj ET".encode())
    page = generic.DictionaryObject(
        {
            generic.NameObject("/Type"): generic.NameObject("/Page"),
            generic.NameObject("/MediaBox"): first["/MediaBox"],
            generic.NameObject("/Resources"): first["/Resources"],
            generic.NameObject("/Contents"): w.add_object(content),
        }
    )
    w.insert_page(page)
    out = io.BytesIO()
    w.write(out)
    return out.getvalue()


def byte_ranges(pdf: bytes) -> list[tuple[int, int, int, int]]:
    return [
        tuple(int(v) for v in m.groups())  # type: ignore[misc]
        for m in re.finditer(rb"/ByteRange\s*\[\s*(\d+)\s+(\d+)\s+(\d+)\s+(\d+)\s*\]", pdf)
    ]


def flip_signed_byte(pdf: bytes) -> bytes:
    """Change one byte inside the signed range of the first signature (in the page text)."""
    at = pdf.index(b"Quyet dinh so")
    return pdf[:at] + b"X" + pdf[at + 1 :]


@dataclass(frozen=True)
class PdfSig:
    """What poppler's pdfsig says about each signature."""

    valid: list[bool]
    trusted: list[bool]
    output: str


def pdfsig(path: str, nssdir: str | None = None) -> PdfSig:
    """Run pdfsig (it exits 0 whatever it finds, so read its output).

    Not with -no-ocsp: poppler 22.12 then reads a stale NSS error code after a
    successful check and reports "Unknown issue with Certificate".
    """
    cmd = ["pdfsig"]
    if nssdir:
        cmd += ["-nssdir", f"sql:{nssdir}"]
    out = subprocess.run([*cmd, path], capture_output=True, text=True, timeout=60)
    text = out.stdout + out.stderr
    valid = [
        line.endswith("Signature is Valid.")
        for line in text.splitlines()
        if "Signature Validation:" in line
    ]
    trusted = [
        line.endswith("Certificate is Trusted.")
        for line in text.splitlines()
        if "Certificate Validation:" in line
    ]
    return PdfSig(valid, trusted, text)
