"""Hostile edXML with millions of elements is refused before a tree is built."""

from __future__ import annotations

import time

import pytest

from engine.errors import PackageInvalid
from engine.exchange.edxml import build_document, parse_package
from engine.exchange.validation import validate
from engine.exchange.xmlsafe import MAX_ELEMENTS, parse_xml
from signing.errors import XmlSignatureError
from signing.xmlsafe import MAX_XML_ELEMENTS, parse_untrusted
from tests.engine.exchange.samples import DOCUMENT_SAMPLE, STATUS_SAMPLE, make_package
from tests.engine.exchange.test_edxml import FAST

OPEN = b'<edXML xmlns="http://www.mic.gov.vn/TBT/QCVN_102_2016">'
CLOSE = b"</edXML>"


def flat(elements: int, element: bytes = b"<a/>") -> bytes:
    """An edXML root holding `elements` children (so `elements + 1` elements in all)."""
    return OPEN + element * elements + CLOSE


def _refused(data: bytes, **limits: int) -> tuple[PackageInvalid, float]:
    start = time.monotonic()
    with pytest.raises(PackageInvalid) as e:
        parse_xml(data, **limits)
    return e.value, time.monotonic() - start


def test_48_mb_of_empty_elements_is_refused_within_a_second() -> None:
    data = flat(12_000_000)
    assert 45_000_000 < len(data) < 50 * 1024 * 1024  # under the size limit
    error, elapsed = _refused(data)
    assert error.code == "xml_too_many_elements" and f"{MAX_ELEMENTS:,}" in error.message
    assert elapsed < FAST, f"took {elapsed:.2f} s"


def test_the_samples_and_a_built_package_parse_under_the_limit() -> None:
    for path in (DOCUMENT_SAMPLE, STATUS_SAMPLE):
        parse_package(path.read_bytes())
    parse_package(build_document(make_package()))


def test_the_limit_counts_elements_not_tags() -> None:
    # 6 elements written with start and end tags: 12 tags, still 6 elements.
    assert len(parse_xml(OPEN + b"<a>x</a>" * 5 + CLOSE, max_elements=6)) == 5
    assert _refused(OPEN + b"<a>x</a>" * 6 + CLOSE, max_elements=6)[0].code == (
        "xml_too_many_elements"
    )
    assert len(parse_xml(flat(MAX_ELEMENTS - 1))) == MAX_ELEMENTS - 1


def test_one_element_past_the_limit_is_refused() -> None:
    assert _refused(flat(MAX_ELEMENTS))[0].code == "xml_too_many_elements"


def test_end_tags_hidden_in_a_comment_do_not_lower_the_count() -> None:
    padding = b"<!--" + b"</" * 20 + b"-->"
    assert _refused(padding + flat(10), max_elements=10)[0].code == "xml_too_many_elements"


def test_utf16_is_counted_too() -> None:
    data = ('<?xml version="1.0" encoding="UTF-16"?>' + flat(11).decode()).encode("utf-16")
    assert _refused(data, max_elements=10)[0].code == "xml_too_many_elements"


def test_the_other_limits_come_first() -> None:
    laughs = b'<!DOCTYPE edXML [<!ENTITY a "a">]>' + flat(MAX_ELEMENTS + 1)
    assert _refused(laughs)[0].code == "xml_forbidden_dtd"
    assert _refused(flat(20), max_bytes=10)[0].code == "xml_too_large"


def test_validate_reports_one_unreadable_x_code() -> None:
    [issue] = validate(flat(MAX_ELEMENTS + 1))
    assert issue.code == "X.TooManyElements" and f"{MAX_ELEMENTS:,}" in issue.message


def test_the_signature_parser_refuses_the_same() -> None:
    start = time.monotonic()
    with pytest.raises(XmlSignatureError) as e:
        parse_untrusted(flat(12_000_000))
    assert time.monotonic() - start < FAST
    assert e.value.code == "xml_too_many_elements" and MAX_XML_ELEMENTS == MAX_ELEMENTS
    assert len(parse_untrusted(OPEN + b"<a>x</a>" * (MAX_ELEMENTS - 1) + CLOSE)) == (
        MAX_ELEMENTS - 1
    )


def test_an_encoding_that_hides_markup_from_the_byte_checks_is_refused() -> None:
    # In UTF-7 `<` is `+ADw-`: 200,000 elements with a single 0x3C byte, and a DOCTYPE the
    # byte scan cannot see. Both parsers refuse the declared encoding before libxml2 runs.
    body = "<r>" + "<a/>" * 200_000 + "</r>"
    hidden = b"<?xml version='1.0' encoding='UTF-7'?>" + body.replace("<", "+ADw-").replace(
        ">", "+AD4-"
    ).encode("ascii")
    assert hidden.count(b"<") == 1
    assert _refused(hidden)[0].code == "xml_encoding_refused"
    with pytest.raises(XmlSignatureError) as e:
        parse_untrusted(hidden)
    assert e.value.code == "xml_encoding_refused"
    [issue] = validate(hidden)
    assert issue.code == "X.Encoding" and "UTF-7" in issue.message
    # Encodings that keep ASCII's bytes are read as before.
    latin = b"<?xml version='1.0' encoding='ISO-8859-1'?>" + flat(3)
    assert parse_xml(latin) is not None
