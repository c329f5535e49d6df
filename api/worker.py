"""The worker loops: due timers, exchange deliveries and the periodic fixity check, each in its
own thread (in `serve`, or `lienthong worker`), so a slow one never holds up another."""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from datetime import timedelta

from sqlalchemy.orm import Session, sessionmaker

from api.deps import AppState
from engine import listeners as _listeners  # noqa: F401
from engine.errors import LienthongError
from engine.exchange.outbox import Outbox
from engine.fixity import check_store
from engine.runtime.timers import fire_due_timers
from engine.signature_upgrades import Upgrader
from storage.doorbell import Doorbell, Listener
from storage.errors import StorageError
from storage.objects import ObjectStore

__all__ = ["run_exchange", "run_fixity", "run_worker", "start_side_loops", "upgrader_for"]

log = logging.getLogger("lienthong.worker")


def _fixity(sessions: sessionmaker[Session], store: ObjectStore) -> None:
    try:
        report = check_store(sessions, store)
    except (LienthongError, StorageError) as e:
        log.warning("fixity check failed: %s", e)
        return
    except Exception:  # keep the loop alive; the next period retries
        log.exception("fixity check failed unexpectedly")
        return
    level = logging.INFO if report.healthy else logging.ERROR
    log.log(
        level,
        "fixity: %d checked, %d missing, %d corrupt%s",
        report.checked,
        len(report.missing),
        len(report.corrupt),
        "" if report.healthy else ": " + ", ".join(report.missing + report.corrupt)[:2000],
    )


def _round(job: Callable[[], int], what: str) -> int:
    # A failing round must not stop the worker: each entry records its own failure.
    try:
        done = job()
    except Exception:
        log.exception("%s round failed unexpectedly", what)
        return 0
    if done:
        log.info("%s: %d attempt(s)", what, done)
    return done


def _deliver(outbox: Outbox) -> int:
    return _round(outbox.run_once, "exchange")


def run_worker(
    sessions: sessionmaker[Session],
    interval: float,
    stop: threading.Event,
    *,
    once: bool = False,
    outbox: Outbox | None = None,
    upgrader: Upgrader | None = None,
) -> int:
    """Fire due timers every `interval` seconds until `stop` is set; returns how many fired.

    With an outbox, deliver the packages and statuses that are due each round; with an
    upgrader, raise due B-T signatures to B-LTA. The fixity check has its own loop
    (`run_fixity`): re-hashing the whole store must not hold up a due timer.
    """
    total = 0
    while not stop.is_set():
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
        if upgrader is not None:
            _upgrade(upgrader)
        total += fired
        if fired:
            log.info("fired %d timer(s)", fired)
        if once:
            break
        stop.wait(interval)
    return total


def _upgrade(upgrader: Upgrader) -> None:
    _round(upgrader.run_once, "B-LTA upgrade")


def run_fixity(
    sessions: sessionmaker[Session], store: ObjectStore, every: float, stop: threading.Event
) -> None:
    """Re-hash every object every `every` seconds (the first check after one period) until
    `stop` is set; missing or corrupt objects are logged at ERROR and audited. `every` <= 0
    turns the check off."""
    if every <= 0:
        return
    while not stop.wait(every):
        _fixity(sessions, store)


def run_exchange(
    outbox: Outbox, interval: float, stop: threading.Event, bell: Listener | None = None
) -> None:
    """Deliver due packages and statuses until `stop` is set: at once when `bell` rings (a
    commit queued something), otherwise every `interval` seconds.

    Its own loop, apart from the timers. A round that attempted anything is followed by
    another at once: a batch is capped, and more may be due behind it.
    """
    try:
        while not stop.is_set():
            if _deliver(outbox):
                continue
            if bell is None:
                stop.wait(interval)
            else:
                bell.wait(interval, stop)
    finally:
        if bell is not None:
            bell.close()


def start_side_loops(state: AppState, outbox: Outbox, stop: threading.Event) -> None:
    """Start the exchange and fixity loops on daemon threads, until `stop` is set."""
    settings = state.settings
    for name, target, args in (
        (
            "lienthong-exchange",
            run_exchange,
            (outbox, settings.exchange_interval, stop, _listen(state)),
        ),
        (
            "lienthong-fixity",
            run_fixity,
            (state.sessions, state.objects, settings.fixity_interval_hours * 3600, stop),
        ),
    ):
        threading.Thread(target=target, args=args, name=name, daemon=True).start()


def _listen(state: AppState) -> Listener | None:
    bell: Doorbell | None = state.sessions.kw.get("info", {}).get("doorbell")
    return bell.listen() if bell is not None else None


def upgrader_for(state: AppState) -> Upgrader:
    """The B-T → B-LTA job with this installation's TSA and delay."""
    settings = state.settings
    return Upgrader(
        state.sessions,
        state.objects,
        settings.tsa_url,
        timedelta(hours=settings.lta_upgrade_delay_hours),
        settings.tmp_dir,
    )
