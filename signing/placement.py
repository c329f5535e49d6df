"""Where a visible signature goes, and where an earlier one put its image.

Coordinates are PDF points from the bottom-left of the page; pages count from 0.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from pyhanko.pdf_utils import generic
from pyhanko.pdf_utils.misc import PdfError
from pyhanko.pdf_utils.reader import PdfFileReader

from signing.errors import AppearanceError

__all__ = ["IMAGE_NAME", "MM", "Placement", "Rect", "page_box", "signer_image_rect"]

Rect = tuple[float, float, float, float]  # x1, y1, x2, y2
MM = 72 / 25.4
IMAGE_NAME = "/SigImg"  # the signer's image XObject; `signer_image_rect` looks for it


@dataclass(frozen=True)
class Placement:
    """Where a signature widget goes: page (from 0) and rectangle."""

    page: int
    rect: Rect

    @property
    def width(self) -> float:
        return self.rect[2] - self.rect[0]

    @property
    def height(self) -> float:
        return self.rect[3] - self.rect[1]


def page_box(reader: PdfFileReader, page: int) -> Rect:
    """The visible box (CropBox, else MediaBox) of a page.

    Raises AppearanceError if there is no such page or its box is unreadable.
    """
    try:
        page_obj = reader.root["/Pages"]
        count = int(page_obj["/Count"])
        if not 0 <= page < count:
            raise AppearanceError(
                f"Tài liệu chỉ có {count} trang / The document has only {count} pages",
                code="no_such_page",
            )
        ref, _ = reader.find_page_for_modification(page)
        obj = ref.get_object()
        box = obj.get("/CropBox") or obj.get("/MediaBox") or page_obj.get("/MediaBox")
        x1, y1, x2, y2 = (float(v) for v in box)
    except (KeyError, TypeError, ValueError, IndexError, PdfError) as e:
        raise AppearanceError(
            "Không đọc được kích thước trang / Cannot read the page size", code="no_such_page"
        ) from e
    return (min(x1, x2), min(y1, y2), max(x1, x2), max(y1, y2))


_IMAGE_OP = re.compile(
    rb"([-\d.]+) 0 0 ([-\d.]+) ([-\d.]+) ([-\d.]+) cm " + re.escape(IMAGE_NAME.encode()) + rb" Do"
)


def signer_image_rect(reader: PdfFileReader, field_name: str) -> tuple[int, Rect]:
    """Page and rectangle of the signature image in a signer's field drawn by us.

    Raises AppearanceError if the field is missing or was not drawn by `SignerSignature`.
    """
    for sig in reader.embedded_signatures:
        if sig.field_name != field_name:
            continue
        widget = sig.sig_field
        if "/Kids" in widget:
            widget = widget["/Kids"][0].get_object()
        try:
            rect = widget["/Rect"]
            x0, y0 = min(float(rect[0]), float(rect[2])), min(float(rect[1]), float(rect[3]))
            match = _IMAGE_OP.search(widget["/AP"]["/N"].get_object().data)
            page = _page_index(reader, widget.raw_get("/P"))
        except (KeyError, TypeError, ValueError, PdfError) as e:
            raise AppearanceError(
                f"Chữ ký '{field_name}' không có ảnh chữ ký / Signature '{field_name}' has no "
                "signature image",
                code="no_signature_image",
            ) from e
        if match:
            w, h, x, y = (float(v) for v in match.groups())
            return page, (x0 + x, y0 + y, x0 + x + w, y0 + y + h)
        break
    raise AppearanceError(
        f"Không thấy ảnh chữ ký trong '{field_name}'; hãy chỉ rõ vị trí con dấu / No signature "
        f"image in '{field_name}'; give the seal position explicitly",
        code="no_signature_image",
    )


def _page_index(reader: PdfFileReader, page_ref: generic.PdfObject) -> int:
    if not isinstance(page_ref, generic.IndirectObject):
        raise ValueError("widget without a page reference")
    count = int(reader.root["/Pages"]["/Count"])
    for i in range(count):
        ref, _ = reader.find_page_for_modification(i)
        if ref.idnum == page_ref.idnum:
            return i
    raise ValueError("widget page not in the page tree")
