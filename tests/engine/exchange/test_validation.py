"""The edXML checker: Bkav-style codes and paths, bilingual messages, never an exception."""

from __future__ import annotations

import pytest
from lxml import etree

from engine.exchange.edxml import Organization, build_document
from engine.exchange.validation import UNREADABLE, ValidationIssue, validate
from signing.keys import load_pkcs12
from signing.trust import TrustSettings
from signing.xmldsig import sign_package
from tests.engine.exchange.samples import (
    DOCUMENT_SAMPLE,
    HEADER,
    MESSAGE,
    STATUS_SAMPLE,
    edit,
    make_package,
    q,
)
from tests.engine.exchange.test_edxml import BILLION_LAUGHS
from tests.pki import PASSWORD, TestPki


def _codes(issues: list[ValidationIssue]) -> dict[str, str]:
    return {i.path: i.code for i in issues}


def test_samples_and_built_packages_are_valid() -> None:
    assert validate(DOCUMENT_SAMPLE.read_bytes()) == []
    assert validate(STATUS_SAMPLE.read_bytes()) == []
    assert validate(build_document(make_package())) == []


def test_required_values_are_reported_as_n_codes() -> None:
    xml = build_document(make_package())
    for path in ("From/OrganName", "Subject", "DocumentId", "Code/CodeNumber"):
        xml = edit(xml, f"{MESSAGE}/{path}", remove=True)
    issues = validate(xml)
    assert _codes(issues) == {
        "MessageHeader/From/OrganName": "N.MessageHeader.From.OrganName",
        "MessageHeader/Subject": "N.MessageHeader.Subject",
        "MessageHeader/DocumentId": "N.MessageHeader.DocumentId",
        "MessageHeader/Code/CodeNumber": "N.MessageHeader.Code.CodeNumber",
    }
    subject = next(i for i in issues if i.path == "MessageHeader/Subject")
    assert subject.message == "Thiếu trích yếu / Subject is missing"


def test_a_package_without_recipients_is_refused() -> None:
    issues = validate(build_document(make_package(to=())))
    assert [(i.code, i.path) for i in issues] == [("N.MessageHeader.To", "MessageHeader/To")]


def test_duplicate_recipient_is_reported_at_its_position() -> None:
    to = Organization(organ_id="000.00.00.G22", organ_name="Văn phòng Chính phủ")
    issues = validate(build_document(make_package(to=(to, to))))
    [issue] = issues
    assert (issue.code, issue.path) == ("R.MessageHeader.To.OrganId", "MessageHeader/To[2]/OrganId")
    assert "000.00.00.G22" in issue.message and "duplicate" in issue.message


@pytest.mark.parametrize(
    ("field", "limit", "path", "code"),
    [
        ("subject", 500, "MessageHeader/Subject", "R.MessageHeader.Subject"),
        ("content", 500, "MessageHeader/Content", "R.MessageHeader.Content"),
        ("to_places", 150, "MessageHeader/ToPlaces/Place[1]", "R.MessageHeader.ToPlaces.Place"),
    ],
)
def test_lengths_are_capped(field: str, limit: int, path: str, code: str) -> None:
    ok = "ạ" * limit
    value: object = (ok,) if field == "to_places" else ok
    assert validate(build_document(make_package(**{field: value}))) == []
    too_long: object = (ok + "b",) if field == "to_places" else ok + "b"
    [issue] = validate(build_document(make_package(**{field: too_long})))
    assert (issue.code, issue.path) == (code, path)
    assert f"{limit}" in issue.message and " / " in issue.message


def test_appendix_and_attachment_names_are_capped() -> None:
    xml = edit(
        build_document(make_package()), f"{MESSAGE}/OtherInfo/Appendixes/Appendix", "p" * 251
    )
    root = etree.fromstring(xml)
    for el in root.iter(q("AttachmentName")):
        el.text = "t" * 201
    codes = _codes(validate(etree.tostring(root)))
    assert codes == {
        "MessageHeader/OtherInfo/Appendixes/Appendix[1]": "R.MessageHeader.OtherInfo.Appendixes.Appendix",
        "AttachmentEncoded/Attachment[1]/AttachmentName": "R.AttachmentEncoded.Attachment.AttachmentName",
        "AttachmentEncoded/Attachment[2]/AttachmentName": "R.AttachmentEncoded.Attachment.AttachmentName",
        "edXMLManifest/Reference[1]/AttachmentName": "R.edXMLManifest.Reference.AttachmentName",
        "edXMLManifest/Reference[2]/AttachmentName": "R.edXMLManifest.Reference.AttachmentName",
    }


@pytest.mark.parametrize(
    ("path", "value", "code"),
    [
        (f"{MESSAGE}/OtherInfo/Priority", "5", "R.MessageHeader.OtherInfo.Priority"),
        (f"{MESSAGE}/OtherInfo/Priority", "khẩn", "R.MessageHeader.OtherInfo.Priority"),
        (
            f"{HEADER}/TraceHeaderList/Bussiness/BussinessDocType",
            "4",
            "R.TraceHeaderList.Bussiness.BussinessDocType",
        ),
        (
            f"{MESSAGE}/PromulgationInfo/PromulgationDate",
            "14/03/2025",
            "R.MessageHeader.PromulgationInfo.PromulgationDate",
        ),
        (f"{MESSAGE}/DueDate", "2025/02/30", "R.MessageHeader.DueDate"),
        (f"{MESSAGE}/DocumentId", "125/SNV-VP", "R.MessageHeader.DocumentId"),
        (
            f"{HEADER}/TraceHeaderList/TraceHeader/Timestamp",
            "2025/03/14 25:00:00",
            "R.TraceHeaderList.TraceHeader.Timestamp",
        ),
        (f"{MESSAGE}/OtherInfo/PageAmount", "hai", "R.MessageHeader.OtherInfo.PageAmount"),
    ],
)
def test_values_out_of_range_or_format_are_r_codes(path: str, value: str, code: str) -> None:
    issues = validate(edit(build_document(make_package()), path, value))
    assert [i.code for i in issues] == [code]


def test_status_code_must_be_in_the_list() -> None:
    xml = edit(STATUS_SAMPLE.read_bytes(), f"{HEADER}/Status/StatusCode", "07")
    [issue] = validate(xml)
    assert (issue.code, issue.path) == ("R.Status.StatusCode", "Status/StatusCode")
    assert "01, 02, 03, 04, 05, 06, 13, 15, 16" in issue.message


def test_status_without_timestamp_or_document_is_incomplete() -> None:
    xml = edit(STATUS_SAMPLE.read_bytes(), f"{HEADER}/Status/Timestamp", remove=True)
    xml = edit(xml, f"{HEADER}/Status/ResponseFor/DocumentId", "")
    assert {i.code for i in validate(xml)} == {
        "N.Status.Timestamp",
        "N.Status.ResponseFor.DocumentId",
    }


def test_manifest_and_attachments_must_match() -> None:
    root = etree.fromstring(build_document(make_package()))
    ref_ids = list(root.iter(q("ContentId")))
    ref_ids[0].text = "cid:khong-co"  # the manifest's first Reference
    root.find(f".//{q('Attachment')}").find(q("ContentType")).text = "pdf"  # type: ignore[union-attr]
    payload = root.find(f".//{q('ContentTransferEncoded')}")
    payload.text = "%%%"  # type: ignore[union-attr]
    codes = _codes(validate(etree.tostring(root)))
    assert codes == {
        "edXMLManifest/Reference[1]/ContentId": "M.edXMLManifest.Reference.ContentId",
        "AttachmentEncoded/Attachment[1]/ContentId": "M.AttachmentEncoded.Attachment.ContentId",
        "AttachmentEncoded/Attachment[1]/ContentType": "M.AttachmentEncoded.Attachment.ContentType",
        "AttachmentEncoded/Attachment[1]/ContentTransferEncoded": "M.AttachmentEncoded.Attachment.ContentTransferEncoded",
    }


@pytest.mark.parametrize(
    ("data", "code"),
    [
        (b"", "X.Malformed"),
        (b"%PDF-1.4 not xml", "X.Malformed"),
        (BILLION_LAUGHS, "X.Doctype"),
        (b"<a>" * 100 + b"</a>" * 100, "X.TooDeep"),
    ],
    ids=["empty", "pdf", "billion-laughs", "deep"],
)
def test_unreadable_input_gives_one_x_code(data: bytes, code: str) -> None:
    [issue] = validate(data)
    assert issue.code == code and code in UNREADABLE


def test_size_limit_is_an_x_code() -> None:
    xml = build_document(make_package())
    assert [i.code for i in validate(xml, max_bytes=100)] == ["X.TooLarge"]


def test_xml_that_is_not_edxml_is_reported_as_such() -> None:
    [issue] = validate("<html><body>Xin chào</body></html>".encode())
    assert issue.code == "X.Root" and issue.code not in UNREADABLE


def test_signature_is_checked_when_a_certificate_is_given(pki: TestPki) -> None:
    xml = build_document(make_package())
    [unsigned] = validate(xml, certificate=pki.seal.cert)
    assert (unsigned.code, unsigned.path) == ("S.Signature", "Signature")
    assert "chưa được ký" in unsigned.message
    signed = sign_package(xml, load_pkcs12(pki.pkcs12(pki.seal), PASSWORD))
    assert validate(signed) == []
    assert validate(signed, certificate=pki.seal.cert) == []
    assert validate(signed, trust=TrustSettings.of([pki.root.cert])) == []
    [wrong] = validate(signed, certificate=pki.official.cert)
    assert wrong.code == "S.Signature" and "Nguyễn Văn Ánh" not in wrong.message
    tampered = signed.replace("Mẫu".encode(), b"Mau", 1)
    [changed] = validate(tampered, certificate=pki.seal.cert)
    assert changed.code == "S.Signature" and "changed after it was signed" in changed.message


def test_issues_serialise_to_the_json_shape() -> None:
    [issue] = validate(build_document(make_package(to=())))
    assert issue.as_dict() == {
        "code": "N.MessageHeader.To",
        "path": "MessageHeader/To",
        "message": "Thiếu nơi nhận văn bản / Recipient (To) is missing",
    }
