"""What the outbox's transport may raise, and which failures are worth another attempt.

A peer that answers 400, 401, 403, 404, 410, 413, 415 or 422 refuses the package for good:
sending the same bytes again gets the same answer, so the entry stops (state `refused`)
until a clerk fixes the cause and sends it again. Everything else — no answer, a cut
connection, 408, 425, 429, 5xx — is transient and retried with back-off, up to a limit.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Final

from engine.errors import ExchangeError

__all__ = ["PERMANENT_STATUSES", "LocalRefusal", "PeerAnswered", "Send", "refusal"]

# POSTs a package to a peer's URL and returns the response body; raises PeerAnswered when
# the peer answers with an HTTP error, OSError (or any exception) when it cannot be reached.
Send = Callable[[str, bytes], bytes]

PERMANENT_STATUSES: Final = frozenset({400, 401, 403, 404, 410, 413, 415, 422})
# Answers with one of those statuses that nonetheless ask to be sent again later.
_TRANSIENT_CODES: Final = frozenset({"package_in_progress"})


class PeerAnswered(OSError):
    """The peer node answered a package with an HTTP error status."""

    def __init__(self, url: str, status: int, body: bytes) -> None:
        self.url, self.status = url, status
        self.code, self.detail = _error_of(body)
        super().__init__(f"{url} answered {status} {self.code}: {self.detail}")

    @property
    def permanent(self) -> bool:
        """True when sending the same package again would get the same answer."""
        return self.status in PERMANENT_STATUSES and self.code not in _TRANSIENT_CODES


class LocalRefusal(Exception):
    """The receiving code of an agency on this node refused the package (`error`): what a
    peer node would have answered with an HTTP error."""

    def __init__(self, error: ExchangeError) -> None:
        self.error = error
        super().__init__(error.message)


def refusal(e: BaseException) -> str | None:
    """The sentence recorded on an entry the receiver refused for good, or None when the
    failure is worth another attempt. Only the receiver's own answer counts: a package or
    status we could not read in a peer's 2xx answer was received there, so it is transient."""
    if isinstance(e, PeerAnswered) and e.permanent:
        what = f"HTTP {e.status} {e.code}"
        detail = e.detail
    elif (
        isinstance(e, LocalRefusal)
        and e.error.http_status in PERMANENT_STATUSES
        and e.error.code not in _TRANSIENT_CODES
    ):
        what, detail = e.error.code, e.error.message
    else:
        return None
    return (
        f"Nơi nhận từ chối gói tin ({what}): {detail} — khắc phục rồi gửi lại / the receiver "
        f"refused the package ({what}); fix the cause, then send it again"
    )[:2000]


def _error_of(body: bytes) -> tuple[str, str]:
    """(code, message) of an error answer: our peers send {"error", "detail"}; others
    anything, of which the start is kept on one line."""
    try:
        parsed = json.loads(body)
    except ValueError:
        parsed = None
    if isinstance(parsed, dict) and isinstance(parsed.get("error"), str):
        detail = parsed.get("detail")
        return parsed["error"][:100], (detail if isinstance(detail, str) else "")[:1000]
    text = " ".join(body[:500].decode("utf-8", "replace").split())
    return "http_error", text
