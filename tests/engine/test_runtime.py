"""The persisted BPMN runtime: lanes, versions, incidents, sandbox, optimistic locking."""

from __future__ import annotations

import threading
from typing import Any

import pytest
from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from engine.auth import principal_for
from engine.errors import ConflictError, PermissionDeniedError, WorkflowError
from engine.principal import Principal
from engine.runtime.definitions import deploy
from engine.runtime.instances import load_instance, persist, start_instance
from engine.runtime.scripts import ServiceCall, ServiceRegistry
from engine.runtime.tasks import claim_task, complete_task, inbox
from engine.runtime.timers import list_incidents, retry_instance
from storage.db import make_engine, make_sessionmaker
from storage.models import Agency, AuditEvent, User, WorkflowInstance, WorkflowTask
from tests.bpmn_builder import chain, script_task, service_task, user_task

COMMUNE = "000.01.20.H99"
DEPARTMENT = "000.00.10.H99"
FAR = "2099-01-01T00:00:00+07:00"


def _agency_id(s: Session, code: str) -> int:
    agency_id = s.scalar(select(Agency.id).where(Agency.code == code))
    assert agency_id is not None
    return agency_id


def _me(s: Session, username: str) -> Principal:
    return principal_for(s, s.scalar(select(User.id).where(User.username == username)))


def _task_id(s: Session, username: str, spec: str, instance_id: int) -> int:
    tasks, _ = inbox(s, _me(s, username), limit=200)
    found = [t.id for t in tasks if t.task == spec and t.instance_id == instance_id]
    assert found, f"{spec} not in {username}'s inbox"
    return found[0]


def test_competent_lane_sends_tasks_to_the_department_not_the_commune(
    sessions: sessionmaker[Session],
) -> None:
    with sessions.begin() as s:
        iid = start_instance(
            s,
            "one_stop_standard",
            agency_id=_agency_id(s, COMMUNE),
            data={"due_at": FAR, "competent_agency": DEPARTMENT},
        ).row.id
    with sessions.begin() as s:
        complete_task(s, _task_id(s, "tiepnhan", "receive", iid), _me(s, "tiepnhan"), {})
    with sessions.begin() as s:
        assert [t.task for t in inbox(s, _me(s, "lanhdao.so"))[0]] == ["assign"]
        assert [t for t in inbox(s, _me(s, "lanhdao"))[0] if t.instance_id == iid] == []


def test_liaison_tasks_reach_police_and_social_insurance_inboxes(
    sessions: sessionmaker[Session],
) -> None:
    with sessions.begin() as s:
        iid = start_instance(
            s, "one_stop_liaison_birth", agency_id=_agency_id(s, COMMUNE), data={"due_at": FAR}
        ).row.id
    for user, spec, data in [
        ("tiepnhan", "receive", {}),
        ("chuyenvien", "appraise_birth", {"appraisal": "eligible"}),
        ("lanhdao", "approve_birth", {"decision": "approve"}),
    ]:
        with sessions.begin() as s:
            complete_task(s, _task_id(s, user, spec, iid), _me(s, user), data)
    with sessions.begin() as s:
        assert [t.task for t in inbox(s, _me(s, "congan"))[0]] == ["register_residence"]
        assert [t.task for t in inbox(s, _me(s, "bhxh"))[0]] == ["issue_insurance_card"]
        police = inbox(s, _me(s, "congan"))[0][0]
        assert police.agency_code == "000.00.40.H99"


def test_unresolvable_lane_is_an_error_naming_the_lane_and_writes_nothing(
    sessions: sessionmaker[Session],
) -> None:
    lane = "Nơi không tồn tại [specialist@code:999.99.99.H98]"
    with sessions.begin() as s:
        deploy(s, chain("lost_lane", [user_task("t1", lane)]), "lost.bpmn", {})
    with pytest.raises(WorkflowError) as err, sessions.begin() as s:
        start_instance(s, "lost_lane", agency_id=_agency_id(s, COMMUNE))
    assert lane in err.value.message
    with sessions.begin() as s:
        assert s.scalar(select(WorkflowInstance.id)) is None


@pytest.mark.parametrize(
    ("lane", "why"),
    [
        ("Chuyên viên", "role@agency"),
        ("[wizard@case]", "role"),
        ("[specialist@kind:castle]", "agency"),
    ],
)
def test_bad_lanes_are_refused_at_deploy(
    sessions: sessionmaker[Session], lane: str, why: str
) -> None:
    with pytest.raises(WorkflowError) as err, sessions.begin() as s:
        deploy(s, chain("bad_lane", [user_task("t1", lane)]), "bad.bpmn", {})
    assert lane in err.value.message and why in err.value.message


def test_task_outside_any_lane_is_refused_at_deploy(sessions: sessionmaker[Session]) -> None:
    doc = chain("no_lane", [user_task("t1", "[specialist@case]")]).replace(
        b"<bpmn:flowNodeRef>t1</bpmn:flowNodeRef>", b""
    )
    with pytest.raises(WorkflowError, match="t1"), sessions.begin() as s:
        deploy(s, doc, "nolane.bpmn", {})


def test_redeploying_same_bytes_keeps_the_version_and_instances_keep_theirs(
    sessions: sessionmaker[Session],
) -> None:
    v1 = chain("versioned", [user_task("first", "[specialist@case]")])
    v2 = chain("versioned", [user_task("second", "[specialist@case]")])
    with sessions.begin() as s:
        a, created = deploy(s, v1, "v.bpmn", {})
        assert created and a.version == 1
        b, created = deploy(s, v1, "v.bpmn", {})
        assert not created and b.id == a.id
        old = start_instance(s, "versioned", agency_id=_agency_id(s, COMMUNE)).row.id
        c, created = deploy(s, v2, "v.bpmn", {})
        assert created and c.version == 2
        new = start_instance(s, "versioned", agency_id=_agency_id(s, COMMUNE)).row.id
    with sessions.begin() as s:
        tasks = {t.instance_id: t.task for t in inbox(s, _me(s, "chuyenvien"))[0]}
        assert tasks[old] == "first" and tasks[new] == "second"
        assert load_instance(s, old).definition_version == 1


def _failing_registry() -> ServiceRegistry:
    registry = ServiceRegistry()

    @registry.register("check_papers")
    def check_papers(call: ServiceCall, papers: Any = None) -> dict[str, Any]:
        if not papers:
            raise ValueError("no papers attached")
        return {"ok": True}

    return registry


def test_failing_service_task_becomes_incident_that_an_admin_retries(
    sessions: sessionmaker[Session],
) -> None:
    registry = _failing_registry()
    doc = chain(
        "svc",
        [
            service_task("check", "check_papers", {"papers": "papers"}),
            user_task("after", "[specialist@case]"),
        ],
    )
    with sessions.begin() as s:
        deploy(s, doc, "svc.bpmn", {}, known_services=registry.names())
        iid = start_instance(
            s, "svc", agency_id=_agency_id(s, COMMUNE), data={"papers": []}, services=registry
        ).row.id
    with sessions.begin() as s:
        row = s.get(WorkflowInstance, iid)
        assert row is not None and row.status == "incident"
        assert row.incident is not None and row.incident["task"] == "check"
        assert "no papers attached" in row.incident["message"]
        assert [r.id for r in list_incidents(s, _me(s, "admin"))[0]] == [iid]
        with pytest.raises(PermissionDeniedError):
            retry_instance(s, iid, _me(s, "chuyenvien"), services=registry)
    with sessions.begin() as s:
        retry_instance(s, iid, _me(s, "admin"), {"papers": ["to-khai.pdf"]}, services=registry)
    with sessions.begin() as s:
        row = s.get(WorkflowInstance, iid)
        assert row is not None and row.status == "running" and row.incident is None
        assert [t.task for t in inbox(s, _me(s, "chuyenvien"))[0]] == ["after"]
        with pytest.raises(ConflictError):
            retry_instance(s, iid, _me(s, "admin"), services=registry)


def test_deploy_refuses_unknown_service_function(sessions: sessionmaker[Session]) -> None:
    with pytest.raises(WorkflowError, match="no_such_fn"), sessions.begin() as s:
        deploy(
            s,
            chain("svc2", [service_task("x", "no_such_fn")]),
            "svc2.bpmn",
            {},
            known_services=frozenset(),
        )


@pytest.mark.parametrize(
    "script",
    ["import os", "x = ().__class__.__bases__", "__import__('os')", "from os import path"],
)
def test_sandbox_escapes_are_refused_at_deploy(
    sessions: sessionmaker[Session], script: str
) -> None:
    with pytest.raises(WorkflowError, match="rejected"), sessions.begin() as s:
        deploy(s, chain("escape", [script_task("s1", script)]), "escape.bpmn", {})


def test_scripts_see_only_the_builtins_we_hand_them(sessions: sessionmaker[Session]) -> None:
    doc = chain(
        "sandbox",
        [script_task("s1", "x = open('/etc/passwd')"), user_task("t", "[specialist@case]")],
    )
    # Refused when the designer deploys it, naming what is not there (engine.runtime.sandbox).
    with pytest.raises(WorkflowError, match="'open' is not available"), sessions.begin() as s:
        deploy(s, doc, "sandbox.bpmn", {})
    with sessions() as s:
        assert s.scalar(select(WorkflowInstance.id)) is None


def test_scripts_can_use_working_day_function(sessions: sessionmaker[Session]) -> None:
    doc = chain(
        "calc",
        [
            script_task("s1", "due = add_working_days('2026-02-13T09:00:00+07:00', 3)"),
            user_task("t", "[specialist@case]"),
        ],
    )
    with sessions.begin() as s:
        deploy(s, doc, "calc.bpmn", {})
        loaded = start_instance(s, "calc", agency_id=_agency_id(s, COMMUNE))
        task = loaded.workflow.get_tasks(spec_name="t")[0]
        assert task.data["due"] == "2026-02-25T09:00:00+07:00"


def test_claimed_task_leaves_the_other_specialists_inbox(sessions: sessionmaker[Session]) -> None:
    from engine.users import create_user

    doc = chain("claimable", [user_task("t", "[specialist@case]")])
    with sessions.begin() as s:
        create_user(s, "chuyenvien2", "Mai Thị Hai", COMMUNE, ["specialist"], "secret-pass")
        deploy(s, doc, "claim.bpmn", {})
        iid = start_instance(s, "claimable", agency_id=_agency_id(s, COMMUNE)).row.id
    with sessions.begin() as s:
        tid = _task_id(s, "chuyenvien2", "t", iid)
        claim_task(s, tid, _me(s, "chuyenvien"))
    with sessions.begin() as s:
        assert [t for t in inbox(s, _me(s, "chuyenvien2"))[0] if t.id == tid] == []
        with pytest.raises(ConflictError):
            complete_task(s, tid, _me(s, "chuyenvien2"), {})
        with pytest.raises(PermissionDeniedError):
            complete_task(s, tid, _me(s, "lanhdao"), {})


def test_two_simultaneous_completions_of_one_task_exactly_one_wins(
    sessions: sessionmaker[Session],
) -> None:
    doc = chain("race", [user_task("t", "[specialist@case]"), user_task("next", "[leader@case]")])
    with sessions.begin() as s:
        deploy(s, doc, "race.bpmn", {})
        iid = start_instance(s, "race", agency_id=_agency_id(s, COMMUNE)).row.id
        tid = _task_id(s, "chuyenvien", "t", iid)
    barrier = threading.Barrier(2)
    results: list[str] = []

    def worker(comment: str) -> None:
        barrier.wait()
        try:
            with sessions.begin() as s:
                complete_task(s, tid, _me(s, "chuyenvien"), {"comment": comment})
            results.append("won")
        except ConflictError:
            results.append("409")

    threads = [threading.Thread(target=worker, args=(c,)) for c in ("a", "b")]
    for t in threads:
        t.start()
    for t in threads:
        t.join(60)
    assert sorted(results) == ["409", "won"]
    with sessions.begin() as s:
        assert (
            s.scalar(select(WorkflowInstance.status).where(WorkflowInstance.id == iid)) == "running"
        )
        ready = s.scalars(
            select(WorkflowTask.task_spec).where(
                WorkflowTask.instance_id == iid, WorkflowTask.state == "ready"
            )
        ).all()
        assert ready == ["next"]


def test_stale_instance_write_is_a_conflict_and_loses_nothing(pg_database: str) -> None:
    """Police and social insurance finish their parallel liaison tasks at the same moment."""
    from engine.setup import install_shipped
    from tests.conftest import WORKFLOWS, _truncate_all

    engine = make_engine(pg_database)
    _truncate_all(engine)
    factory = make_sessionmaker(engine)
    with factory.begin() as s:
        install_shipped(s, WORKFLOWS, seed_demo=True)
        iid = start_instance(
            s, "one_stop_liaison_birth", agency_id=_agency_id(s, COMMUNE), data={"due_at": FAR}
        ).row.id
    for user, spec, data in [
        ("tiepnhan", "receive", {}),
        ("chuyenvien", "appraise_birth", {}),
        ("lanhdao", "approve_birth", {}),
    ]:
        with factory.begin() as s:
            complete_task(s, _task_id(s, user, spec, iid), _me(s, user), data)
    slow = factory()
    slow.begin()
    stale = load_instance(slow, iid)  # the social-insurance officer's request reads version v
    with factory.begin() as s:  # meanwhile the police officer completes and commits
        complete_task(
            s,
            _task_id(s, "congan", "register_residence", iid),
            _me(s, "congan"),
            {"residence_registered": True},
        )
    card = stale.workflow.get_tasks(spec_name="issue_insurance_card")[0]
    card.data["card_number"] = "TE1"
    card.run()
    with pytest.raises(ConflictError):
        persist(slow, stale)
    slow.rollback()
    slow.close()
    with factory.begin() as s:  # the officer retries and both results are kept
        complete_task(
            s,
            _task_id(s, "bhxh", "issue_insurance_card", iid),
            _me(s, "bhxh"),
            {"card_number": "TE1"},
        )
    with factory.begin() as s:
        loaded = load_instance(s, iid)
        ret = loaded.workflow.get_tasks(spec_name="return_result")[0]
        assert ret.data["card_number"] == "TE1" and ret.data["residence_registered"] is True
        assert s.scalar(select(AuditEvent.id).where(AuditEvent.action == "complete")) is not None
    engine.dispose()
