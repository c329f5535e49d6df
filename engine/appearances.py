"""Where the Decree 30/2020 appearances go on a document we did not lay out ourselves.

`signing.appearance` draws the signer's signature, the agency seal and the text stamp at a
placement it is given; this module picks the placement the way a records clerk would:

    signer   the signature block at the bottom right of the last page (right margin 20 mm,
             bottom margin 25 mm, 80 × 42 mm), unless a page and box are given
    seal     over the left third of the latest signer's image already in the document
             (Phụ lục I, I.8.a); refused when no signature image is there to overlap
    text     top right of page 1 (the stamp places itself)

Used by `lienthong sign` and by `engine.signing_keys`. Pages count from 0 here.
"""

from __future__ import annotations

import datetime as dt
from typing import Literal

from signing.appearance import MM, AgencySeal, Placement, Rect, SignerSignature, TextStamp
from signing.documents import PARSE_ERRORS, malformed, open_reader
from signing.errors import AppearanceError
from signing.placement import page_box, signer_image_rect

__all__ = ["SIGNER_BOX_MM", "check_image", "seal_over_last_signer", "signer_block", "text_stamp"]

# width, height, right margin, bottom margin of the default signature block (mm)
SIGNER_BOX_MM = (80.0, 42.0, 20.0, 25.0)


def check_image(image: bytes, look: Literal["signer", "seal"]) -> None:
    """Check a signature (blue) or seal (red) image: PNG with a transparent background.

    Raises AppearanceError (codes `bad_image`, `bad_image_colour`) saying what is wrong.
    """
    if look == "signer":
        SignerSignature(Placement(0, (0, 0, 200, 120)), "", "-", image).image_rect()
    else:
        AgencySeal(image, 0, (0, 0, 30, 30)).layout(100, 100, dt.datetime.now(dt.UTC))


def signer_block(
    pdf: bytes,
    image: bytes,
    *,
    title: str = "",
    full_name: str,
    page: int | None = None,
    box: Rect | None = None,
) -> SignerSignature:
    """The signer's signature (title, image, name) on `page` (default: the last one).

    Raises MalformedPdfError for a bad PDF, AppearanceError for a page that does not exist.
    """
    reader = open_reader(pdf)
    try:
        count = int(reader.root["/Pages"]["/Count"])
    except PARSE_ERRORS as e:
        raise malformed(e) from e
    index = count - 1 if page is None else page
    x1, y1, x2, _ = page_box(reader, index)  # checks the page exists
    if box is None:
        width, height, right, bottom = (v * MM for v in SIGNER_BOX_MM)
        box = (x2 - right - width, y1 + bottom, x2 - right, y1 + bottom + height)
        if box[0] < x1:
            raise AppearanceError(
                "Trang quá hẹp cho khối chữ ký / The page is too narrow for the signature block",
                code="box_too_small",
            )
    return SignerSignature(Placement(index, box), title, full_name, image)


def seal_over_last_signer(pdf: bytes, image: bytes, *, diameter_mm: float = 36.0) -> AgencySeal:
    """The agency seal over the left third of the latest signer's signature image.

    Raises MalformedPdfError for a bad PDF, AppearanceError (code `no_signature_image`) when
    no earlier signature of the document shows a signature image to overlap.
    """
    reader = open_reader(pdf)
    for sig in reversed(reader.embedded_signatures):
        try:
            page, rect = signer_image_rect(reader, sig.field_name)
        except AppearanceError:
            continue
        return AgencySeal(image, page, rect, diameter_mm=diameter_mm)
    raise AppearanceError(
        "Con dấu được đóng trùm lên 1/3 chữ ký của người ký, nhưng tài liệu chưa có chữ ký hiển thị "
        "nào; người có thẩm quyền ký trước (hình thức 'signer') hoặc dùng dấu dạng chữ ('text') / "
        "The seal goes over a third of the signer's signature image, and the document has none; "
        "have the competent person sign first (appearance 'signer') or use the text stamp",
        code="no_signature_image",
    )


def text_stamp(lines: list[str] | tuple[str, ...] | str | None) -> TextStamp:
    """The text-only stamp; `lines` one per item or per newline (e.g. "Số: 12/QĐ-UBND")."""
    if isinstance(lines, str):
        lines = lines.splitlines()
    return TextStamp(tuple(line.strip() for line in lines or () if line.strip()))
