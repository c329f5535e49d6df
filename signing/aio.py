"""Running pyHanko's coroutines from synchronous code, on one event loop per thread."""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Coroutine
from typing import Any, TypeVar

from pyhanko_certvalidator import ValidationContext

__all__ = ["run_sync"]

T = TypeVar("T")
_loops = threading.local()


def run_sync(coro: Coroutine[Any, Any, T], *contexts: ValidationContext | None) -> T:
    """Run a pyHanko coroutine on this thread's long-lived event loop, then release the
    HTTP sessions the validation contexts opened.

    `asyncio.run` would build and tear down a loop per document. Must not be called
    from inside a running event loop (call it from a worker thread there).
    """

    async def _scoped() -> T:
        try:
            return await coro
        finally:
            for vc in contexts:
                if vc is not None:
                    await vc.aclose()

    loop = getattr(_loops, "loop", None)
    if loop is None or loop.is_closed():
        loop = _loops.loop = asyncio.new_event_loop()
    return loop.run_until_complete(_scoped())
