"""How many SQL statements a workflow step costs: a regression guard for the runtime's speed.

Counting statements is deterministic where timing is not; each one is a round trip and,
above all, SQLAlchemy work on the request's path (see bench/engine.py).
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from sqlalchemy import Engine, event, select
from sqlalchemy.orm import Session, sessionmaker

from engine.auth import principal_for
from engine.runtime.instances import start_instance
from engine.runtime.tasks import complete_task
from storage.models import Agency, User, WorkflowTask

COMMUNE = "000.01.20.H99"
FAR = "2099-01-01T00:00:00+07:00"
STEPS = [  # one_stop_standard from reception to the returned result
    ("tiepnhan", "receive", {}),
    ("lanhdao", "assign", {"next_assignee": "chuyenvien"}),
    ("chuyenvien", "appraise", {"appraisal": "eligible"}),
    ("lanhdao", "approve", {"decision": "approve"}),
    ("vanthu", "issue_result", {}),
    ("tiepnhan", "return_result", {}),
]


@contextmanager
def _statements(engine: Engine) -> Iterator[list[str]]:
    seen: list[str] = []

    def count(_c: Any, _cur: Any, statement: str, *_: Any) -> None:
        if not statement.startswith("BEGIN"):  # SQLite's BEGIN IMMEDIATE; psycopg's is implicit
            seen.append(statement.split(None, 1)[0])

    event.listen(engine, "before_cursor_execute", count)
    try:
        yield seen
    finally:
        event.remove(engine, "before_cursor_execute", count)


def _ready_task(s: Session, instance_id: int) -> int:
    task_id = s.scalar(
        select(WorkflowTask.id).where(
            WorkflowTask.instance_id == instance_id, WorkflowTask.state == "ready"
        )
    )
    assert task_id is not None
    return task_id


def test_each_step_costs_a_fixed_small_number_of_statements(
    engine: Engine, sessions: sessionmaker[Session]
) -> None:
    with sessions.begin() as s:
        agency_id = s.scalar(select(Agency.id).where(Agency.code == COMMUNE))
        assert agency_id is not None
        people = {
            name: principal_for(s, s.scalar(select(User.id).where(User.username == name)))
            for name, _, _ in STEPS
        }
    with sessions.begin() as s, _statements(engine) as started:
        instance_id = start_instance(
            s, "one_stop_standard", agency_id=agency_id, data={"due_at": FAR}
        ).row.id
    per_step: dict[str, list[str]] = {}
    for user, spec, data in STEPS:
        with sessions.begin() as s:
            task_id = _ready_task(s, instance_id)
            with _statements(engine) as seen:
                complete_task(s, task_id, people[user], data)
            per_step[spec] = seen
    # start: latest definition, agency, INSERT instance, UPDATE it with its state,
    # INSERT the first task row, INSERT the audit event.
    assert started == ["SELECT", "SELECT", "INSERT", "UPDATE", "INSERT", "INSERT"]
    # A step: the task with its instance, definition, agency and the instance's open rows
    # (one SELECT), UPDATE instance (version-checked), UPDATE the completed row, INSERT the
    # next row, INSERT the audit event. Before the rewrite: 6 statements, 3 ORM flushes.
    plain = ["SELECT", "UPDATE", "UPDATE", "INSERT", "INSERT"]
    assert {spec: len(seen) for spec, seen in per_step.items()} == {
        "receive": 5,
        "assign": 7,  # + the form's choice of specialists, + is the chosen one eligible
        "appraise": 5,
        "approve": 5,
        "issue_result": 5,
        "return_result": 4,  # the last: no next row
    }, per_step
    assert per_step["receive"] == plain
    assert per_step["return_result"] == ["SELECT", "UPDATE", "UPDATE", "INSERT"]
