"""Task forms: no remote `$ref` is ever fetched, and broken schemas are refused at deployment
(and are a clear 422 at run time, never a crash)."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, HTTPServer
from typing import Any

import pytest
from sqlalchemy.orm import Session, sessionmaker

from engine.errors import InvalidInputError, WorkflowError
from engine.runtime.definitions import deploy
from engine.runtime.forms import render_form, validate_submission
from tests.bpmn_builder import Node, chain


class _Recorder(BaseHTTPRequestHandler):
    requests: list[str] = []

    def do_GET(self) -> None:
        self.requests.append(self.path)
        body = b'{"type": "string"}'
        self.send_response(200)
        self.send_header("Content-Type", "application/schema+json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args: Any) -> None:
        pass


@pytest.fixture
def listener() -> Iterator[tuple[str, list[str]]]:
    """A real HTTP server on 127.0.0.1 that records every request it gets."""
    seen: list[str] = []
    handler = type("Handler", (_Recorder,), {"requests": seen})
    server = HTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_address[1]}", seen
    server.shutdown()
    server.server_close()


def _with_form(process_id: str, form: str = "f.json") -> bytes:
    task = Node(
        "t1",
        '<bpmn:userTask id="t1" name="t1"><bpmn:extensionElements><spiffworkflow:properties>'
        f'<spiffworkflow:property name="formJsonSchemaFilename" value="{form}"/>'
        "</spiffworkflow:properties></bpmn:extensionElements></bpmn:userTask>",
        "[reception@case]",
    )
    return chain(process_id, [task])


def _remote_forms(base: str) -> list[dict[str, Any]]:
    return [
        {"type": "object", "properties": {"a": {"$ref": f"{base}/x.json"}}},
        {"$id": f"{base}/forms/", "type": "object", "properties": {"a": {"$ref": "x.json"}}},
    ]


def test_remote_ref_is_refused_at_deploy_without_a_request(
    sessions: sessionmaker[Session], listener: tuple[str, list[str]]
) -> None:
    base, seen = listener
    for form in _remote_forms(base):
        with pytest.raises(WorkflowError) as e, sessions.begin() as s:
            deploy(s, _with_form("ssrf"), "ssrf.bpmn", {"f.json": form})
        assert e.value.code == "form_remote_ref" and "f.json" in e.value.message
    assert seen == []


def test_stored_remote_ref_is_not_fetched_when_a_task_is_completed(
    listener: tuple[str, list[str]],
) -> None:
    # A form deployed before deployment checked refs: the validator must still not fetch.
    base, seen = listener
    for form in _remote_forms(base):
        with pytest.raises(WorkflowError) as e:
            validate_submission(form, {"a": "x"})
        assert e.value.http_status == 422 and "$ref" in e.value.message
    assert seen == []


def test_local_refs_still_work() -> None:
    form = {
        "type": "object",
        "$defs": {"code": {"type": "string", "pattern": "^[0-9]+$"}},
        "properties": {"a": {"$ref": "#/$defs/code"}},
    }
    assert validate_submission(form, {"a": "12"}) == {"a": "12"}
    with pytest.raises(InvalidInputError, match="does not match"):
        validate_submission(form, {"a": "x"})


BROKEN: dict[str, Any] = {
    "a list": [1],
    "properties as a list": {"type": "object", "properties": [1, 2]},
    "type 5": {"type": 5},
    "a property that is not an object": {"type": "object", "properties": {"a": True}},
    "not an object form": {"type": "string"},
    "unknown choice source": {
        "type": "object",
        "properties": {"a": {"type": "string", "x-choices": "agencies:all"}},
    },
    "bad choice lane": {
        "type": "object",
        "properties": {"a": {"type": "string", "x-choices": "users:nobody@case"}},
    },
}


@pytest.mark.parametrize("form", BROKEN.values(), ids=BROKEN.keys())
def test_broken_form_is_refused_at_deploy_naming_it(
    sessions: sessionmaker[Session], form: Any
) -> None:
    with pytest.raises(WorkflowError) as e, sessions.begin() as s:
        deploy(s, _with_form("broken", "broken.json"), "broken.bpmn", {"broken.json": form})
    assert e.value.http_status == 422 and e.value.code == "form_invalid"
    assert "broken.json" in e.value.message


@pytest.mark.parametrize(
    "form", [BROKEN["a list"], BROKEN["properties as a list"], BROKEN["type 5"]]
)
def test_stored_broken_form_is_a_clear_error_at_run_time(form: Any) -> None:
    with pytest.raises(WorkflowError) as e:
        validate_submission(form, {"a": "x"})
    assert e.value.http_status == 422


@pytest.mark.parametrize("form", [BROKEN["a list"], BROKEN["properties as a list"]])
def test_stored_broken_form_is_a_clear_error_when_rendered(
    sessions: sessionmaker[Session], form: Any
) -> None:
    with pytest.raises(WorkflowError) as e, sessions.begin() as s:
        render_form(s, form, None, {})  # type: ignore[arg-type]  # never reaches the agency
    assert e.value.code == "form_invalid"
