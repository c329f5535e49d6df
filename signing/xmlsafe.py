"""Untrusted XML for signatures: hardened parsing and a canonicalisation that is right.

Parsing has the defences of `engine.exchange.xmlsafe` (which signing may not import): no
DTD, no entity expansion, no network, a size and an element-count limit (counted in the
bytes before libxml2 builds a tree; see there why). Comments and processing
instructions are kept, because canonicalisation may cover them. Past libxml2's 10 MB
text-node limit `huge_tree` is turned on, safe only because entities never expand.

Canonicalisation works around lxml 6.1 / libxml2 2.14, which canonicalise an element
that is not alone in its document wrongly: `xmlns=""` on grandchildren when the default
namespace is redeclared (an unprefixed `<Signature>` inside an edXML package, so plain
signxml cannot verify what the JDK signs), and comments kept despite
`with_comments=False` when the document has nodes beside its root.
"""

from __future__ import annotations

import copy
import re
from typing import Any

from lxml import etree
from signxml import XMLVerifier

from signing.errors import XmlSignatureError

__all__ = [
    "DSIG",
    "EDXML",
    "MAX_XML_BYTES",
    "MAX_XML_ELEMENTS",
    "Verifier",
    "c14n",
    "error",
    "hidden_markup_encoding",
    "find_signatures",
    "into_dsig_namespace",
    "isolate",
    "local_name",
    "parse_untrusted",
    "parser",
]

DSIG = "http://www.w3.org/2000/09/xmldsig#"
EDXML = "http://www.mic.gov.vn/TBT/QCVN_102_2016"
MAX_XML_BYTES = 50 * 1024 * 1024
MAX_XML_ELEMENTS = 100_000  # `engine.exchange.xmlsafe.MAX_ELEMENTS`
_LIBXML_TEXT_LIMIT = 10_000_000


def error(vi: str, en: str, code: str) -> XmlSignatureError:
    """An XmlSignatureError with the usual "Vietnamese / English" message."""
    return XmlSignatureError(f"{vi} / {en}", code=code)


_DECLARED = re.compile(
    rb"^(?:\xef\xbb\xbf)?\s*<\?xml[^>]*?encoding\s*=\s*[\"']([A-Za-z0-9._:-]{1,40})[\"']"
)


def hidden_markup_encoding(xml: bytes) -> str | None:
    """The encoding the XML declaration names when markup could hide from a byte scan in it
    (UTF-7 writes `<` as `+ADw-`, EBCDIC as 0x4C; and encodings Python does not know), so
    that the DOCTYPE and element-count checks would not see it; None otherwise."""
    found = _DECLARED.match(xml[:256])
    if found is None:
        return None  # no declaration, or one in UTF-16/32, where `<` is still the byte 0x3C
    name = found.group(1).decode("ascii")
    ascii_bytes = bytes(range(128))
    try:
        # Every ASCII byte must read as itself: UTF-7's `+` starts an escape, EBCDIC moves
        # everything, UTF-16 pairs bytes.
        plain = ascii_bytes.decode(name) == ascii_bytes.decode("ascii")
    except (LookupError, UnicodeError, ValueError):
        plain = False
    return None if plain else name


def parser(size: int) -> etree.XMLParser:
    """A hardened parser for a document of `size` bytes."""
    return etree.XMLParser(
        resolve_entities=False,
        no_network=True,
        load_dtd=False,
        dtd_validation=False,
        huge_tree=size > _LIBXML_TEXT_LIMIT,
    )


def parse_untrusted(xml: bytes, max_bytes: int = MAX_XML_BYTES) -> etree._Element:
    """Parse untrusted bytes. Raises XmlSignatureError (code xml_too_large,
    xml_forbidden_dtd, xml_too_many_elements or xml_malformed)."""
    if len(xml) > max_bytes:
        raise error(
            f"Gói tin lớn hơn giới hạn {max_bytes:,} byte",
            f"The package is larger than the {max_bytes:,}-byte limit",
            "xml_too_large",
        )
    forbidden = error(
        "Gói tin không được chứa DOCTYPE hoặc khai báo ENTITY",
        "The package must not contain a DOCTYPE or entity declarations",
        "xml_forbidden_dtd",
    )
    encoding = hidden_markup_encoding(xml)
    if encoding is not None:
        raise error(
            f"Gói tin khai báo bảng mã {encoding}, không được chấp nhận; edXML dùng UTF-8",
            f"The package declares the encoding {encoding}, which is refused; edXML is UTF-8",
            "xml_encoding_refused",
        )
    if b"<!DOCTYPE" in xml or b"<!ENTITY" in xml:
        raise forbidden
    # Each element has a `<` not followed by `/`; end tags are subtracted only when needed.
    opening = xml.count(b"<")
    if opening > MAX_XML_ELEMENTS and opening - xml.count(b"</") > MAX_XML_ELEMENTS:
        raise error(
            f"Gói tin có hơn {MAX_XML_ELEMENTS:,} phần tử XML; hãy kiểm tra phần mềm gửi",
            f"The package has more than {MAX_XML_ELEMENTS:,} XML elements; "
            "check the sending software",
            "xml_too_many_elements",
        )
    try:
        root = etree.fromstring(xml, parser=parser(len(xml)))
    except etree.XMLSyntaxError as e:
        raise error(
            "Gói tin không phải XML hợp lệ", f"Not well-formed XML: {e}", "xml_malformed"
        ) from e
    if root.getroottree().docinfo.internalDTD is not None:
        raise forbidden
    return root


def isolate(el: etree._Element, xml_parser: Any = None) -> etree._Element:
    """`el` as the root of a document of its own, with the namespaces in scope declared
    (lxml copies them when serialising); `el` itself when it already is."""
    if el.getparent() is None and el.getprevious() is None and el.getnext() is None:
        return el
    return etree.fromstring(etree.tostring(el, with_tail=False), parser=xml_parser)


def c14n(el: etree._Element, xml_parser: Any = None) -> bytes:
    """Inclusive C14N 1.0 without comments of `el` and its descendants (what C14N of the
    subset means, bar inherited xml:* attributes, which edXML does not use)."""
    return etree.tostring(
        isolate(el, xml_parser), method="c14n", exclusive=False, with_comments=False
    )


class Verifier(XMLVerifier):
    """signxml's verifier, canonicalising subtrees as `c14n` does."""

    def _c14n(self, nodes: Any, algorithm: Any, inclusive_ns_prefixes: Any = None) -> bytes:
        nodes = nodes if isinstance(nodes, list) else [nodes]
        alone = [isolate(n, self.parser) for n in nodes]
        return bytes(super()._c14n(alone, algorithm, inclusive_ns_prefixes=inclusive_ns_prefixes))


def local_name(el: etree._Element) -> tuple[str | None, str]:
    """(namespace, local name) of an element; (None, "") for comments and PIs."""
    if not isinstance(el.tag, str):
        return None, ""
    name = etree.QName(el)
    return name.namespace, name.localname


def find_signatures(root: etree._Element) -> list[etree._Element]:
    """Every XML-DSig `Signature`, also one that lost its namespace (edXML's or none)."""
    found = []
    for el in root.iter():
        ns, local = local_name(el)
        if local != "Signature":
            continue
        if ns == DSIG or (
            ns in (EDXML, None) and any(local_name(c)[1] == "SignedInfo" for c in el)
        ):
            found.append(el)
    return found


def _copy_into_dsig(el: etree._Element, parent: etree._Element | None) -> etree._Element:
    ns, local = local_name(el)
    tag = f"{{{DSIG}}}{local}" if ns in (EDXML, None) else el.tag
    new = (
        etree.Element(tag, dict(el.attrib), nsmap={None: DSIG})
        if parent is None
        else etree.SubElement(parent, tag, dict(el.attrib))
    )
    new.text, new.tail = el.text, el.tail
    for c in el:
        if isinstance(c.tag, str):
            _copy_into_dsig(c, new)
        else:
            new.append(copy.copy(c))
    return new


def into_dsig_namespace(sig: etree._Element) -> etree._Element:
    """Replace a `Signature` that inherits the edXML (or no) namespace, in its tree, by a
    copy in the XML-DSig default namespace, the form its signer canonicalised; return it."""
    repaired = _copy_into_dsig(sig, None)
    parent = sig.getparent()
    if parent is not None:
        parent.replace(sig, repaired)
    return repaired
