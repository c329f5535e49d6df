"""Signing a document's main file at the `sign` (official) and `seal` (agency) steps.

Two ways in: the official signs on their own computer (a USB token through the CA's
signing plug-in) and uploads the result, or the server signs with a key configured for
the user or the agency. Either way the signed PDF is a new version of the main file, the
timeline records it, and the waiting step is completed.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from engine import audit
from engine.documents.flow import signature_steps
from engine.documents.reading import document_for
from engine.documents.timeline import record_event
from engine.errors import ConflictError, InvalidInputError, PermissionDeniedError
from engine.files import (
    FileView,
    Spooled,
    file_for_reading,
    latest_version,
    store_file,
    verified_chunks,
)
from engine.principal import Principal
from engine.runtime.tasks import complete_task
from engine.signatures import trust_settings
from engine.signing_files import sign_stored_file
from engine.signing_keys import SigningConfig
from signing.errors import SigningError
from signing.sandbox import validate_untrusted
from storage.models import Document, DocumentFile, StoredFile, WorkflowTask
from storage.objects import ObjectStore

__all__ = [
    "SignedStep",
    "main_file",
    "ready_step",
    "record_signature",
    "sign_with_key",
    "upload_signed",
]


@dataclass(frozen=True)
class SignedStep:
    document_id: int
    step: str
    file: FileView
    signer: str | None
    trusted: bool


def main_file(session: Session, doc: Document) -> StoredFile:
    """The latest live version of the document's main file; ConflictError when it has none."""
    root = session.scalar(
        select(DocumentFile.file_root_id).where(
            DocumentFile.document_id == doc.id, DocumentFile.role == "main"
        )
    )
    row = latest_version(session, root)
    if row is None:
        raise ConflictError(
            f"Văn bản {doc.id} chưa có tệp chính để ký / document {doc.id} has no main file to sign",
            code="no_main_file",
        )
    return row


def ready_step(session: Session, doc: Document, principal: Principal) -> WorkflowTask:
    """The document's waiting `sign` or `seal` task; ConflictError when neither waits."""
    task = session.scalar(
        select(WorkflowTask).where(
            WorkflowTask.instance_id == doc.instance_id,
            WorkflowTask.state == "ready",
            WorkflowTask.task_spec.in_(signature_steps),
        )
    )
    if task is None:
        raise ConflictError(
            f"Văn bản {doc.id} không ở bước ký / document {doc.id} is not waiting for a signature",
            code="not_signing_step",
        )
    if task.role not in principal.roles:
        raise PermissionDeniedError(
            f"Bước '{task.name}' cần vai trò {task.role} / step '{task.name}' needs the "
            f"{task.role} role",
            code="role_required",
        )
    return task


def _read_all(store: ObjectStore, row: StoredFile) -> bytes:
    # Verified like every read: a corrupt stored version must not be signed over.
    return b"".join(verified_chunks(store, row, lambda _message: None))


def upload_signed(
    session: Session,
    store: ObjectStore,
    principal: Principal,
    document_id: int,
    upload: Spooled,
    name: str | None,
) -> SignedStep:
    """Take a PDF the official signed elsewhere as the next version of the main file.

    It must be the current version with one more signature appended (an incremental
    update), and that signature must be intact. Raises InvalidInputError otherwise,
    ConflictError when no signing step waits, PermissionDeniedError for the wrong role.
    """
    doc = document_for(session, principal, document_id)
    task = ready_step(session, doc, principal)
    current = main_file(session, doc)
    file_for_reading(session, current.id, principal)
    before = _read_all(store, current)
    with upload.open() as f:
        after = f.read()
    if not after.startswith(before) or len(after) == len(before):
        raise InvalidInputError(
            "Tệp tải lên không phải bản hiện hành được ký thêm / the upload is not the current "
            "version with a signature appended",
            details=[{"field": "file", "message": "must extend the current version"}],
        )
    try:
        report = validate_untrusted(after, trust_settings(session))
        previous = validate_untrusted(before, trust_settings(session))
    except SigningError as e:
        raise InvalidInputError(e.message, details=[{"field": "file", "message": e.code}]) from e
    new = report.signatures[len(previous.signatures) :]
    # Exactly one revision more, holding exactly one signature that covers the whole file:
    # an unsigned update after it, or a change slipped in before it, is refused.
    if (
        len(new) != 1
        or not (new[0].intact and new[0].valid)
        or new[0].coverage != "ENTIRE_FILE"
        or report.revisions != previous.revisions + 1
        or any(s.modified_after_signing for s in report.signatures)
    ):
        raise InvalidInputError(
            "Tệp tải lên phải có đúng một chữ ký mới hợp lệ / the upload must add exactly one "
            "intact signature",
            details=[{"field": "file", "message": "one new intact signature"}],
        )
    view = store_file(
        session, store, upload, name or current.name, principal, previous_id=current.id
    )
    return record_signature(
        session, principal, doc, task, view, signer=new[0].signer_name, trusted=new[0].trusted
    )


def sign_with_key(
    session: Session,
    store: ObjectStore,
    config: SigningConfig,
    principal: Principal,
    document_id: int,
    *,
    appearance: str = "none",
    level: str = "B-B",
) -> SignedStep:
    """Sign the main file on the server: the official's own key at `sign`, the agency's seal
    key at `seal`. Raises ConflictError (no step waiting, no key), PermissionDeniedError."""
    doc = document_for(session, principal, document_id)
    task = ready_step(session, doc, principal)
    current = main_file(session, doc)
    view = sign_stored_file(
        session,
        store,
        config,
        current.id,
        principal,
        key="own" if task.task_spec == "sign_document" else "agency",
        appearance=appearance,  # type: ignore[arg-type]
        level=level,
        reason="Ký duyệt văn bản" if task.task_spec == "sign_document" else "Ký số của cơ quan",
    )
    return record_signature(
        session, principal, doc, task, view, signer=principal.full_name, trusted=True
    )


def record_signature(
    session: Session,
    principal: Principal,
    doc: Document,
    task: WorkflowTask,
    view: FileView,
    *,
    signer: str | None,
    trusted: bool,
    extra: dict[str, Any] | None = None,
) -> SignedStep:
    """Write the signature to the timeline and complete the waiting step with it."""
    details = {"file_id": view.id, "step": task.task_spec, "signer": signer, "trusted": trusted}
    record_event(
        session, doc, "signature", actor_id=principal.user_id, details=details | (extra or {})
    )
    session.flush()
    audit.record(session, principal.user_id, "sign", "document", doc.id, {"step": task.task_spec})
    complete_task(session, task.id, principal, {"signed_file_id": view.id})
    return SignedStep(doc.id, task.task_spec, view, signer, trusted)
