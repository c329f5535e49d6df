"""A `kind:` lane that matches several equally near agencies is an error, not a guess."""

from __future__ import annotations

import pytest
from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from engine.errors import WorkflowError
from engine.runtime.definitions import deploy
from engine.runtime.instances import start_instance
from storage.models import Agency, WorkflowTask
from tests.bpmn_builder import chain, user_task

COMMUNE = "000.01.20.H99"


def _start(s: Session, process_id: str, lane: str) -> int:
    deploy(s, chain(process_id, [user_task("t1", lane)]), f"{process_id}.bpmn", {})
    agency = s.scalar(select(Agency.id).where(Agency.code == COMMUNE))
    assert agency is not None
    return start_instance(s, process_id, agency_id=agency).row.id


def test_a_kind_lane_matching_two_departments_names_both_and_routes_nothing(
    sessions: sessionmaker[Session],
) -> None:
    # The demo province has two departments (justice, construction) side by side: which one
    # a `kind:department` step belongs to cannot be guessed.
    with pytest.raises(WorkflowError) as caught, sessions.begin() as s:
        _start(s, "to_a_department", "[specialist@kind:department]")
    assert caught.value.code == "lane_ambiguous"
    assert "000.00.10.H99" in caught.value.message and "000.00.11.H99" in caught.value.message
    with sessions.begin() as s:
        assert s.scalar(select(WorkflowTask.id).where(WorkflowTask.task_spec == "t1")) is None


def test_a_kind_lane_with_one_nearest_agency_routes_there(
    sessions: sessionmaker[Session],
) -> None:
    with sessions.begin() as s:
        instance = _start(s, "to_the_province", "[leader@kind:province_pc]")
        agency = s.scalar(
            select(Agency.code)
            .join(WorkflowTask, WorkflowTask.agency_id == Agency.id)
            .where(WorkflowTask.instance_id == instance)
        )
    assert agency == "000.00.00.H99"
