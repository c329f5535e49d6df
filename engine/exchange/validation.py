"""Check an edXML package the way the vendors' checkers do (Bkav eDoc, vn-standards §1.8).

`validate(bytes)` never raises for bad input: it returns every problem found, each with
a code, the path of the element (`MessageHeader/To[2]/OrganId`) and a message in
Vietnamese and English. Codes follow the Bkav checker: `N.<path>` a required value is
missing, `R.<path>` a value is out of range, too long, duplicated or badly formatted,
`M.<path>` an attachment's MIME type, encoding or manifest entry is wrong; we add
`S.Signature` for the XML signature and `X.<reason>` for XML that cannot be read
(`UNREADABLE`) or is not an edXML package at all (`X.Root`).
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass

from cryptography import x509
from lxml import etree

from engine.errors import PackageInvalid
from engine.exchange import codec
from engine.exchange.codec import child, children
from engine.exchange.edxml import DocumentId, StatusCode, is_document, read_document, read_status
from engine.exchange.xmlsafe import MAX_PACKAGE_BYTES, parse_xml
from signing.errors import XmlSignatureError
from signing.trust import TrustSettings
from signing.xmldsig import verify_integrity, verify_package

__all__ = ["UNREADABLE", "ValidationIssue", "validate"]

UNREADABLE = frozenset(
    {"X.TooLarge", "X.Malformed", "X.Doctype", "X.TooDeep", "X.TooManyElements", "X.Encoding"}
)
_X_CODES = {
    "xml_too_large": "X.TooLarge",
    "xml_malformed": "X.Malformed",
    "xml_forbidden_dtd": "X.Doctype",
    "xml_too_deep": "X.TooDeep",
    "xml_too_many_elements": "X.TooManyElements",
    "xml_encoding_refused": "X.Encoding",
}
_LABELS = {
    "MessageHeader.From": ("Cơ quan gửi", "Sender (From)"),
    "MessageHeader.From.OrganId": ("Mã định danh cơ quan gửi", "From/OrganId"),
    "MessageHeader.From.OrganName": ("Tên cơ quan gửi", "From/OrganName"),
    "MessageHeader.To": ("Nơi nhận văn bản", "Recipient (To)"),
    "MessageHeader.To.OrganId": ("Mã định danh nơi nhận", "To/OrganId"),
    "MessageHeader.DocumentId": ("Mã văn bản", "DocumentId"),
    "MessageHeader.Code.CodeNumber": ("Số văn bản", "CodeNumber"),
    "MessageHeader.Code.CodeNotation": ("Ký hiệu văn bản", "CodeNotation"),
    "MessageHeader.PromulgationInfo.PromulgationDate": ("Ngày ban hành", "PromulgationDate"),
    "MessageHeader.DocumentType.Type": ("Loại văn bản", "DocumentType/Type"),
    "MessageHeader.Subject": ("Trích yếu", "Subject"),
    "MessageHeader.Content": ("Nội dung tóm tắt", "Content"),
    "MessageHeader.DueDate": ("Hạn xử lý", "DueDate"),
    "MessageHeader.ToPlaces.Place": ("Nơi nhận (ToPlaces)", "ToPlaces/Place"),
    "MessageHeader.OtherInfo.Priority": ("Độ khẩn", "Priority"),
    "MessageHeader.OtherInfo.Appendixes.Appendix": ("Tên phụ lục", "Appendix"),
    "TraceHeaderList.Bussiness.BussinessDocType": ("Loại nghiệp vụ", "BussinessDocType"),
    "AttachmentEncoded.Attachment.AttachmentName": ("Tên tệp đính kèm", "AttachmentName"),
    "edXMLManifest.Reference.AttachmentName": ("Tên tệp đính kèm", "AttachmentName"),
    "Status.StatusCode": ("Mã trạng thái", "StatusCode"),
}
_MIME = re.compile(r"^[\w.+-]+/[\w.+-]+(\s*;.*)?$")


def _ok(parse: Callable[[str], object]) -> Callable[[str], bool]:
    def check(text: str) -> bool:
        try:
            parse(text)
        except (ValueError, KeyError):
            return False
        return True

    return check


def _int_between(lo: int, hi: int) -> Callable[[str], bool]:
    return lambda text: text.strip().isdigit() and lo <= int(text) <= hi


# kind -> (test, Vietnamese, English, code prefix)
_KINDS: dict[str, tuple[Callable[[str], bool], str, str, str]] = {
    "date": (_ok(codec.parse_date), "không phải ngày YYYY/MM/DD", "is not a YYYY/MM/DD date", "R"),
    "timestamp": (
        _ok(codec.parse_timestamp),
        "không phải thời điểm YYYY/MM/DD HH:mm:ss",
        "is not a YYYY/MM/DD HH:mm:ss timestamp",
        "R",
    ),
    "int": (_ok(int), "không phải số nguyên", "is not a whole number", "R"),
    "priority": (_int_between(0, 4), "phải từ 0 đến 4", "must be 0 to 4", "R"),
    "doc_type": (_int_between(0, 3), "phải từ 0 đến 3", "must be 0 to 3", "R"),
    "receiver_type": (_int_between(0, 1), "phải là 0 hoặc 1", "must be 0 or 1", "R"),
    "status": (
        _ok(StatusCode),
        f"phải là một trong {', '.join(StatusCode)}",
        f"must be one of {', '.join(StatusCode)}",
        "R",
    ),
    "document_id": (
        _ok(DocumentId.parse),
        "phải có dạng MãĐịnhDanh,YYYY/MM/DD,số/ký hiệu",
        "must read OrganId,YYYY/MM/DD,number/notation",
        "R",
    ),
    "mime": (lambda t: bool(_MIME.match(t)), "không phải kiểu MIME", "is not a MIME type", "M"),
}


@dataclass(frozen=True)
class ValidationIssue:
    """One problem: `code` (e.g. `R.MessageHeader.Subject`), `path`, bilingual `message`."""

    code: str
    path: str
    message: str

    def as_dict(self) -> dict[str, str]:
        """The JSON shape: {"code", "path", "message"}."""
        return {"code": self.code, "path": self.path, "message": self.message}


def _code_path(path: str) -> str:
    return re.sub(r"\[\d+\]", "", path).replace("/", ".")


class _Checker:
    def __init__(self) -> None:
        self.issues: list[ValidationIssue] = []

    def add(self, prefix: str, path: str, vi: str, en: str) -> None:
        self.issues.append(ValidationIssue(f"{prefix}.{_code_path(path)}", path, f"{vi} / {en}"))

    def label(self, path: str) -> tuple[str, str]:
        last = path.rsplit("/", 1)[-1].split("[")[0]
        return _LABELS.get(_code_path(path), (last, last))

    def missing(self, path: str) -> None:
        vi, en = self.label(path)
        self.add("N", path, f"Thiếu {vi.lower()}", f"{en} is missing")

    def value(
        self,
        el: etree._Element | None,
        path: str,
        *,
        required: bool = False,
        max_len: int | None = None,
        kind: str | None = None,
    ) -> str | None:
        """Check one leaf; return its stripped text (None when absent)."""
        text = None if el is None else (el.text or "").strip()
        if not text:
            if required:
                self.missing(path)
            return text
        vi, en = self.label(path)
        if max_len is not None and len(text) > max_len:
            self.add(
                "R", path, f"{vi} dài quá {max_len} ký tự", f"{en} longer than {max_len} characters"
            )
        if kind is not None:
            test, kind_vi, kind_en, prefix = _KINDS[kind]
            if not test(text):
                self.add(prefix, path, f"{vi} {kind_vi} ({text[:40]!r})", f"{en} {kind_en}")
        return text


def _check_organ(c: _Checker, el: etree._Element | None, path: str) -> None:
    if el is None:
        c.missing(path)
        return
    c.value(child(el, "OrganId"), f"{path}/OrganId", required=True)
    c.value(child(el, "OrganName"), f"{path}/OrganName", required=True)


def _check_recipients(c: _Checker, mh: etree._Element) -> None:
    tos = children(mh, "To")
    if not tos:
        c.missing("MessageHeader/To")
    seen: set[str] = set()
    for i, to in enumerate(tos, 1):
        path = f"MessageHeader/To[{i}]/OrganId"
        organ = c.value(child(to, "OrganId"), path, required=True)
        if organ and organ in seen:
            c.add("R", path, f"Nơi nhận {organ} bị trùng", f"To OrganId {organ} is duplicate")
        seen.add(organ or "")
    for i, place in enumerate(children(child(mh, "ToPlaces"), "Place"), 1):
        c.value(place, f"MessageHeader/ToPlaces/Place[{i}]", max_len=150)


def _check_message_header(c: _Checker, mh: etree._Element | None) -> None:
    if mh is None:
        c.missing("MessageHeader")
        return
    p = "MessageHeader"
    _check_organ(c, child(mh, "From"), f"{p}/From")
    _check_recipients(c, mh)
    c.value(child(mh, "DocumentId"), f"{p}/DocumentId", required=True, kind="document_id")
    for tag in ("CodeNumber", "CodeNotation"):
        c.value(child(child(mh, "Code"), tag), f"{p}/Code/{tag}", required=True)
    prom = child(mh, "PromulgationInfo")
    c.value(
        child(prom, "PromulgationDate"),
        f"{p}/PromulgationInfo/PromulgationDate",
        required=True,
        kind="date",
    )
    c.value(child(child(mh, "DocumentType"), "Type"), f"{p}/DocumentType/Type", required=True)
    c.value(child(mh, "Subject"), f"{p}/Subject", required=True, max_len=500)
    c.value(child(mh, "Content"), f"{p}/Content", max_len=500)
    c.value(child(mh, "DueDate"), f"{p}/DueDate", kind="date")
    other = child(mh, "OtherInfo")
    c.value(child(other, "Priority"), f"{p}/OtherInfo/Priority", kind="priority")
    for tag in ("PromulgationAmount", "PageAmount"):
        c.value(child(other, tag), f"{p}/OtherInfo/{tag}", kind="int")
    for i, app in enumerate(children(child(other, "Appendixes"), "Appendix"), 1):
        c.value(app, f"{p}/OtherInfo/Appendixes/Appendix[{i}]", max_len=250)
    response = child(mh, "ResponseFor")
    if response is not None:
        _check_response_for(c, response, f"{p}/ResponseFor")
    c.value(child(mh, "SteeringType"), f"{p}/SteeringType", kind="int")


def _check_response_for(c: _Checker, el: etree._Element | None, path: str) -> None:
    if el is None:
        c.missing(path)
        return
    c.value(child(el, "OrganId"), f"{path}/OrganId", required=True)
    c.value(child(el, "PromulgationDate"), f"{path}/PromulgationDate", kind="date")
    c.value(child(el, "DocumentId"), f"{path}/DocumentId", required=True, kind="document_id")


def _check_trace(c: _Checker, thl: etree._Element | None) -> None:
    for i, th in enumerate(children(thl, "TraceHeader"), 1):
        path = f"TraceHeaderList/TraceHeader[{i}]"
        c.value(child(th, "OrganId"), f"{path}/OrganId", required=True)
        c.value(child(th, "Timestamp"), f"{path}/Timestamp", required=True, kind="timestamp")
    business = child(thl, "Bussiness")
    p = "TraceHeaderList/Bussiness"
    c.value(child(business, "BussinessDocType"), f"{p}/BussinessDocType", kind="doc_type")
    c.value(child(business, "DocumentId"), f"{p}/DocumentId", kind="document_id")
    c.value(child(business, "Paper"), f"{p}/Paper", kind="int")
    info = child(child(business, "BussinessDocumentInfo"), "ReceiverList")
    for i, rec in enumerate(children(info, "Receiver"), 1):
        path = f"{p}/BussinessDocumentInfo/ReceiverList/Receiver[{i}]"
        c.value(
            child(rec, "ReceiverType"), f"{path}/ReceiverType", required=True, kind="receiver_type"
        )
        c.value(child(rec, "OrganId"), f"{path}/OrganId", required=True)
    for i, rep in enumerate(children(child(business, "ReplacementInfoList"), "ReplacementInfo"), 1):
        path = f"{p}/ReplacementInfoList/ReplacementInfo[{i}]/DocumentId"
        c.value(child(rep, "DocumentId"), path, required=True, kind="document_id")


def _check_attachments(c: _Checker, root: etree._Element) -> dict[str, str]:
    """Check AttachmentEncoded; return the path of each ContentId."""
    ids: dict[str, str] = {}
    for i, att in enumerate(children(child(root, "AttachmentEncoded"), "Attachment"), 1):
        path = f"AttachmentEncoded/Attachment[{i}]"
        cid = c.value(child(att, "ContentId"), f"{path}/ContentId", required=True)
        if cid and cid in ids:
            c.add(
                "M",
                f"{path}/ContentId",
                f"ContentId {cid} bị trùng",
                f"ContentId {cid} is duplicate",
            )
        elif cid:
            ids[cid] = path
        c.value(child(att, "AttachmentName"), f"{path}/AttachmentName", required=True, max_len=200)
        c.value(child(att, "ContentType"), f"{path}/ContentType", kind="mime")
        payload = c.value(
            child(att, "ContentTransferEncoded"), f"{path}/ContentTransferEncoded", required=True
        )
        try:
            codec.decode_base64(payload or "", path)
        except PackageInvalid:
            c.add(
                "M",
                f"{path}/ContentTransferEncoded",
                "Nội dung không phải base64",
                "Content is not valid base64",
            )
    return ids


def _check_manifest(c: _Checker, root: etree._Element, ids: dict[str, str]) -> None:
    listed = set()
    for i, ref in enumerate(codec.manifest_references(root), 1):
        path = f"edXMLManifest/Reference[{i}]"
        cid = codec.reference_id(ref)
        listed.add(cid)
        if not cid:
            c.missing(f"{path}/ContentId")
        elif cid not in ids:
            c.add(
                "M",
                f"{path}/ContentId",
                f"Không có tệp đính kèm {cid}",
                f"No attachment has ContentId {cid}",
            )
        c.value(child(ref, "AttachmentName"), f"{path}/AttachmentName", max_len=200)
    for cid, path in ids.items():
        if cid not in listed:
            c.add(
                "M",
                f"{path}/ContentId",
                f"Tệp {cid} không có trong edXMLManifest",
                f"Attachment {cid} is not in the edXMLManifest",
            )


def _check_status(c: _Checker, status: etree._Element) -> None:
    _check_response_for(c, child(status, "ResponseFor"), "Status/ResponseFor")
    _check_organ(c, child(status, "From"), "Status/From")
    c.value(child(status, "StatusCode"), "Status/StatusCode", required=True, kind="status")
    c.value(child(status, "Timestamp"), "Status/Timestamp", required=True, kind="timestamp")


def _find_status(root: etree._Element) -> etree._Element | None:
    found = next(root.iter(codec.qname("Status")), None)
    return found if found is not None else next(root.iter("Status"), None)


def _check_tree(root: etree._Element) -> tuple[list[ValidationIssue], bool]:
    c = _Checker()
    document = (
        codec.is_named(root, "edXML")
        and etree.QName(root).namespace == codec.NS
        and is_document(root)
    )
    status = None if document else _find_status(root)
    if document:
        header = child(child(root, "edXMLEnvelope"), "edXMLHeader")
        _check_message_header(c, child(header, "MessageHeader"))
        _check_trace(c, child(header, "TraceHeaderList"))
        _check_manifest(c, root, _check_attachments(c, root))
    elif status is not None:
        _check_status(c, status)
    else:
        c.issues.append(
            ValidationIssue(
                "X.Root",
                "",
                f"Không phải gói tin edXML (phần tử gốc {root.tag}, không có MessageHeader hay Status) / "
                f"Not an edXML package (root {root.tag}, no MessageHeader or Status)",
            )
        )
    return c.issues, document


def _from_parse_error(e: PackageInvalid) -> ValidationIssue:
    path = str(e.details[0]["field"]) if e.details else ""
    prefix = {"edxml_missing_element": "N", "edxml_bad_base64": "M"}.get(e.code, "R")
    return ValidationIssue(
        f"{prefix}.{_code_path(path)}" if path else "X.Structure", path, e.message
    )


def validate(
    data: bytes,
    *,
    certificate: x509.Certificate | None = None,
    trust: TrustSettings | None = None,
    max_bytes: int = MAX_PACKAGE_BYTES,
    signed: bool = False,
) -> list[ValidationIssue]:
    """Every problem of an edXML package (empty list: valid). Never raises for bad input.

    With `certificate` (the sender's) and/or `trust` (CA roots) the XML signature must
    be present and hold (`S.Signature`); with only `signed`, it must be present and hold
    against the certificate it carries (unchanged since signed; the signer not vouched for).
    """
    try:
        root = parse_xml(data, max_bytes=max_bytes)
    except PackageInvalid as e:
        return [ValidationIssue(_X_CODES.get(e.code, "X.Malformed"), "", e.message)]
    issues, document = _check_tree(root)
    if not issues:  # what the checks above missed, parsing finds
        try:
            if document:
                read_document(root)
            else:
                read_status(root)
        except PackageInvalid as e:
            issues.append(_from_parse_error(e))
    try:
        if certificate is not None or trust is not None:
            verify_package(data, expected=certificate, trust=trust, max_bytes=max_bytes)
        elif signed:
            verify_integrity(data, max_bytes=max_bytes)
    except XmlSignatureError as e:
        issues.append(ValidationIssue("S.Signature", "Signature", e.message))
    return issues
