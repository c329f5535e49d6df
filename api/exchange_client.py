"""The HTTP side of the outbox: POST a package to a peer node and return its answer."""

from __future__ import annotations

from datetime import timedelta

import httpx

from api.deps import AppState
from api.routes.exchange import signing_keys
from engine.exchange.outbox import Outbox
from engine.exchange.transport import PeerAnswered, Send

__all__ = ["http_send", "outbox_for"]


def http_send(timeout: float) -> Send:
    """A transport posting edXML to a peer; raises OSError when it cannot be reached and
    PeerAnswered (an OSError carrying the HTTP status and the peer's error code) when it
    answers with an error, so the outbox tells a refusal for good from a passing failure.

    One client for the worker's life: connections to peers are kept alive between packages.
    """
    client = httpx.Client(timeout=timeout, headers={"Content-Type": "application/xml"})

    def send(url: str, data: bytes) -> bytes:
        try:
            r = client.post(url, content=data)
        except httpx.HTTPError as e:
            raise OSError(f"{url}: {e.__class__.__name__}: {e}") from e
        if r.status_code >= 400:
            raise PeerAnswered(url, r.status_code, r.content[:4000])
        return r.content

    return send


def outbox_for(state: AppState) -> Outbox:
    """The outbox of this node, delivering over HTTP to its peers."""
    return Outbox(
        state.sessions,
        state.objects,
        state.node,
        http_send(state.settings.exchange_timeout),
        state.settings.tmp_dir,
        lease=timedelta(seconds=state.settings.exchange_lease),
        parallel=state.settings.exchange_parallel,
        keys=signing_keys(state, state.objects),
        give_up=timedelta(hours=state.settings.exchange_give_up_hours),
    )
