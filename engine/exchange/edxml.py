"""Build edXML packages (QCVN 102:2016/BTTTT) to bytes and parse them back.

A document package ("gói tin văn bản") is `edXML/edXMLEnvelope/{edXMLHeader/{MessageHeader,
TraceHeaderList}, edXMLBody/edXMLManifest}` plus `AttachmentEncoded` outside the envelope;
a status package ("gói tin trạng thái") is built as `edXML/edXMLEnvelope/edXMLHeader/Status`
(that wrapper is unverified, so parsing accepts a `Status` anywhere, SOAP envelopes too).
The values are the dataclasses of `engine.exchange.model`, re-exported here.

Parsing is lenient about leaves (a missing required text becomes "" for
`engine.exchange.validation` to report) and strict about structure and typed values.
Dates are `YYYY/MM/DD`, timestamps `YYYY/MM/DD HH:mm:ss` in Vietnam time.
"""

from __future__ import annotations

from lxml import etree

from engine.errors import PackageInvalid
from engine.exchange import codec
from engine.exchange.codec import (
    NS,
    child,
    children,
    decode_base64,
    format_date,
    format_timestamp,
    parse_date,
    parse_timestamp,
    text_of,
)
from engine.exchange.model import (
    Attachment,
    Business,
    BusinessDocType,
    BusinessDocumentInfo,
    Code,
    DocumentId,
    DocumentPackage,
    DocumentType,
    MessageHeader,
    Organization,
    OtherInfo,
    Priority,
    PromulgationInfo,
    Receiver,
    ReplacementInfo,
    ResponseFor,
    SignerInfo,
    StaffInfo,
    StatusCode,
    StatusPackage,
    TraceHeader,
    TraceHeaderList,
)
from engine.exchange.xmlsafe import MAX_PACKAGE_BYTES, parse_xml

__all__ = [
    "NS",
    "Attachment",
    "Business",
    "BusinessDocType",
    "BusinessDocumentInfo",
    "Code",
    "DocumentId",
    "DocumentPackage",
    "DocumentType",
    "MessageHeader",
    "Organization",
    "OtherInfo",
    "Priority",
    "PromulgationInfo",
    "Receiver",
    "ReplacementInfo",
    "ResponseFor",
    "SignerInfo",
    "StaffInfo",
    "StatusCode",
    "StatusPackage",
    "TraceHeader",
    "TraceHeaderList",
    "build_document",
    "build_status",
    "format_date",
    "format_timestamp",
    "is_document",
    "parse_date",
    "parse_document",
    "parse_package",
    "parse_status",
    "parse_timestamp",
    "read_document",
    "read_status",
]

# --- building ---------------------------------------------------------------------------


def _skeleton() -> tuple[etree._Element, etree._Element, etree._Element]:
    root = etree.Element(codec.qname("edXML"), nsmap={None: NS})
    envelope = etree.SubElement(root, codec.qname("edXMLEnvelope"), nsmap={"edXML": NS})
    return root, envelope, codec.sub(envelope, "edXMLHeader")


def _serialise(root: etree._Element) -> bytes:
    return etree.tostring(root, xml_declaration=True, encoding="UTF-8", pretty_print=True)


def _build_attachments(root: etree._Element, body: etree._Element, pkg: DocumentPackage) -> None:
    manifest = codec.sub(body, "edXMLManifest")
    manifest.set("version", "1.0")
    if not pkg.attachments:
        return
    encoded = codec.sub(root, "AttachmentEncoded")
    for i, a in enumerate(pkg.attachments, 1):
        path = f"AttachmentEncoded/Attachment[{i}]"
        ref = codec.sub(manifest, "Reference")
        att = codec.sub(encoded, "Attachment")
        for el, order in ((ref, _REFERENCE_ORDER), (att, _ATTACHMENT_ORDER)):
            for tag, value in zip(order, _attachment_texts(a, order), strict=True):
                if value is not None:
                    codec.put_text(codec.sub(el, tag), value, f"{path}/{tag}")
        payload = etree.SubElement(att, codec.qname("ContentTransferEncoded"), nsmap={"edXML": NS})
        payload.text = codec.encode_base64(a.data)


_REFERENCE_ORDER = ("ContentId", "ContentType", "Description", "AttachmentName")
_ATTACHMENT_ORDER = ("ContentId", "AttachmentName", "Description", "ContentType")


def _attachment_texts(a: Attachment, order: tuple[str, ...]) -> list[str | None]:
    values = {
        "ContentId": a.content_id,
        "ContentType": a.content_type,
        "Description": a.description,
        "AttachmentName": a.name,
    }
    return [values[tag] for tag in order]


def build_document(package: DocumentPackage) -> bytes:
    """Serialise a document package to edXML bytes (UTF-8), unsigned.

    Raises PackageInvalid for text XML cannot carry or a naive datetime.
    """
    root, envelope, header = _skeleton()
    codec.put(header, "MessageHeader", package.message_header, "MessageHeader")
    codec.put(header, "TraceHeaderList", package.trace_header_list, "TraceHeaderList")
    _build_attachments(root, codec.sub(envelope, "edXMLBody"), package)
    return _serialise(root)


def build_status(package: StatusPackage) -> bytes:
    """Serialise a status package as `edXML/edXMLEnvelope/edXMLHeader/Status`, unsigned.

    Raises PackageInvalid for text XML cannot carry or a naive datetime.
    """
    root, _, header = _skeleton()
    codec.put(header, "Status", package, "Status")
    return _serialise(root)


# --- parsing ----------------------------------------------------------------------------


def _wrong(message: str, code: str, path: str | None = None) -> PackageInvalid:
    return PackageInvalid(
        message, code=code, details=[{"field": path, "message": code}] if path else None
    )


def _header(root: etree._Element) -> etree._Element:
    if not codec.is_named(root, "edXML") or etree.QName(root).namespace != NS:
        raise _wrong(
            f"Phần tử gốc phải là edXML thuộc không gian tên {NS} (thấy {root.tag}) / "
            f"The root must be edXML in namespace {NS} (found {root.tag})",
            "edxml_wrong_root",
        )
    envelope = child(root, "edXMLEnvelope")
    header = child(envelope, "edXMLHeader") if envelope is not None else None
    if header is None:
        raise _wrong(
            "Thiếu edXMLEnvelope/edXMLHeader / The package lacks edXMLEnvelope/edXMLHeader",
            "edxml_missing_header",
            "edXMLEnvelope/edXMLHeader",
        )
    return header


def _pick(tag: str, att: etree._Element, ref: etree._Element | None) -> str | None:
    # The Attachment's own value first, then the manifest Reference's.
    own = text_of(att, tag)
    return own if own is not None else text_of(ref, tag)


def _read_attachments(root: etree._Element) -> tuple[Attachment, ...]:
    refs = {codec.reference_id(r): r for r in codec.manifest_references(root)}
    out = []
    for i, att in enumerate(children(child(root, "AttachmentEncoded"), "Attachment"), 1):
        path = f"AttachmentEncoded/Attachment[{i}]"
        ref = refs.get(text_of(att, "ContentId") or "")
        payload = child(att, "ContentTransferEncoded")
        if payload is None:
            raise _wrong(
                f"{path}: thiếu ContentTransferEncoded / missing ContentTransferEncoded",
                "edxml_missing_attachment_data",
                path,
            )
        out.append(
            Attachment(
                content_id=_pick("ContentId", att, ref) or "",
                name=_pick("AttachmentName", att, ref) or "",
                content_type=_pick("ContentType", att, ref) or "",
                data=decode_base64(payload.text or "", f"{path}/ContentTransferEncoded"),
                description=_pick("Description", att, ref),
            )
        )
    return tuple(out)


def read_document(root: etree._Element) -> DocumentPackage:
    """The document package in a parsed tree. Raises PackageInvalid."""
    header = _header(root)
    message = child(header, "MessageHeader")
    if message is None:
        raise _wrong(
            "Thiếu MessageHeader / The package lacks a MessageHeader",
            "edxml_missing_message_header",
            "MessageHeader",
        )
    trace = child(header, "TraceHeaderList")
    return DocumentPackage(
        message_header=codec.read(message, MessageHeader, "MessageHeader"),
        trace_header_list=codec.read(trace, TraceHeaderList, "TraceHeaderList")
        if trace is not None
        else TraceHeaderList(),
        attachments=_read_attachments(root),
    )


def read_status(root: etree._Element) -> StatusPackage:
    """The status package in a parsed tree: its one `Status`, wherever it is (a SOAP
    wrapper is accepted); more than one is refused, so no second copy can hide anywhere."""
    found = list(root.iter(codec.qname("Status"))) + list(root.iter("Status"))
    if len(found) > 1:
        raise _wrong(
            "Gói tin có nhiều phần tử Status / the package has more than one Status element",
            "edxml_multiple_status",
            "Status",
        )
    status = found[0] if found else None
    if status is None:
        raise _wrong(
            "Không tìm thấy phần tử Status / No Status element in the package",
            "edxml_missing_status",
            "Status",
        )
    return codec.read(status, StatusPackage, "Status")


def parse_document(data: bytes, *, max_bytes: int = MAX_PACKAGE_BYTES) -> DocumentPackage:
    """Parse a document package. Raises PackageInvalid (PackageTooLarge past `max_bytes`)."""
    return read_document(parse_xml(data, max_bytes=max_bytes))


def parse_status(data: bytes, *, max_bytes: int = MAX_PACKAGE_BYTES) -> StatusPackage:
    """Parse a status package. Raises PackageInvalid (PackageTooLarge past `max_bytes`)."""
    return read_status(parse_xml(data, max_bytes=max_bytes))


def parse_package(
    data: bytes, *, max_bytes: int = MAX_PACKAGE_BYTES
) -> DocumentPackage | StatusPackage:
    """Parse either kind: a package with a MessageHeader is a document, else a status.

    Raises PackageInvalid (PackageTooLarge past `max_bytes`).
    """
    root = parse_xml(data, max_bytes=max_bytes)
    return read_document(root) if is_document(root) else read_status(root)


def is_document(root: etree._Element) -> bool:
    """Whether a parsed tree is an edXML document package (has a MessageHeader)."""
    envelope = child(root, "edXMLEnvelope")
    header = child(envelope, "edXMLHeader") if envelope is not None else None
    return header is not None and child(header, "MessageHeader") is not None
