"""edXML packages: build, parse, the synthetic samples, and hostile input."""

from __future__ import annotations

import base64
import datetime as dt
import time
from pathlib import Path

import pytest
from lxml import etree

from engine.calendar import VN_TZ
from engine.errors import PackageInvalid, PackageTooLarge
from engine.exchange.edxml import (
    NS,
    Attachment,
    BusinessDocType,
    DocumentId,
    DocumentPackage,
    Organization,
    Priority,
    ResponseFor,
    StatusCode,
    StatusPackage,
    build_document,
    build_status,
    format_timestamp,
    parse_date,
    parse_document,
    parse_package,
    parse_status,
    parse_timestamp,
)
from tests.engine.exchange.samples import (
    DOCUMENT_SAMPLE,
    MESSAGE,
    PDF,
    STATUS_SAMPLE,
    ZIP,
    edit,
    make_package,
    q,
)

FAST = 1.0  # seconds a hostile package may take to be refused


# --- the samples ------------------------------------------------------------------------


def test_document_sample_parses_to_its_fields() -> None:
    pkg = parse_document(DOCUMENT_SAMPLE.read_bytes())
    mh = pkg.message_header
    assert mh.from_.organ_id == "000.01.30.H99"
    assert mh.from_.organization_in_charge == "UBND tỉnh Mẫu"
    assert [t.organ_id for t in mh.to] == ["000.00.00.G22"]
    assert mh.code.code_number == "125" and mh.code.code_notation == "SNV-VP"
    assert mh.promulgation_info.promulgation_date == dt.date(2025, 3, 14)
    assert mh.document_type.type_name == "Công văn"
    assert mh.signer_info is not None and mh.signer_info.competence == "KT. GIÁM ĐỐC"
    assert mh.due_date == dt.date(2025, 3, 28)
    assert mh.to_places == ("Văn phòng Chính phủ", "Lưu: VT, VP")
    assert mh.other_info.priority is Priority.URGENT
    assert mh.other_info.appendixes == ("Phụ lục: Số liệu thống kê",)
    assert mh.steering_type == 0
    [hop] = pkg.trace_header_list.trace_headers
    assert hop.timestamp == dt.datetime(2025, 3, 14, 9, 15, tzinfo=VN_TZ)
    assert hop.timestamp.utcoffset() == dt.timedelta(hours=7)
    business = pkg.trace_header_list.business
    assert business.business_doc_type is BusinessDocType.NEW and business.paper == 0
    [att] = pkg.attachments
    assert att.name == "minh-hoa.txt" and att.content_type == "text/plain"
    assert att.data.decode() == "Xin chào, đây là tệp minh họa.\n"


def test_status_sample_parses_with_the_meaning_of_its_code() -> None:
    status = parse_status(STATUS_SAMPLE.read_bytes())
    assert status.status_code is StatusCode.ACCEPTED
    assert status.status_code.meaning.startswith("Đã tiếp nhận / ")
    assert status.response_for.document_id == "000.01.30.H99,2025/03/14,125/SNV-VP"
    assert status.from_.organ_name == "Văn phòng Chính phủ"
    assert status.timestamp == dt.datetime(2025, 3, 14, 10, 2, 11, tzinfo=VN_TZ)
    assert status.staff_info is not None and status.staff_info.staff == "Lê Văn Tiếp Nhận"


@pytest.mark.parametrize("sample", [DOCUMENT_SAMPLE, STATUS_SAMPLE], ids=["document", "status"])
def test_samples_survive_a_rebuild(sample: Path) -> None:
    pkg = parse_package(sample.read_bytes())
    rebuilt = build_document(pkg) if isinstance(pkg, DocumentPackage) else build_status(pkg)
    assert parse_package(rebuilt) == pkg


# --- building ---------------------------------------------------------------------------


def test_built_package_uses_the_sample_layout_and_prefixes() -> None:
    root = etree.fromstring(build_document(make_package()))
    assert root.tag == q("edXML") and root.prefix is None
    envelope = root[0]
    assert envelope.tag == q("edXMLEnvelope") and envelope.prefix == "edXML"
    header, body = envelope
    assert [c.tag for c in header] == [q("MessageHeader"), q("TraceHeaderList")]
    assert all(el.prefix == "edXML" for el in header.iter())
    assert body[0].tag == q("edXMLManifest") and body[0].get("version") == "1.0"
    encoded = root[1]
    assert encoded.tag == q("AttachmentEncoded") and encoded.prefix is None
    payload = encoded[0].find(q("ContentTransferEncoded"))
    assert payload is not None and payload.prefix == "edXML"
    assert base64.b64decode(payload.text or "") == PDF


def test_built_message_header_follows_the_sample_order() -> None:
    root = etree.fromstring(build_document(make_package(response_for=None, steering_type=1)))
    order = [etree.QName(c).localname for c in root.find(f"{q('edXMLEnvelope')}/*/*")]  # type: ignore[union-attr]
    assert order == [
        "From",
        "To",
        "To",
        "DocumentId",
        "Code",
        "PromulgationInfo",
        "DocumentType",
        "Subject",
        "Content",
        "SignerInfo",
        "DueDate",
        "ToPlaces",
        "OtherInfo",
        "SteeringType",
    ]


def test_pdf_and_zip_attachments_come_back_byte_for_byte() -> None:
    pkg = parse_document(build_document(make_package()))
    assert [(a.name, a.content_type, a.data) for a in pkg.attachments] == [
        ("cong-van.pdf", "application/pdf", PDF),
        ("phu-luc.zip", "application/zip", ZIP),
    ]
    assert pkg.attachments[1].description == "Phụ lục số liệu"


def test_timestamps_are_written_in_vietnam_time() -> None:
    utc = dt.datetime(2025, 3, 14, 2, 15, 30, tzinfo=dt.UTC)
    assert format_timestamp(utc) == "2025/03/14 09:15:30"
    with pytest.raises(ValueError):
        format_timestamp(dt.datetime(2025, 3, 14, 9, 15))


def test_a_naive_timestamp_cannot_be_built() -> None:
    status = StatusPackage(
        response_for=ResponseFor(
            organ_id="000.01.30.H99", document_id="000.01.30.H99,2025/03/14,1/A"
        ),
        from_=Organization(organ_id="000.00.00.G22", organ_name="Văn phòng Chính phủ"),
        status_code=StatusCode.ARRIVED,
        timestamp=dt.datetime(2025, 3, 14, 9, 15),
    )
    with pytest.raises(PackageInvalid) as e:
        build_status(status)
    assert e.value.code == "edxml_naive_datetime"
    assert e.value.details == [{"field": "Status/Timestamp", "message": "invalid"}]


def test_text_xml_cannot_carry_is_refused_with_its_path() -> None:
    with pytest.raises(PackageInvalid) as e:
        build_document(make_package(subject="Trích yếu\x00"))
    assert e.value.code == "edxml_bad_text"
    assert e.value.details == [{"field": "MessageHeader/Subject", "message": "invalid"}]


# --- parsing variants -------------------------------------------------------------------


def _unprefixed(xml: bytes) -> bytes:
    # The same package with every element in the default namespace, no `edXML:` prefix.
    source = etree.fromstring(xml)

    def copy(el: etree._Element, parent: etree._Element | None) -> etree._Element:
        new = (
            etree.Element(el.tag, dict(el.attrib), nsmap={None: NS})
            if parent is None
            else etree.SubElement(parent, el.tag, dict(el.attrib))
        )
        new.text = el.text
        for c in el:
            if isinstance(c.tag, str):
                copy(c, new)
        return new

    return etree.tostring(copy(source, None))


def test_parse_accepts_packages_without_the_edxml_prefix() -> None:
    xml = build_document(make_package())
    unprefixed = _unprefixed(xml)
    assert b"edXML:" not in unprefixed
    assert parse_document(unprefixed) == parse_document(xml)


def test_parse_accepts_a_prefixed_root() -> None:
    xml = build_document(make_package()).replace(
        b'<edXML xmlns="http://www.mic.gov.vn/TBT/QCVN_102_2016">',
        b'<edXML:edXML xmlns:edXML="http://www.mic.gov.vn/TBT/QCVN_102_2016">',
    )
    xml = xml.replace(b"<AttachmentEncoded>", b"<edXML:AttachmentEncoded>").replace(
        b"</AttachmentEncoded>", b"</edXML:AttachmentEncoded>"
    )
    xml = xml.replace(b"</edXML>", b"</edXML:edXML>")
    for tag in (b"Attachment", b"ContentId", b"AttachmentName", b"Description", b"ContentType"):
        xml = xml.replace(b"<" + tag + b">", b"<edXML:" + tag + b">")
        xml = xml.replace(b"</" + tag + b">", b"</edXML:" + tag + b">")
    assert parse_document(xml) == make_package()


def test_status_inside_a_soap_envelope_is_found() -> None:
    status = parse_status(STATUS_SAMPLE.read_bytes())
    inner = etree.fromstring(build_status(status)).find(f".//{q('Status')}")
    soap = etree.Element(
        "{http://schemas.xmlsoap.org/soap/envelope/}Envelope",
        nsmap={"SOAP-ENV": "http://schemas.xmlsoap.org/soap/envelope/", "edXML": NS},
    )
    etree.SubElement(soap, "{http://schemas.xmlsoap.org/soap/envelope/}Header").append(inner)  # type: ignore[arg-type]
    etree.SubElement(soap, "{http://schemas.xmlsoap.org/soap/envelope/}Body")
    assert parse_package(etree.tostring(soap)) == status


def test_status_code_without_its_leading_zero_is_understood() -> None:
    xml = edit(STATUS_SAMPLE.read_bytes(), "edXMLEnvelope/edXMLHeader/Status/StatusCode", "6")
    assert parse_status(xml).status_code is StatusCode.FINISHED


def test_manifest_reference_with_xlink_href_joins_its_attachment() -> None:
    # The reference names the file by xlink:href only; the attachment lacks its name.
    root = etree.fromstring(build_document(make_package()))
    ref = root.find(f".//{q('Reference')}")
    att = root.find(f".//{q('Attachment')}")
    assert ref is not None and att is not None
    ref.remove(ref.find(q("ContentId")))  # type: ignore[arg-type]
    ref.set("{http://www.w3.org/1999/xlink}href", "cid:0001")
    att.remove(att.find(q("AttachmentName")))  # type: ignore[arg-type]
    pkg = parse_document(etree.tostring(root))
    assert pkg.attachments[0].name == "cong-van.pdf"


def test_empty_optional_dates_and_numbers_read_as_absent() -> None:
    xml = edit(build_document(make_package()), f"{MESSAGE}/DueDate", "")
    xml = edit(xml, f"{MESSAGE}/OtherInfo/PageAmount", "  ")
    mh = parse_document(xml).message_header
    assert mh.due_date is None and mh.other_info.page_amount is None


def test_date_and_timestamp_helpers_accept_iso_too() -> None:
    assert parse_date("2025/03/14") == parse_date("2025-03-14") == dt.date(2025, 3, 14)
    stamp = parse_timestamp("2025-03-14T02:15:00+00:00")
    assert stamp == dt.datetime(2025, 3, 14, 9, 15, tzinfo=VN_TZ)
    assert stamp.utcoffset() == dt.timedelta(hours=7)
    with pytest.raises(ValueError):
        parse_date("14/03/2025")


# --- DocumentId ---------------------------------------------------------------------------


def test_document_id_splits_at_the_first_slash() -> None:
    doc_id = DocumentId.parse("000.00.00.G22,2015/09/30,7816/VPCP-TTĐT")
    assert doc_id == DocumentId("000.00.00.G22", dt.date(2015, 9, 30), "7816", "VPCP-TTĐT")
    nested = DocumentId.parse("000.01.30.H99,2025/03/14,12/QĐ-UBND/SNV")
    assert (nested.number, nested.notation) == ("12", "QĐ-UBND/SNV")
    assert str(nested) == "000.01.30.H99,2025/03/14,12/QĐ-UBND/SNV"


@pytest.mark.parametrize(
    "text",
    ["", "000.00.00.G22", "000.00.00.G22,2015/13/30,1/A", "X,2015/09/30,/A", ",2015/09/30,1"],
)
def test_malformed_document_ids_are_refused(text: str) -> None:
    with pytest.raises(ValueError):
        DocumentId.parse(text)


# --- refusals -----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("xml", "code"),
    [
        (b"not xml at all", "xml_malformed"),
        (b"<edXML xmlns='http://www.mic.gov.vn/TBT/QCVN_102_2016'>", "xml_malformed"),
        (b"<edXML/>", "edxml_wrong_root"),
        (b"<edXML xmlns='http://www.e-doc.vn/Schema/'/>", "edxml_wrong_root"),
        (b"<edXML xmlns='http://www.mic.gov.vn/TBT/QCVN_102_2016'/>", "edxml_missing_header"),
    ],
    ids=["garbage", "truncated", "no-namespace", "old-namespace", "empty"],
)
def test_unusable_packages_raise_package_invalid(xml: bytes, code: str) -> None:
    with pytest.raises(PackageInvalid) as e:
        parse_document(xml)
    assert e.value.code == code
    assert e.value.http_status == 422
    assert " / " in e.value.message


def test_missing_message_header_is_named() -> None:
    xml = edit(build_document(make_package()), MESSAGE, remove=True)
    with pytest.raises(PackageInvalid) as e:
        parse_document(xml)
    assert e.value.code == "edxml_missing_message_header"


def test_out_of_range_priority_names_its_path() -> None:
    xml = edit(build_document(make_package()), f"{MESSAGE}/OtherInfo/Priority", "9")
    with pytest.raises(PackageInvalid) as e:
        parse_document(xml)
    assert e.value.code == "edxml_bad_value"
    assert e.value.details == [{"field": "MessageHeader/OtherInfo/Priority", "message": "invalid"}]


def test_bad_base64_names_the_attachment() -> None:
    xml = build_document(make_package()).replace(base64.b64encode(PDF), b"not*base64", 1)
    with pytest.raises(PackageInvalid) as e:
        parse_document(xml)
    assert e.value.code == "edxml_bad_base64"
    assert e.value.details == [
        {"field": "AttachmentEncoded/Attachment[1]/ContentTransferEncoded", "message": "invalid"}
    ]


def test_status_package_without_status_is_refused() -> None:
    with pytest.raises(PackageInvalid) as e:
        parse_status(build_document(make_package()))
    assert e.value.code == "edxml_missing_status"


def test_package_over_the_size_limit_is_refused_as_too_large() -> None:
    xml = build_document(make_package())
    with pytest.raises(PackageTooLarge) as e:
        parse_document(xml, max_bytes=len(xml) - 1)
    assert e.value.http_status == 413


def test_an_attachment_over_libxml2s_text_limit_still_parses() -> None:
    big = bytes(range(256)) * (11 * 1024 * 1024 // 256)  # 11 MB, 14.7 MB as base64
    pkg = make_package()
    xml = build_document(
        DocumentPackage(
            message_header=pkg.message_header,
            attachments=(
                Attachment(
                    content_id="cid:big", name="scan.pdf", content_type="application/pdf", data=big
                ),
            ),
        )
    )
    assert parse_document(xml).attachments[0].data == big


# --- hostile input ------------------------------------------------------------------------


def _refused_fast(xml: bytes) -> PackageInvalid:
    start = time.monotonic()
    with pytest.raises(PackageInvalid) as e:
        parse_document(xml)
    assert time.monotonic() - start < FAST
    return e.value


BILLION_LAUGHS = b"""<?xml version="1.0"?>
<!DOCTYPE edXML [
 <!ENTITY a "haha">
 <!ENTITY b "&a;&a;&a;&a;&a;&a;&a;&a;&a;&a;">
 <!ENTITY c "&b;&b;&b;&b;&b;&b;&b;&b;&b;&b;">
 <!ENTITY d "&c;&c;&c;&c;&c;&c;&c;&c;&c;&c;">
 <!ENTITY e "&d;&d;&d;&d;&d;&d;&d;&d;&d;&d;">
 <!ENTITY f "&e;&e;&e;&e;&e;&e;&e;&e;&e;&e;">
 <!ENTITY g "&f;&f;&f;&f;&f;&f;&f;&f;&f;&f;">
 <!ENTITY h "&g;&g;&g;&g;&g;&g;&g;&g;&g;&g;">
 <!ENTITY i "&h;&h;&h;&h;&h;&h;&h;&h;&h;&h;">
]>
<edXML xmlns="http://www.mic.gov.vn/TBT/QCVN_102_2016"><Subject>&i;</Subject></edXML>"""


def test_billion_laughs_is_refused_quickly() -> None:
    assert _refused_fast(BILLION_LAUGHS).code == "xml_forbidden_dtd"


def _external_entity(secret: Path) -> str:
    return (
        '<?xml version="1.0" encoding="UTF-16"?>\n'
        f'<!DOCTYPE edXML [<!ENTITY leak SYSTEM "file://{secret}">]>\n'
        '<edXML xmlns="http://www.mic.gov.vn/TBT/QCVN_102_2016"><edXMLEnvelope><edXMLHeader>'
        "<MessageHeader><Subject>&leak;</Subject></MessageHeader>"
        "</edXMLHeader></edXMLEnvelope></edXML>"
    )


@pytest.mark.parametrize("encoding", ["utf-8", "utf-16"])
def test_external_entities_are_refused_and_leak_nothing(tmp_path: Path, encoding: str) -> None:
    # UTF-16 hides the DOCTYPE from the byte scan: the parsed tree is checked too.
    secret = tmp_path / "secret.txt"
    secret.write_text("mật khẩu: hunter2")
    text = _external_entity(secret)
    if encoding == "utf-8":
        text = text.replace('encoding="UTF-16"', 'encoding="UTF-8"')
    error = _refused_fast(text.encode(encoding))
    assert error.code == "xml_forbidden_dtd"
    assert "hunter2" not in error.message


def test_xinclude_is_not_followed(tmp_path: Path) -> None:
    secret = tmp_path / "secret.txt"
    secret.write_text("hunter2")
    xml = build_document(make_package()).replace(
        "V/v báo cáo".encode(),
        f'<xi:include xmlns:xi="http://www.w3.org/2001/XInclude" href="file://{secret}" parse="text"/>'.encode(),
        1,
    )
    pkg = parse_document(xml)
    assert "hunter2" not in repr(pkg)


def test_deep_nesting_is_refused() -> None:
    xml = (
        b"<edXML xmlns='http://www.mic.gov.vn/TBT/QCVN_102_2016'>"
        + b"<a>" * 200
        + b"</a>" * 200
        + b"</edXML>"
    )
    assert _refused_fast(xml).code == "xml_too_deep"
