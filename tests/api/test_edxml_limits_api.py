"""A package of too many elements is refused, quickly, by the CLI and by the exchange endpoint."""

from __future__ import annotations

import json
import time
from pathlib import Path

from typer.testing import CliRunner

from api.cli import app
from engine.exchange.xmlsafe import MAX_ELEMENTS
from tests.conftest import Api
from tests.engine.exchange.test_edxml import FAST
from tests.engine.exchange.test_xml_limits import flat

ELEMENTS = 2 * MAX_ELEMENTS  # the shape of the 48 MB attack, smaller

runner = CliRunner()


def test_cli_validate_refuses_too_many_elements_as_unreadable(tmp_path: Path) -> None:
    path = tmp_path / "many.edxml"
    path.write_bytes(flat(ELEMENTS))
    start = time.monotonic()
    result = runner.invoke(app, ["edxml", "validate", str(path), "--json"])
    elapsed = time.monotonic() - start
    assert result.exit_code == 2, result.stdout
    body = json.loads(result.stdout)
    [error] = body["errors"]
    assert body["valid"] is False and error["code"] == "X.TooManyElements"
    assert f"more than {MAX_ELEMENTS:,} XML elements" in error["message"]
    assert elapsed < FAST, f"took {elapsed:.2f} s"


def test_exchange_endpoint_refuses_too_many_elements_before_anything_else(api: Api) -> None:
    start = time.monotonic()
    r = api.client.post(
        "/exchange/v1/packages",
        content=flat(ELEMENTS),
        headers={"Content-Type": "application/xml"},
    )
    elapsed = time.monotonic() - start
    assert r.status_code == 422, r.text
    assert r.json()["error"] == "xml_too_many_elements"
    assert f"{MAX_ELEMENTS:,}" in r.json()["detail"]
    assert elapsed < FAST, f"took {elapsed:.2f} s"
    log = api.client.get("/api/v1/exchange/evidence", headers=api.login("admin")).json()
    assert [(e["direction"], e["result"]) for e in log["items"]][:1] == [
        ("received", "xml_too_many_elements")
    ]
