"""BPMN scripts: known sandbox escapes are refused at deployment and at run time, and a
script that runs away stops with an incident instead of holding a request forever."""

from __future__ import annotations

import time
from pathlib import Path
from xml.sax.saxutils import escape

import pytest
from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from engine.errors import WorkflowError
from engine.runtime.definitions import deploy
from engine.runtime.instances import start_instance
from engine.runtime.scripts import ScriptRejected, ServiceRegistry, make_script_engine
from storage.models import Agency
from tests.bpmn_builder import chain, script_task, service_task, user_task

COMMUNE = "000.01.20.H99"


def _frame_walk(marker: Path) -> str:
    # The audit's exploit: a generator's frame leads back to the real builtins.
    return (
        "refs = []\n"
        "def f(r=refs):\n"
        "    yield r[0].gi_frame.f_back\n"
        "gen = f()\n"
        "refs.append(gen)\n"
        "for fr in gen:\n"
        "    break\n"
        "b = fr.f_back.f_builtins\n"
        f'b["__import__"]("subprocess").run(["touch", "{marker}"])\n'
    )


ESCAPES = {
    "generator expression frame": "g = (x for x in [1])\nf = g.gi_frame.f_back.f_builtins",
    "lambda": "f = lambda: 1",
    "class attribute": "x = ().__class__.__bases__",
    "getattr with a string": "x = getattr((), '_' + '_class__')",
    "str.format traversal": "x = '{0.__class__}'.format(1)",
    "format_map": "x = 'a'.format_map({})",
    "type()": "x = type(1)",
    "vars()": "x = vars()",
    "globals()": "x = globals()",
    "eval": "x = eval('1')",
    "exec": "exec('x = 1')",
    "compile": "x = compile('1', 'f', 'eval')",
    "open": "x = open('/etc/passwd')",
    "import": "import os",
    "code object": "x = add_working_days.gi_code",
    "f-string width bomb": "x = f'{1:>999999999}'",
    "f-string nested spec": "w = 9\nx = f'{1:>{w}}'",
    "while loop": "while True:\n    pass",
    "try": "try:\n    x = 1\nexcept Exception:\n    pass",
    "with": "with x:\n    pass",
    "global": "global x",
    "item assignment": "d = {}\nd['a'] = d",
    "star arguments": "x = max(*[1, 2])",
    "walrus": "y = (x := 1)",
}


def _agency_id(s: Session) -> int:
    agency_id = s.scalar(select(Agency.id).where(Agency.code == COMMUNE))
    assert agency_id is not None
    return agency_id


def _process(process_id: str, script: str) -> bytes:
    return chain(
        process_id,
        [
            script_task("calc", escape(script), "[specialist@case]"),
            user_task("t", "[specialist@case]"),
        ],
    )


def test_audit_frame_walk_is_refused_at_deploy_naming_the_task(
    sessions: sessionmaker[Session], tmp_path: Path
) -> None:
    marker = tmp_path / "owned"
    with pytest.raises(WorkflowError) as e, sessions.begin() as s:
        deploy(s, _process("escape", _frame_walk(marker)), "escape.bpmn", {})
    assert e.value.code == "bpmn_script_rejected"
    assert "'calc'" in e.value.message and "FunctionDef" in e.value.message
    assert not marker.exists()


@pytest.mark.parametrize("script", ESCAPES.values(), ids=ESCAPES.keys())
def test_known_escapes_are_refused_at_deploy(sessions: sessionmaker[Session], script: str) -> None:
    with pytest.raises(WorkflowError, match="calc") as e, sessions.begin() as s:
        deploy(s, _process("escape", script), "escape.bpmn", {})
    assert e.value.http_status == 422


def test_condition_expressions_are_checked_too(sessions: sessionmaker[Session]) -> None:
    doc = chain("cond", [user_task("t", "[specialist@case]")]).replace(
        b'<bpmn:sequenceFlow id="f1" sourceRef="t" targetRef="end"/>',
        b'<bpmn:sequenceFlow id="f1" sourceRef="t" targetRef="end">'
        b"<bpmn:conditionExpression>type(decision)</bpmn:conditionExpression>"
        b"</bpmn:sequenceFlow>",
    )
    with pytest.raises(WorkflowError, match="'type' is not available"), sessions.begin() as s:
        deploy(s, doc, "cond.bpmn", {})


@pytest.mark.parametrize("script", ESCAPES.values(), ids=ESCAPES.keys())
def test_known_escapes_are_refused_at_run_time(script: str) -> None:
    # A definition stored before deployment checked scripts still may not escape.
    environment = make_script_engine({}, ServiceRegistry()).environment
    with pytest.raises(ScriptRejected):
        environment.execute(script, {"x": {}})


def test_audit_frame_walk_does_not_run_at_run_time(tmp_path: Path) -> None:
    marker = tmp_path / "owned"
    environment = make_script_engine({}, ServiceRegistry()).environment
    with pytest.raises(ScriptRejected, match="FunctionDef"):
        environment.execute(_frame_walk(marker), {})
    assert not marker.exists()


@pytest.mark.parametrize(
    ("script", "reason"),
    [
        ("n = 0\nfor i in range(10000):\n    for j in range(10000):\n        n = n + 1", "steps"),
        ("x = 'a' * 2000000", "units"),
        ("x = 'a' * 1000\nfor i in range(12):\n    x = x + x", "units"),
        ("x = [1]\nfor i in range(40):\n    x = [x, x]", "units"),
        ("x = 7 ** 100000", "bits"),
        ("x = list(range(10 ** 9))", "range"),
        ("x = '%999999999d' % 1", "formatting"),
    ],
    ids=["nested loops", "repeat", "doubling", "shared tree", "power", "range", "printf width"],
)
def test_runaway_script_becomes_an_incident_quickly(
    sessions: sessionmaker[Session], script: str, reason: str
) -> None:
    with sessions.begin() as s:
        deploy(s, _process("runaway", script), "runaway.bpmn", {})
        began = time.monotonic()
        loaded = start_instance(s, "runaway", agency_id=_agency_id(s))
        assert time.monotonic() - began < 10
        assert loaded.row.status == "incident"
        assert reason in loaded.row.incident["message"]  # type: ignore[index]


def test_ordinary_scripts_still_run(sessions: sessionmaker[Session]) -> None:
    script = (
        "people = [{'name': 'An', 'days': 2}, {'name': 'Bình', 'days': 3}]\n"
        "total = sum([p.get('days', 0) for p in people])\n"
        "names = [p['name'].upper() for p in people]\n"
        "label = f'{total:>4} ngày / days'\n"
        "late = total > 4 and 'late' or 'on time'\n"
        "due = add_working_days('2026-02-13T09:00:00+07:00', total - 2)\n"
        "count = 0\n"
        "for i in range(10):\n"
        "    if i % 2 == 0:\n"
        "        count += 1\n"
    )
    with sessions.begin() as s:
        deploy(s, _process("ordinary", script), "ordinary.bpmn", {})
        loaded = start_instance(s, "ordinary", agency_id=_agency_id(s))
        assert loaded.row.status == "running", loaded.row.incident
        data = loaded.workflow.get_tasks(spec_name="t")[0].data
    assert data["total"] == 5 and data["names"] == ["AN", "BÌNH"]
    assert data["label"] == "   5 ngày / days" and data["late"] == "late"
    assert data["due"] == "2026-02-25T09:00:00+07:00" and data["count"] == 5


def test_service_parameters_and_pre_scripts_are_checked_too(
    sessions: sessionmaker[Session],
) -> None:
    params = chain("param", [service_task("mark", "record_overdue", {"due_at": "vars()"})])
    pre = chain("pre", [user_task("t", "[specialist@case]")]).replace(
        b'<bpmn:userTask id="t" name="t"/>',
        b'<bpmn:userTask id="t" name="t"><bpmn:extensionElements>'
        b"<spiffworkflow:preScript>x = type(1)</spiffworkflow:preScript>"
        b"</bpmn:extensionElements></bpmn:userTask>",
    )
    for doc, task, name in ((params, "mark", "vars"), (pre, "t", "type")):
        with pytest.raises(WorkflowError, match=f"'{task}'.*'{name}'"), sessions.begin() as s:
            deploy(s, doc, "checked.bpmn", {})
