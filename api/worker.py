"""The worker loop: fires due timers until stopped (thread in `serve`, or `lienthong worker`)."""

from __future__ import annotations

import logging
import threading

from sqlalchemy.orm import Session, sessionmaker

from engine.errors import LienthongError
from engine.runtime.timers import fire_due_timers
from storage.errors import StorageError

__all__ = ["run_worker"]

log = logging.getLogger("lienthong.worker")


def run_worker(
    sessions: sessionmaker[Session], interval: float, stop: threading.Event, *, once: bool = False
) -> int:
    """Fire due timers every `interval` seconds until `stop` is set; returns how many fired."""
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
        total += fired
        if fired:
            log.info("fired %d timer(s)", fired)
        if once:
            break
        stop.wait(interval)
    return total
