"""Parse XML from other agencies' nodes without trusting it.

Same defences as the BPMN parser (`engine.runtime.parser`): no DTD, no entity
expansion, no network, plus a size, an element-count and a depth limit. A DOCTYPE is
refused outright, before parsing when it is visible in the bytes and after parsing
otherwise (UTF-16).

The element count is bounded before libxml2 builds a tree: 48 MB of `<a/>` is 12 million
elements, 30 s of CPU and 1.7 GB of memory to parse, all spent before the sender or the
signature is known. Every element has a start tag, a `<` not followed by `/`, and base64
attachments hold no `<`, so counting bytes (in C, tens of milliseconds for 50 MB) bounds
the elements from above without parsing.

libxml2 refuses text nodes over 10 MB unless told `huge_tree`; a scanned PDF sent as
base64 is often larger. Packages over that size are therefore parsed with `huge_tree`
on, which is safe here only because entities are never expanded and the size and
depth limits below are ours.
"""

from __future__ import annotations

from lxml import etree

from engine.errors import PackageInvalid, PackageTooLarge
from signing.xmlsafe import hidden_markup_encoding

__all__ = ["MAX_DEPTH", "MAX_ELEMENTS", "MAX_PACKAGE_BYTES", "parse_xml"]

MAX_PACKAGE_BYTES = 50 * 1024 * 1024
# The sample document package has 75 elements, real ones a few thousand at most; 100,000
# empty ones parse in about a tenth of a second and 15 MB.
MAX_ELEMENTS = 100_000
# A document package nests 9 deep, a signature 7, a SOAP wrapper adds 2.
MAX_DEPTH = 32
_LIBXML_TEXT_LIMIT = 10_000_000
# Looked for in the raw bytes, in every encoding XML may come in, before libxml2 sees them.
_FORBIDDEN = tuple(
    marker.encode(codec)
    for marker in ("<!DOCTYPE", "<!ENTITY")
    for codec in ("ascii", "utf-16-le", "utf-16-be", "utf-32-le", "utf-32-be")
)


def _parser(huge: bool) -> etree.XMLParser:
    return etree.XMLParser(
        resolve_entities=False,
        no_network=True,
        load_dtd=False,
        dtd_validation=False,
        huge_tree=huge,
        remove_pis=True,
    )


def _forbidden_dtd() -> PackageInvalid:
    return PackageInvalid(
        "Gói tin không được chứa DOCTYPE hoặc khai báo ENTITY / "
        "The package must not contain a DOCTYPE or entity declarations",
        code="xml_forbidden_dtd",
    )


def _start_tags(data: bytes, limit: int) -> int:
    """At least the number of elements in `data`: its `<`, less those of end tags once
    that is needed to stay under `limit` (comments, PIs and CDATA count as elements; in
    UTF-16 or UTF-32 so do end tags, which only refuses sooner)."""
    opening = data.count(b"<")
    return opening if opening <= limit else opening - data.count(b"</")


def _depth(root: etree._Element) -> int:
    deepest = depth = 0
    for event, _ in etree.iterwalk(root, events=("start", "end")):
        depth += 1 if event == "start" else -1
        deepest = max(deepest, depth)
    return deepest


def parse_xml(
    data: bytes,
    *,
    max_bytes: int = MAX_PACKAGE_BYTES,
    max_depth: int = MAX_DEPTH,
    max_elements: int = MAX_ELEMENTS,
) -> etree._Element:
    """Parse untrusted XML bytes into their root element.

    Raises PackageTooLarge past `max_bytes`; PackageInvalid (code `xml_encoding_refused`,
    `xml_forbidden_dtd`,
    `xml_too_many_elements`, `xml_malformed` or `xml_too_deep`) for a DOCTYPE, more than
    `max_elements` elements, bytes that are not XML, or nesting deeper than `max_depth`.
    """
    if len(data) > max_bytes:
        raise PackageTooLarge(
            f"Gói tin lớn hơn giới hạn {max_bytes:,} byte / "
            f"The package is larger than the {max_bytes:,}-byte limit",
            code="xml_too_large",
        )
    encoding = hidden_markup_encoding(data)
    if encoding is not None:
        raise PackageInvalid(
            f"Gói tin khai báo bảng mã {encoding}, không được chấp nhận; edXML dùng UTF-8 / "
            f"The package declares the encoding {encoding}, which is refused; edXML is UTF-8",
            code="xml_encoding_refused",
        )
    if any(marker in data for marker in _FORBIDDEN):
        raise _forbidden_dtd()
    if _start_tags(data, max_elements) > max_elements:
        raise PackageInvalid(
            f"Gói tin có hơn {max_elements:,} phần tử XML, gói tin thật chỉ có vài nghìn; "
            "hãy kiểm tra phần mềm gửi / The package has more than "
            f"{max_elements:,} XML elements where real ones have a few thousand; "
            "check the sending software",
            code="xml_too_many_elements",
        )
    try:
        root = etree.fromstring(data, parser=_parser(len(data) > _LIBXML_TEXT_LIMIT))
    except etree.XMLSyntaxError as e:
        raise PackageInvalid(
            f"Gói tin không phải XML hợp lệ / The package is not well-formed XML: {e}",
            code="xml_malformed",
        ) from e
    docinfo = root.getroottree().docinfo
    if docinfo.doctype or docinfo.internalDTD is not None:
        raise _forbidden_dtd()
    if _depth(root) > max_depth:
        raise PackageInvalid(
            f"Gói tin lồng sâu quá {max_depth} cấp / The package nests deeper than {max_depth}",
            code="xml_too_deep",
        )
    return root
