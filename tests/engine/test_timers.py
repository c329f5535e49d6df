"""Timers fire from the worker: at their time, once, even with several workers."""

from __future__ import annotations

import threading
import time
from datetime import timedelta

from sqlalchemy import func, select
from sqlalchemy.orm import Session, sessionmaker

from engine.runtime.definitions import deploy
from engine.runtime.instances import start_instance
from engine.runtime.scripts import ServiceCall, ServiceRegistry
from engine.runtime.timers import fire_due_timers
from storage.models import Agency, AuditEvent, WorkflowInstance, WorkflowTask, utcnow
from tests.bpmn_builder import chain, service_task, timer_catch, user_task

COMMUNE = "000.01.20.H99"


def _registry() -> ServiceRegistry:
    registry = ServiceRegistry()

    @registry.register("mark_fired")
    def mark_fired(call: ServiceCall) -> dict[str, bool]:
        from engine import audit

        audit.record(
            call.context.session, None, "timer_fired", "workflow_instance", call.context.instance_id
        )
        return {"fired": True}

    return registry


def _commune(s: Session) -> int:
    agency_id = s.scalar(select(Agency.id).where(Agency.code == COMMUNE))
    assert agency_id is not None
    return agency_id


def test_boundary_timer_escalates_to_the_leader_when_due(sessions: sessionmaker[Session]) -> None:
    boundary = (
        '<bpmn:boundaryEvent id="late" attachedToRef="work"><bpmn:timerEventDefinition id="late_def">'
        "<bpmn:timeDate>deadline</bpmn:timeDate></bpmn:timerEventDefinition></bpmn:boundaryEvent>"
        '<bpmn:userTask id="escalate" name="Đôn đốc hồ sơ chậm"/>'
        '<bpmn:sequenceFlow id="fl" sourceRef="late" targetRef="escalate"/>'
        '<bpmn:endEvent id="late_end"/><bpmn:sequenceFlow id="fl2" sourceRef="escalate" targetRef="late_end"/>'
    )
    doc = chain(
        "escalation",
        [user_task("work", "[specialist@case]")],
        boundary=boundary,
        lanes_extra={"[leader@case]": ["late", "escalate", "late_end"]},
    )
    deadline = utcnow() + timedelta(seconds=1.5)
    with sessions.begin() as s:
        deploy(s, doc, "escalation.bpmn", {})
        loaded = start_instance(
            s, "escalation", agency_id=_commune(s), data={"deadline": deadline.isoformat()}
        )
        iid = loaded.row.id
        assert loaded.row.next_timer_at is not None
        assert abs((loaded.row.next_timer_at - deadline).total_seconds()) < 0.01
    assert fire_due_timers(sessions) == 0  # not due yet
    time.sleep(max(0.0, (deadline - utcnow()).total_seconds()) + 0.2)
    assert fire_due_timers(sessions) == 1
    with sessions.begin() as s:
        rows = {
            r.task_spec: r.state
            for r in s.scalars(select(WorkflowTask).where(WorkflowTask.instance_id == iid))
        }
        assert rows == {"work": "cancelled", "escalate": "ready"}
        assert (
            s.scalar(select(WorkflowInstance.next_timer_at).where(WorkflowInstance.id == iid))
            is None
        )
    assert fire_due_timers(sessions) == 0  # never twice


def test_three_workers_fire_each_timer_exactly_once(sessions: sessionmaker[Session]) -> None:
    registry = _registry()
    doc = chain(
        "tick",
        [
            timer_catch("wait", "when"),
            service_task("note", "mark_fired"),
            user_task("after", "[specialist@case]"),
        ],
    )
    when = utcnow() + timedelta(seconds=1)
    count = 12
    with sessions.begin() as s:
        deploy(s, doc, "tick.bpmn", {}, known_services=registry.names())
        for _ in range(count):
            start_instance(
                s, "tick", agency_id=_commune(s), data={"when": when.isoformat()}, services=registry
            )
    time.sleep(max(0.0, (when - utcnow()).total_seconds()) + 0.2)
    fired: list[int] = []

    def worker() -> None:
        fired.append(fire_due_timers(sessions, services=registry))

    threads = [threading.Thread(target=worker) for _ in range(3)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(120)
    assert sum(fired) == count
    with sessions.begin() as s:
        per_instance = s.execute(
            select(AuditEvent.object_id, func.count())
            .where(AuditEvent.action == "timer_fired")
            .group_by(AuditEvent.object_id)
        ).all()
        assert len(per_instance) == count and {n for _, n in per_instance} == {1}
        ready = s.scalar(
            select(func.count())
            .select_from(WorkflowTask)
            .where(WorkflowTask.task_spec == "after", WorkflowTask.state == "ready")
        )
        assert ready == count
