"""The values of edXML packages (QCVN 102:2016/BTTTT) as frozen dataclasses and enums.

Field order and names follow `standards/vn-standards.md` §1. Each field maps to the child
element of the same name in CamelCase (`organ_id` → `OrganId`) unless its metadata says
otherwise: `xml` renames (`Bussiness…` keeps the standard's spelling in XML only),
`item` makes a tuple a wrapper of repeated elements (`ToPlaces/Place`). The mapping
itself is `engine.exchange.codec`; building and parsing whole packages is
`engine.exchange.edxml`.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field
from enum import IntEnum, StrEnum
from typing import Any

from engine.exchange.codec import format_date, parse_date

__all__ = [
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
]


class Priority(IntEnum):
    """OtherInfo/Priority: độ khẩn."""

    NORMAL = 0  # thường
    URGENT = 1  # khẩn
    VERY_URGENT = 2  # thượng khẩn
    FLASH = 3  # hỏa tốc
    FLASH_SCHEDULED = 4  # hỏa tốc hẹn giờ


class BusinessDocType(IntEnum):
    """Bussiness/BussinessDocType: what the package does to the document."""

    NEW = 0  # văn bản mới
    REVOKE = 1  # thu hồi
    UPDATE = 2  # cập nhật
    REPLACE = 3  # thay thế


class StatusCode(StrEnum):
    """Status/StatusCode; `meaning` gives the wording (Vietnamese / English)."""

    ARRIVED = "01"
    REJECTED = "02"
    ACCEPTED = "03"
    AWAITING_ASSIGNMENT = "04"
    PROCESSING = "05"
    FINISHED = "06"
    RECALLED = "13"
    CHANGE_ACCEPTED = "15"
    CHANGE_REFUSED = "16"

    @property
    def meaning(self) -> str:
        return _STATUS_MEANINGS[self.value]

    @classmethod
    def _missing_(cls, value: object) -> StatusCode | None:
        # "3" and "003" mean "03"
        if isinstance(value, str) and value.strip().isdigit():
            return cls._value2member_map_.get(value.strip().lstrip("0").zfill(2))  # type: ignore[return-value]
        return None


_STATUS_MEANINGS = {
    "01": "Đã đến / Arrived",
    "02": "Từ chối tiếp nhận / Rejected",
    "03": "Đã tiếp nhận / Accepted and registered",
    "04": "Đã đến, đang chờ phân công / Awaiting assignment",
    "05": "Đã phân công, đang xử lý / Assigned, being processed",
    "06": "Đã xử lý xong / Finished",
    "13": "Thu hồi văn bản / Recalled by the sender",
    "15": "Đồng ý thu hồi/cập nhật văn bản / Recall or update accepted",
    "16": "Từ chối thu hồi/cập nhật văn bản / Recall or update refused",
}


def _el(tag: str | None = None, *, item: str | None = None, default: Any = None) -> Any:
    # `tag` overrides the CamelCase name; `item` makes a tuple a wrapper of <item>s.
    return field(default=default, metadata={"xml": tag, "item": item})


@dataclass(frozen=True, kw_only=True)
class Organization:
    """From / To: an agency by its identifier code (mã định danh)."""

    organ_id: str
    organization_in_charge: str | None = None
    organ_name: str = ""
    organ_add: str | None = None
    email: str | None = None
    telephone: str | None = None
    fax: str | None = None
    website: str | None = None


@dataclass(frozen=True, kw_only=True)
class Code:
    code_number: str  # số
    code_notation: str  # ký hiệu


@dataclass(frozen=True, kw_only=True)
class PromulgationInfo:
    place: str = ""
    promulgation_date: dt.date


@dataclass(frozen=True, kw_only=True)
class DocumentType:
    type: str  # a code of the axis' catalogue, kept as given
    type_detail: str | None = None
    type_name: str | None = None


@dataclass(frozen=True, kw_only=True)
class SignerInfo:
    competence: str | None = None  # TL., KT., …
    position: str | None = None
    full_name: str


@dataclass(frozen=True, kw_only=True)
class OtherInfo:
    priority: Priority = Priority.NORMAL
    sphere_of_promulgation: str | None = None
    typer_notation: str | None = None
    promulgation_amount: int | None = None
    page_amount: int | None = None
    direction: str | None = None
    appendixes: tuple[str, ...] = _el(item="Appendix", default=())


@dataclass(frozen=True, kw_only=True)
class ResponseFor:
    """The document a package answers or a status is about."""

    organ_id: str
    code: str = ""  # "number/notation"
    promulgation_date: dt.date | None = None
    document_id: str


@dataclass(frozen=True, kw_only=True)
class MessageHeader:
    from_: Organization
    to: tuple[Organization, ...] = ()
    document_id: str
    code: Code
    promulgation_info: PromulgationInfo
    document_type: DocumentType
    subject: str
    content: str | None = None
    signer_info: SignerInfo | None = None
    due_date: dt.date | None = None
    to_places: tuple[str, ...] = _el(item="Place", default=())
    other_info: OtherInfo = OtherInfo()
    response_for: ResponseFor | None = None
    steering_type: int | None = None


@dataclass(frozen=True, kw_only=True)
class TraceHeader:
    organ_id: str
    timestamp: dt.datetime


@dataclass(frozen=True, kw_only=True)
class StaffInfo:
    department: str | None = None
    staff: str | None = None
    email: str | None = None
    mobile: str | None = None


@dataclass(frozen=True, kw_only=True)
class Receiver:
    receiver_type: int  # 0 removed from the recipients, 1 added
    organ_id: str


@dataclass(frozen=True, kw_only=True)
class BusinessDocumentInfo:
    document_info: str | None = None
    document_receiver: str | None = None
    receiver_list: tuple[Receiver, ...] = _el(item="Receiver", default=())


@dataclass(frozen=True, kw_only=True)
class ReplacementInfo:
    document_id: str
    organ_id_list: tuple[str, ...] = _el(item="OrganId", default=())


@dataclass(frozen=True, kw_only=True)
class Business:
    """TraceHeaderList/Bussiness (sic): new, recalled, updated or replacing document."""

    business_doc_type: BusinessDocType = _el("BussinessDocType", default=BusinessDocType.NEW)
    business_doc_reason: str | None = _el("BussinessDocReason")
    business_document_info: BusinessDocumentInfo | None = _el("BussinessDocumentInfo")
    document_id: str | None = None
    paper: int | None = None  # 0: no paper copy follows
    staff_info: StaffInfo | None = None
    replacement_info_list: tuple[ReplacementInfo, ...] = _el(item="ReplacementInfo", default=())


@dataclass(frozen=True, kw_only=True)
class TraceHeaderList:
    trace_headers: tuple[TraceHeader, ...] = _el("TraceHeader", default=())
    business: Business = _el("Bussiness", default=Business())


@dataclass(frozen=True, kw_only=True)
class Attachment:
    """A file: bytes, name and media type (a PDF or a zip alike)."""

    content_id: str  # "cid:…", joins the manifest to AttachmentEncoded
    name: str
    content_type: str
    data: bytes
    description: str | None = None


@dataclass(frozen=True, kw_only=True)
class DocumentPackage:
    message_header: MessageHeader
    trace_header_list: TraceHeaderList = TraceHeaderList()
    attachments: tuple[Attachment, ...] = ()


@dataclass(frozen=True, kw_only=True)
class StatusPackage:
    response_for: ResponseFor
    from_: Organization
    status_code: StatusCode
    description: str | None = None
    timestamp: dt.datetime
    staff_info: StaffInfo | None = None


@dataclass(frozen=True)
class DocumentId:
    """`OrganId,YYYY/MM/DD,number/notation`, e.g. `000.00.00.G22,2015/09/30,7816/VPCP-TTĐT`."""

    organ_id: str
    promulgation_date: dt.date
    number: str
    notation: str = ""

    def __str__(self) -> str:
        code = f"{self.number}/{self.notation}" if self.notation else self.number
        return f"{self.organ_id},{format_date(self.promulgation_date)},{code}"

    @classmethod
    def parse(cls, text: str) -> DocumentId:
        """Split a DocumentId; the number ends at the first `/`. Raises ValueError."""
        parts = [p.strip() for p in text.split(",", 2)]
        if len(parts) != 3 or not parts[0] or not parts[2]:
            raise ValueError(f"not OrganId,YYYY/MM/DD,number/notation: {text!r}")
        number, _, notation = parts[2].partition("/")
        if not number.strip():
            raise ValueError(f"no document number in {text!r}")
        return cls(parts[0], parse_date(parts[1]), number.strip(), notation.strip())
