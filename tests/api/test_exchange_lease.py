"""A delivery's lease is renewed before the send only when what is left of it could run out
during that send: a burst does not pay a write transaction per package for nothing, and a
send late in a long round still cannot be sent twice."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import timedelta

import pytest

from api.exchange_client import http_send
from engine.exchange.outbox import Outbox
from tests.api.test_exchange_refusals import B_COMMUNE, TO_B, _Answering, _dispatched, _peer
from tests.conftest import Api
from tests.engine.test_query_plans import captured_statements
from tests.pki import TestPki


@pytest.fixture
def proxy() -> Iterator[_Answering]:
    server = _Answering()  # a peer that is down for now (503): the send happens, then fails
    yield server
    server.shutdown()
    server.server_close()


def _renewals(api: Api, lease: timedelta) -> int:
    s = api.state
    outbox = Outbox(
        s.sessions,
        s.objects,
        s.node,
        http_send(5),
        s.settings.tmp_dir,
        lease=lease,
        send_timeout=timedelta(seconds=5),
    )
    with captured_statements(s.engine) as seen:
        assert outbox.run_once() == 1
    # The renewal is the UPDATE guarded by the entry still being pending.
    return sum(
        1 for q, _ in seen if q.startswith("UPDATE deliveries SET next_attempt_at") and "state" in q
    )


@pytest.mark.parametrize(
    ("lease", "renewals"),
    [
        (timedelta(minutes=2), 0),  # claimed a moment ago: the lease outlasts the send
        (timedelta(seconds=12), 1),  # less than a send (5 s) and its slack (15 s): renewed
    ],
)
def test_the_lease_is_renewed_only_when_the_send_could_outlast_it(
    api: Api, proxy: _Answering, pki: TestPki, lease: timedelta, renewals: int
) -> None:
    _peer(api, proxy.url, api.state.node.certificate_pem, [B_COMMUNE])
    _dispatched(api, pki, TO_B)
    assert _renewals(api, lease) == renewals
