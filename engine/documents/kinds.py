"""Names and values of documents: directions, statuses, urgency and secrecy, registers."""

from __future__ import annotations

from enum import IntEnum, StrEnum
from typing import Final

__all__ = [
    "DIRECTIONS",
    "STATUS_NAMES",
    "DocStatus",
    "Urgency",
    "register_for",
]

DIRECTIONS: Final = ("outgoing", "incoming")


class DocStatus(StrEnum):
    """Where a document stands; outgoing and incoming share the names that mean the same."""

    DRAFT = "draft"
    REVIEW = "review"
    APPROVAL = "approval"
    SIGNING = "signing"
    NUMBERING = "numbering"
    SEALING = "sealing"
    DISPATCHED = "dispatched"
    RECEIVED = "received"
    REGISTERED = "registered"
    DIRECTED = "directed"
    PROCESSING = "processing"
    DONE = "done"
    REFUSED = "refused"
    RECALLED = "recalled"


STATUS_NAMES: Final[dict[str, str]] = {
    DocStatus.DRAFT: "Dự thảo",
    DocStatus.REVIEW: "Chờ thẩm định",
    DocStatus.APPROVAL: "Chờ duyệt",
    DocStatus.SIGNING: "Chờ ký",
    DocStatus.NUMBERING: "Chờ cấp số",
    DocStatus.SEALING: "Chờ ký số cơ quan",
    DocStatus.DISPATCHED: "Đã phát hành",
    DocStatus.RECEIVED: "Đã đến",
    DocStatus.REGISTERED: "Đã vào sổ",
    DocStatus.DIRECTED: "Đã có ý kiến chỉ đạo",
    DocStatus.PROCESSING: "Đang xử lý",
    DocStatus.DONE: "Đã xử lý xong",
    DocStatus.REFUSED: "Từ chối tiếp nhận",
    DocStatus.RECALLED: "Đã thu hồi",
}


class Urgency(IntEnum):
    """Mức độ khẩn (Decree 30 art. 4.2.c) on the edXML Priority scale 0–4."""

    NORMAL = 0
    KHAN = 1  # Khẩn
    THUONG_KHAN = 2  # Thượng khẩn
    HOA_TOC = 3  # Hỏa tốc
    HOA_TOC_HEN_GIO = 4  # Hỏa tốc hẹn giờ

    @property
    def label(self) -> str:
        """The Vietnamese name of the level."""
        return ("Thường", "Khẩn", "Thượng khẩn", "Hỏa tốc", "Hỏa tốc hẹn giờ")[self.value]


def register_for(direction: str, secrecy: int) -> str:
    """The register (number series) of a document: secret documents have their own series."""
    return f"{direction}_secret" if secrecy > 0 else direction
