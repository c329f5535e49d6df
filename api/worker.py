"""The worker loop: fires due timers until stopped (thread in `serve`, or `lienthong worker`)."""

from __future__ import annotations

import logging
import threading
import time

from sqlalchemy.orm import Session, sessionmaker

# The domain packages attach their runtime hooks and service tasks on import.
from engine import documents as _documents  # noqa: F401
from engine import dossiers as _dossiers  # noqa: F401
from engine.errors import LienthongError
from engine.exchange import statuses as _statuses  # noqa: F401
from engine.exchange.outbox import Outbox
from engine.fixity import check_store
from engine.runtime.timers import fire_due_timers
from storage.errors import StorageError
from storage.objects import ObjectStore

__all__ = ["run_exchange", "run_worker"]


def _fixity(sessions: sessionmaker[Session], store: ObjectStore) -> None:
    try:
        report = check_store(sessions, store)
    except (LienthongError, StorageError) as e:
        log.warning("fixity check failed: %s", e)
        return
    level = logging.INFO if report.healthy else logging.ERROR
    log.log(
        level,
        "fixity: %d checked, %d missing, %d corrupt",
        report.checked,
        len(report.missing),
        len(report.corrupt),
    )


log = logging.getLogger("lienthong.worker")


def _deliver(outbox: Outbox) -> None:
    try:
        sent = outbox.run_once()
    except Exception:  # keep the worker alive; each delivery records its own failure
        log.exception("exchange round failed unexpectedly")
        return
    if sent:
        log.info("exchange: %d delivery attempt(s)", sent)


def run_worker(
    sessions: sessionmaker[Session],
    interval: float,
    stop: threading.Event,
    *,
    once: bool = False,
    store: ObjectStore | None = None,
    fixity_every: float = 0,
    outbox: Outbox | None = None,
) -> int:
    """Fire due timers every `interval` seconds until `stop` is set; returns how many fired.

    With a store and `fixity_every` seconds > 0, also re-hash every object that often; with
    an outbox, deliver the packages and statuses that are due each round.
    """
    total = 0
    next_fixity = time.monotonic() + fixity_every
    while not stop.is_set():
        if store is not None and fixity_every > 0 and time.monotonic() >= next_fixity:
            next_fixity = time.monotonic() + fixity_every
            _fixity(sessions, store)
        try:
            fired = fire_due_timers(sessions)
        except (LienthongError, StorageError) as e:
            log.warning("worker round failed: %s", e)
            fired = 0
        except Exception:  # keep the worker alive; the next round retries
            log.exception("worker round failed unexpectedly")
            fired = 0
        if outbox is not None:
            _deliver(outbox)
        total += fired
        if fired:
            log.info("fired %d timer(s)", fired)
        if once:
            break
        stop.wait(interval)
    return total


def run_exchange(outbox: Outbox, interval: float, stop: threading.Event) -> None:
    """Deliver due packages and statuses every `interval` seconds until `stop` is set.

    Its own loop, apart from the timers, so a document reaches another node within about
    a second without firing timers that often.
    """
    while not stop.is_set():
        _deliver(outbox)
        stop.wait(interval)
