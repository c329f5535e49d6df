"""edXML test material: the project's synthetic samples and packages built in code.

`data/` holds copies of `shared/standards/edxml/sample-*-synthetic.edxml` (hand-written
for this project, see SOURCES.md there) so the tests do not depend on the checkout layout.
"""

from __future__ import annotations

import datetime as dt
from pathlib import Path

from lxml import etree

from engine.calendar import VN_TZ
from engine.exchange.edxml import (
    NS,
    Attachment,
    Business,
    Code,
    DocumentPackage,
    DocumentType,
    MessageHeader,
    Organization,
    OtherInfo,
    Priority,
    PromulgationInfo,
    SignerInfo,
    StaffInfo,
    TraceHeader,
    TraceHeaderList,
)

DATA = Path(__file__).parent / "data"
DOCUMENT_SAMPLE = DATA / "sample-edoc-synthetic.edxml"
STATUS_SAMPLE = DATA / "sample-status-synthetic.edxml"
PDF = b"%PDF-1.4\n1 0 obj<<>>endobj\ntrailer<<>>\n%%EOF\n"
ZIP = b"PK\x05\x06" + b"\x00" * 18  # an empty zip archive


def make_package(**header: object) -> DocumentPackage:
    """A plausible document package from Sở Nội vụ to two agencies with a PDF and a zip."""
    fields: dict[str, object] = {
        "from_": Organization(organ_id="000.01.30.H99", organ_name="Sở Nội vụ tỉnh Mẫu"),
        "to": (
            Organization(organ_id="000.00.00.G22", organ_name="Văn phòng Chính phủ"),
            Organization(organ_id="000.00.00.G09", organ_name="Bộ Nội vụ"),
        ),
        "document_id": "000.01.30.H99,2025/03/14,125/SNV-VP",
        "code": Code(code_number="125", code_notation="SNV-VP"),
        "promulgation_info": PromulgationInfo(
            place="Thành phố Mẫu", promulgation_date=dt.date(2025, 3, 14)
        ),
        "document_type": DocumentType(type="1", type_detail="0", type_name="Công văn"),
        "subject": "V/v báo cáo tình hình ứng dụng văn bản điện tử quý I năm 2025",
        "content": "Báo cáo quý I",
        "signer_info": SignerInfo(
            competence="KT. GIÁM ĐỐC", position="Phó Giám đốc", full_name="Nguyễn Văn Mẫu"
        ),
        "due_date": dt.date(2025, 3, 28),
        "to_places": ("Văn phòng Chính phủ", "Lưu: VT, VP"),
        "other_info": OtherInfo(priority=Priority.URGENT, page_amount=2, appendixes=("Phụ lục I",)),
    }
    fields.update(header)
    return DocumentPackage(
        message_header=MessageHeader(**fields),  # type: ignore[arg-type]
        trace_header_list=TraceHeaderList(
            trace_headers=(
                TraceHeader(
                    organ_id="000.01.30.H99",
                    timestamp=dt.datetime(2025, 3, 14, 9, 15, tzinfo=VN_TZ),
                ),
            ),
            business=Business(paper=0, staff_info=StaffInfo(staff="Trần Thị Văn Thư")),
        ),
        attachments=(
            Attachment(
                content_id="cid:0001", name="cong-van.pdf", content_type="application/pdf", data=PDF
            ),
            Attachment(
                content_id="cid:0002",
                name="phu-luc.zip",
                content_type="application/zip",
                data=ZIP,
                description="Phụ lục số liệu",
            ),
        ),
    )


def q(tag: str) -> str:
    """`{QCVN 102 namespace}tag`."""
    return f"{{{NS}}}{tag}"


def edit(xml: bytes, path: str, text: str | None = None, *, remove: bool = False) -> bytes:
    """Set the text of (or remove) the first element at `path` (slash-separated local
    names below the root, e.g. `edXMLEnvelope/edXMLHeader/MessageHeader/Subject`)."""
    root = etree.fromstring(xml)
    el = root.find("/".join(q(p) for p in path.split("/")))
    assert el is not None, path
    if remove:
        el.getparent().remove(el)  # type: ignore[union-attr]
    else:
        el.text = text
    return etree.tostring(root, xml_declaration=True, encoding="UTF-8")


HEADER = "edXMLEnvelope/edXMLHeader"
MESSAGE = f"{HEADER}/MessageHeader"
