"""The worker's periodic fixity check: it reports corruption, and runs beside the timers."""

from __future__ import annotations

import hashlib
import io
import logging
import os
import threading
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import timedelta

import pytest
from sqlalchemy import event, select
from sqlalchemy.orm import Session, sessionmaker

from api.worker import run_fixity, run_worker
from engine.runtime.definitions import deploy
from engine.runtime.instances import start_instance
from storage.models import Agency, AuditEvent, StoredFile, WorkflowInstance, utcnow
from storage.objects import ObjectStore, key_for
from tests.bpmn_builder import chain, user_task

COMMUNE = "000.01.20.H99"
MB = 1024 * 1024
BIG_MB = 384  # re-hashing it takes a while: long enough for a timer to come due meanwhile


class _Repeated(io.RawIOBase):
    """`count` copies of `block` as a stream, so a large object is never held in memory."""

    def __init__(self, block: bytes, count: int) -> None:
        self._block = block
        self._left = len(block) * count
        self._pos = 0

    def readable(self) -> bool:
        return True

    def read(self, n: int = -1) -> bytes:
        n = self._left if n < 0 else min(n, self._left)
        out = bytearray()
        while len(out) < n:
            start = self._pos % len(self._block)
            piece = self._block[start : start + n - len(out)]
            out += piece
            self._pos += len(piece)
        self._left -= n
        return bytes(out)


def _agency(s: Session) -> int:
    agency_id = s.scalar(select(Agency.id).where(Agency.code == COMMUNE))
    assert agency_id is not None
    return agency_id


def _add_file(
    sessions: sessionmaker[Session], store: ObjectStore, block: bytes, count: int
) -> StoredFile:
    """Write an object of `count` × `block` and commit a row referencing it."""
    digest = hashlib.sha256()
    for _ in range(count):
        digest.update(block)
    sha = digest.hexdigest()
    size = len(block) * count
    store.put(key_for(sha), _Repeated(block, count), size)  # type: ignore[arg-type]
    with sessions.begin() as s:
        file_id = str(uuid.uuid4())
        row = StoredFile(
            id=file_id,
            root_id=file_id,
            version=1,
            sha256=sha,
            size=size,
            media_type="application/octet-stream",
            name=f"{file_id}.bin",
            key=key_for(sha),
            archived=False,
            agency_id=_agency(s),
            secrecy=0,
            created_at=utcnow(),
        )
        s.add(row)
    return row


def _corrupt(store: ObjectStore, row: StoredFile) -> None:
    # Same key, other bytes: what a failing disk or a hand edit behind our back does.
    bad = b"x" * row.size
    store.put(row.key, io.BytesIO(bad), len(bad), replace=True)


@contextmanager
def _running(target: object, *args: object, **kwargs: object) -> Iterator[threading.Event]:
    stop = threading.Event()
    thread = threading.Thread(target=target, args=(*args, stop), kwargs=kwargs, daemon=True)  # type: ignore[arg-type]
    thread.start()
    try:
        yield stop
    finally:
        stop.set()
        thread.join(timeout=60)
        assert not thread.is_alive()


def _fixity_records(caplog: pytest.LogCaptureFixture) -> list[logging.LogRecord]:
    return [r for r in caplog.records if r.name == "lienthong.worker" and "fixity:" in r.message]


def test_periodic_fixity_reports_a_corrupt_object(
    sessions: sessionmaker[Session], object_store: ObjectStore, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO, logger="lienthong.worker")
    good = _add_file(sessions, object_store, b"ho so luu tru\n", 3)
    bad = _add_file(sessions, object_store, "biên bản\n".encode(), 5)
    _corrupt(object_store, bad)
    with _running(run_fixity, sessions, object_store, 0.2):
        deadline = time.monotonic() + 10
        while not _fixity_records(caplog) and time.monotonic() < deadline:
            time.sleep(0.05)
    records = _fixity_records(caplog)
    assert records, "no fixity check ran within 10 s"
    first = records[0]
    assert first.levelno == logging.ERROR
    assert "1 corrupt" in first.getMessage() and bad.key in first.getMessage()
    with sessions() as s:
        events = s.scalars(select(AuditEvent).where(AuditEvent.action == "fixity_corrupt")).all()
        assert {e.object_id for e in events} == {bad.key}
        verified = s.get(StoredFile, good.id)
        assert verified is not None and verified.verified_at is not None


def test_a_due_timer_fires_while_a_long_fixity_check_runs(
    sessions: sessionmaker[Session], object_store: ObjectStore, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO, logger="lienthong.worker")
    _add_file(sessions, object_store, os.urandom(MB), BIG_MB)
    doc = chain(
        "cho_han",
        [user_task("work", "[specialist@case]")],
        boundary=(
            '<bpmn:boundaryEvent id="late" attachedToRef="work"><bpmn:timerEventDefinition id="d">'
            "<bpmn:timeDate>deadline</bpmn:timeDate></bpmn:timerEventDefinition></bpmn:boundaryEvent>"
            '<bpmn:endEvent id="late_end"/>'
            '<bpmn:sequenceFlow id="fl" sourceRef="late" targetRef="late_end"/>'
        ),
    )
    with sessions.begin() as s:
        deploy(s, doc, "cho_han.bpmn", {})
    # The fixity thread's first query marks the start of a check.
    started = threading.Event()

    def on_begin(_session: Session, _tx: object, _conn: object) -> None:
        if threading.current_thread().name == "fixity-under-test":
            started.set()

    event.listen(sessions, "after_begin", on_begin)
    stop = threading.Event()
    fixity = threading.Thread(
        target=run_fixity, args=(sessions, object_store, 0.05, stop), name="fixity-under-test"
    )
    worker = threading.Thread(target=run_worker, args=(sessions, 0.05, stop), daemon=True)
    try:
        fixity.start()
        worker.start()
        assert started.wait(10)
        checks_before = len(_fixity_records(caplog))
        with sessions.begin() as s:
            deadline = utcnow() + timedelta(seconds=0.2)
            iid = start_instance(
                s, "cho_han", agency_id=_agency(s), data={"deadline": deadline.isoformat()}
            ).row.id
        fired_at = None
        limit = time.monotonic() + 30
        while fired_at is None and time.monotonic() < limit:
            with sessions() as s:
                row = s.get(WorkflowInstance, iid)
                assert row is not None
                if row.next_timer_at is None:
                    fired_at = time.monotonic()
            time.sleep(0.02)
        assert fired_at is not None, "the timer never fired"
        # Fired before the check that was running when it came due had finished.
        assert len(_fixity_records(caplog)) == checks_before, "the timer waited for the check"
    finally:
        stop.set()
        event.remove(sessions, "after_begin", on_begin)
        fixity.join(timeout=120)
        worker.join(timeout=30)
    assert any(r.levelno == logging.INFO for r in _fixity_records(caplog))
