"""Raising B-T signatures to B-LTA in the background: a queue the worker drains.

Every stored PDF is queued (`engine.files` does it), whoever signed it: on the server, an
official at a signing step, an upload, another agency's package. After a delay (so that
the CAs have published revocation data covering the signing time) the worker validates
it; one holding a B-T signature gets the chain and CRL/OCSP answers embedded and a
document timestamp, stored as the file's next version, the others are marked
`not_needed`. Each entry is claimed with a lease, so a crash leaves it to be tried again;
failures are retried with back-off and give up after `MAX_ATTEMPTS`, saying why.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass, replace
from datetime import timedelta
from pathlib import Path

from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from engine import audit
from engine.errors import LienthongError
from engine.files import spool, store_system_file, verified_chunks
from engine.signatures import trust_settings
from signing.errors import MalformedPdfError, PdfTooComplexError
from signing.pades import timestamper_for, upgrade_to_lta
from signing.report import Revocation, ValidationReport
from signing.sandbox import ValidationSandbox
from signing.trust import TrustSettings
from storage.db import any_row, reading
from storage.models import SignatureUpgrade, StoredFile, utcnow
from storage.objects import ObjectStore

__all__ = ["MAX_ATTEMPTS", "Upgrader"]

MAX_ATTEMPTS = 10
_LEASE = timedelta(minutes=10)
_VALIDATION_TIMEOUT = 30.0  # seconds; a worker can wait longer than a request


@dataclass
class Upgrader:
    """The worker's job: upgrade the queued files whose delay has passed."""

    sessions: sessionmaker[Session]
    store: ObjectStore
    tsa_url: str | None
    delay: timedelta
    tmp_dir: Path
    batch: int = 10

    def run_once(self) -> int:
        """Upgrade what is due; returns how many entries were tried (0 without a TSA)."""
        if not self.tsa_url:
            return 0
        ids = self._claim()
        for upgrade_id in ids:
            try:
                self._upgrade(upgrade_id)
            except Exception as e:  # noqa: BLE001 - recorded on the entry, retried, then failed
                self._fail(upgrade_id, getattr(e, "message", str(e)))
        return len(ids)

    def _claim(self) -> list[int]:
        now = utcnow()
        due = (
            SignatureUpgrade.state == "pending",
            SignatureUpgrade.next_attempt_at <= now,
            SignatureUpgrade.created_at <= now - self.delay,
        )
        if not any_row(self.sessions, select(SignatureUpgrade.id).where(*due)):
            return []
        with self.sessions.begin() as session:
            query = (
                select(SignatureUpgrade).where(*due).order_by(SignatureUpgrade.id).limit(self.batch)
            )
            if session.get_bind().dialect.name == "postgresql":
                query = query.with_for_update(skip_locked=True)
            rows = session.scalars(query).all()
            for row in rows:
                row.attempts += 1
                row.next_attempt_at = now + _LEASE
            return [r.id for r in rows]

    def _upgrade(self, upgrade_id: int) -> None:
        with reading(self.sessions) as session:
            row = session.get(SignatureUpgrade, upgrade_id)
            signed = session.get(StoredFile, row.file_id) if row else None
            # A later version (another signature) holds the B-T one: upgrade that, unless
            # the newest version was deleted or purged (a new one would bring it back).
            base = _newest(session, signed.root_id) if signed else None
            live = base is not None and base.deleted_at is None and base.purged_at is None
            if row is None or base is None or not live:
                pdf = b""
            else:
                pdf = b"".join(verified_chunks(self.store, base, lambda _message: None))
            trust = trust_settings(session)
            base_id = base.id if base else None
        due = _due_signatures(pdf, trust) if pdf else set()
        if not due:
            self._settle(upgrade_id)
            return
        upgraded = upgrade_to_lta(
            pdf, timestamper_for(self.tsa_url or ""), replace(trust, fetch=True), due
        )
        upload = spool([upgraded], limit=len(upgraded) + 1, tmp_dir=self.tmp_dir)
        try:
            with self.sessions.begin() as session:
                base = session.get(StoredFile, base_id)
                assert base is not None
                if _newest(session, base.root_id) is not base or base.deleted_at is not None:
                    raise LienthongError(
                        "Tệp vừa có phiên bản mới; sẽ nâng cấp lại / the file got a new "
                        "version meanwhile; it will be upgraded again",
                        code="file_changed",
                    )
                view = store_system_file(
                    session,
                    self.store,
                    upload,
                    base.name,
                    agency_id=base.agency_id,
                    owner=None,
                    secrecy=base.secrecy,
                    previous=base,
                    examine_signatures=False,
                )
                row = session.get(SignatureUpgrade, upgrade_id)
                assert row is not None
                row.state, row.result_file_id, row.last_error = "done", view.id, None
                audit.record(session, None, "upgrade_lta", "file", view.id, {"from": base_id})
        finally:
            upload.path.unlink(missing_ok=True)

    def _settle(self, upgrade_id: int) -> None:
        with self.sessions.begin() as session:
            row = session.get(SignatureUpgrade, upgrade_id)
            if row is not None:
                row.state = "not_needed"

    def _fail(self, upgrade_id: int, error: str) -> None:
        with self.sessions.begin() as session:
            row = session.get(SignatureUpgrade, upgrade_id)
            if row is None:
                return
            row.last_error = error[:2000]
            if row.attempts >= MAX_ATTEMPTS:
                row.state = "failed"
            else:
                row.next_attempt_at = utcnow() + min(
                    timedelta(minutes=2**row.attempts), timedelta(hours=6)
                )


def _newest(session: Session, root_id: str) -> StoredFile | None:
    """The newest version of a file chain, deleted or purged ones included."""
    return session.scalar(
        select(StoredFile)
        .where(StoredFile.root_id == root_id)
        .order_by(StoredFile.version.desc())
        .limit(1)
    )


_sandbox: ValidationSandbox | None = None
_sandbox_lock = threading.Lock()


def _validate(pdf: bytes, trust: TrustSettings) -> ValidationReport:
    # The worker's own sandbox: a long check here must not hold up the uploads' one.
    global _sandbox
    with _sandbox_lock:
        if _sandbox is None:
            _sandbox = ValidationSandbox(timeout=_VALIDATION_TIMEOUT)
    return _sandbox.validate(pdf, trust)


def _due_signatures(pdf: bytes, trust: TrustSettings) -> set[str]:
    """The fields of the signatures to raise: a timestamp token, intact, a chain to a root
    this node trusts (only those: the upgrade fetches from the addresses their certificates
    name), and no document timestamp over them yet."""
    try:
        # Sandboxed: the PDF may come from anyone (an upload, another node's package).
        report = _validate(pdf, trust)
    except PdfTooComplexError:
        raise  # maybe a busy machine: tried again later, then given up with the reason
    except MalformedPdfError:
        return set()  # not a readable PDF: there is nothing to upgrade
    covered = [t.signed_revision for t in report.timestamps if t.intact and t.signed_revision]
    return {
        s.field_name
        for s in report.signatures
        if s.has_timestamp_token
        and s.intact
        and s.valid
        and (s.trusted or s.revocation is Revocation.UNKNOWN)
        and not any(r > s.signed_revision for r in covered)
    }
