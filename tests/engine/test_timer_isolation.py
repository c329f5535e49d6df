"""One instance whose timer cannot go on never holds up the timers of the others."""

from __future__ import annotations

import time
from datetime import timedelta

from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from engine.runtime.definitions import deploy
from engine.runtime.instances import start_instance
from engine.runtime.timers import fire_due_timers
from storage.models import Agency, WorkflowInstance, WorkflowTask, utcnow
from tests.bpmn_builder import chain, timer_catch, user_task

COMMUNE = "000.01.20.H99"


def _start(s: Session, process_id: str, lane: str, seconds: float) -> int:
    doc = chain(
        process_id, [timer_catch("wait", "due_at", "[reception@case]"), user_task("t1", lane)]
    )
    deploy(s, doc, f"{process_id}.bpmn", {})
    agency = s.scalar(select(Agency.id).where(Agency.code == COMMUNE))
    assert agency is not None
    due = (utcnow() + timedelta(seconds=seconds)).isoformat()
    return start_instance(s, process_id, agency_id=agency, data={"due_at": due}).row.id


def test_a_timer_leading_to_an_unresolvable_lane_becomes_an_incident_and_others_fire(
    sessions: sessionmaker[Session],
) -> None:
    with sessions.begin() as s:
        # No ministry above the commune: the task after the timer has nowhere to go.
        bad = _start(s, "timer_bad", "[specialist@kind:ministry]", 1.0)
        good = _start(s, "timer_good", "[reception@case]", 1.5)
    time.sleep(1.8)
    assert fire_due_timers(sessions) == 2
    with sessions.begin() as s:
        bad_row, good_row = s.get(WorkflowInstance, bad), s.get(WorkflowInstance, good)
        assert bad_row is not None and good_row is not None
        assert bad_row.status == "incident" and bad_row.next_timer_at is None
        assert bad_row.incident is not None and "ministry" in bad_row.incident["message"]
        assert good_row.status == "running"
        tasks = s.scalars(select(WorkflowTask.task_spec).where(WorkflowTask.instance_id == good))
        assert list(tasks) == ["t1"]
    assert fire_due_timers(sessions) == 0  # the incident waits for an admin, not every round
