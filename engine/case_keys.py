"""Business keys that name a dossier or a document: only their own domain starts those.

The one-stop and document modules find the case a process instance runs for by its business
key (a deadline may fire while the instance is being started, before the case row knows its
instance id), so an instance started through the generic route under such a key could act
on that case: an apology slip, a seal on its result, events on its timeline.
"""

from __future__ import annotations

from engine.documents.flow import is_document_key
from engine.dossiers.codes import is_dossier_code
from engine.errors import InvalidInputError

__all__ = ["refuse_case_key"]


def refuse_case_key(business_key: str | None) -> None:
    """Raise InvalidInputError when `business_key` is shaped like a dossier code or a
    document's key (`VB-<id>`)."""
    if business_key and (is_dossier_code(business_key) or is_document_key(business_key)):
        raise InvalidInputError(
            f"Mã nghiệp vụ {business_key[:64]} dành cho hồ sơ một cửa hoặc văn bản; chúng được "
            "khởi tạo khi tiếp nhận / this business key is a dossier's or a document's; those "
            "start at reception",
            code="business_key_reserved",
            details=[{"field": "business_key", "message": "reserved for dossiers and documents"}],
        )
