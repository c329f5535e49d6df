"""Checks on a received document package's header that `parse_package` does not make: who
may send a DocumentId, and whether the fields fit what the register stores."""

from __future__ import annotations

from engine.errors import ExchangeError, PackageInvalid
from engine.exchange.model import DocumentId, MessageHeader

__all__ = ["check_document_id", "check_lengths"]


def check_lengths(h: MessageHeader) -> None:
    """Refuse a header whose fields are longer than the register stores.

    Raises PackageInvalid (`edxml_field_too_long`) naming every field too long.
    """
    # What the register stores has fixed sizes (Decree 30 appendix VI): refuse a package
    # that does not fit rather than fail on the database.
    fields = {
        "MessageHeader/DocumentId": (h.document_id, 160),
        "MessageHeader/From/OrganId": (h.from_.organ_id, 35),
        "MessageHeader/From/OrganName": (h.from_.organ_name, 200),
        "MessageHeader/Code/CodeNumber": (h.code.code_number, 11),
        "MessageHeader/Code/CodeNotation": (h.code.code_notation, 30),
        "MessageHeader/PromulgationInfo/Place": (h.promulgation_info.place, 150),
        "MessageHeader/DocumentType/Type": (h.document_type.type, 16),
        "MessageHeader/DocumentType/TypeName": (h.document_type.type_name, 100),
        "MessageHeader/Subject": (h.subject, 500),
        "MessageHeader/Content": (h.content, 500),
        "MessageHeader/SignerInfo/FullName": (h.signer_info and h.signer_info.full_name, 50),
        "MessageHeader/SignerInfo/Position": (h.signer_info and h.signer_info.position, 100),
        "MessageHeader/SignerInfo/Competence": (h.signer_info and h.signer_info.competence, 20),
    }
    too_long = [path for path, (value, limit) in fields.items() if value and len(value) > limit]
    if too_long:
        raise PackageInvalid(
            "Gói tin có trường dài quá mức cho phép / fields too long: " + ", ".join(too_long),
            code="edxml_field_too_long",
            details=[{"field": path, "message": "too long"} for path in too_long],
        )


def check_document_id(header: MessageHeader) -> None:
    """Refuse a DocumentId that is malformed or names another agency than the sender.

    Raises PackageInvalid (`edxml_bad_document_id`) or ExchangeError
    (`document_id_not_sender`).
    """
    # A node may only send documents of the agencies it serves: the DocumentId names the
    # issuing agency, and it must be the (authenticated) sender, or a peer could squat or
    # recall another agency's documents.
    try:
        organ = DocumentId.parse(header.document_id).organ_id
    except ValueError as e:
        raise PackageInvalid(
            f"DocumentId '{header.document_id}' không đúng dạng / malformed DocumentId",
            code="edxml_bad_document_id",
        ) from e
    if organ != header.from_.organ_id:
        raise ExchangeError(
            f"DocumentId thuộc cơ quan {organ}, không phải cơ quan gửi {header.from_.organ_id} / "
            f"the DocumentId belongs to {organ}, not to the sender {header.from_.organ_id}",
            code="document_id_not_sender",
        )
