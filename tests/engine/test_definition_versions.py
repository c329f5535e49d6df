"""Process versions: a changed form is a new version, an unchanged deployment changes nothing."""

from __future__ import annotations

import hashlib
import json
import shutil
import subprocess
import sys
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from alembic import command
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from sqlalchemy import func, make_url, select, text
from sqlalchemy.orm import Session, sessionmaker

from engine.auth import principal_for
from engine.errors import InvalidInputError
from engine.principal import Principal
from engine.runtime.definitions import deploy, deploy_directory, forms_sha256
from engine.runtime.instances import start_instance
from engine.runtime.tasks import complete_task, inbox, task_detail
from engine.setup import install_shipped
from storage.db import make_engine, make_sessionmaker
from storage.migrate import alembic_config, current_revision, head_revision, upgrade
from storage.models import Agency, AuditEvent, Base, ProcessDefinition, User
from tests.bpmn_builder import Node, chain
from tests.conftest import REPO, WORKFLOWS, Api, _pg_base_url

COMMUNE = "000.01.20.H99"
FAR = "2099-01-01T00:00:00+07:00"
FORM_V1: dict[str, Any] = {
    "type": "object",
    "additionalProperties": False,
    "properties": {"comment": {"type": "string", "default": ""}},
}
FORM_V2: dict[str, Any] = {
    **FORM_V1,
    "properties": {**FORM_V1["properties"], "urgent": {"type": "boolean", "default": False}},
}


def _form_task(id: str, lane: str, form: str) -> Node:
    return Node(
        id,
        f'<bpmn:userTask id="{id}" name="{id}"><bpmn:extensionElements>'
        "<spiffworkflow:properties>"
        f'<spiffworkflow:property name="formJsonSchemaFilename" value="{form}"/>'
        "</spiffworkflow:properties></bpmn:extensionElements></bpmn:userTask>",
        lane,
    )


CHECK = chain("check_flow", [_form_task("check", "[reception@case]", "check.schema.json")])


def _me(s: Session, username: str) -> Principal:
    user_id = s.scalar(select(User.id).where(User.username == username))
    assert user_id is not None
    return principal_for(s, user_id)


def _commune(s: Session) -> int:
    agency_id = s.scalar(select(Agency.id).where(Agency.code == COMMUNE))
    assert agency_id is not None
    return agency_id


def _task_id(s: Session, instance_id: int, spec: str) -> int:
    tasks, _ = inbox(s, _me(s, "tiepnhan"), limit=200)
    found = [t.id for t in tasks if t.task == spec and t.instance_id == instance_id]
    assert found, f"{spec} of instance {instance_id} not in tiepnhan's inbox"
    return found[0]


def _fields(s: Session, instance_id: int, spec: str) -> set[str]:
    _, form, _ = task_detail(s, _task_id(s, instance_id, spec), _me(s, "tiepnhan"))
    return set(form["properties"])


def _versions(s: Session, process_id: str) -> list[tuple[int, str, str]]:
    return [
        (r.version, r.sha256, r.forms_sha256)
        for r in s.scalars(
            select(ProcessDefinition)
            .where(ProcessDefinition.process_id == process_id)
            .order_by(ProcessDefinition.version)
        )
    ]


def _count(s: Session) -> tuple[int, int]:
    definitions = s.scalar(select(func.count()).select_from(ProcessDefinition)) or 0
    deploys = (
        s.scalar(select(func.count()).select_from(AuditEvent).where(AuditEvent.action == "deploy"))
        or 0
    )
    return definitions, deploys


def _copy_workflows(tmp_path: Path) -> Path:
    target = tmp_path / "workflows"
    shutil.copytree(WORKFLOWS, target)
    return target


def test_changed_form_alone_is_served_by_a_new_version_and_old_cases_keep_the_old_form(
    sessions: sessionmaker[Session], tmp_path: Path
) -> None:
    with sessions.begin() as s:
        old = start_instance(
            s, "one_stop_standard", agency_id=_commune(s), data={"due_at": FAR}
        ).row.id
    # The designer adds a field to the receive task's form only, then the server restarts.
    workflows = _copy_workflows(tmp_path)
    form_path = workflows / "forms" / "forward.schema.json"
    form = json.loads(form_path.read_text(encoding="utf-8"))
    form["properties"]["urgent"] = {"type": "boolean", "title": "Khẩn / Urgent", "default": False}
    form_path.write_text(json.dumps(form, ensure_ascii=False), encoding="utf-8")
    with sessions.begin() as s:
        report = install_shipped(s, workflows, seed_demo=False)
    # Only the processes whose tasks use that form get a new version.
    assert report.deployed == ["one_stop_liaison_birth v2", "one_stop_standard v2"]
    with sessions.begin() as s:
        (v1, bpmn1, forms1), (v2, bpmn2, forms2) = _versions(s, "one_stop_standard")
        assert (v1, v2) == (1, 2) and bpmn1 == bpmn2 and forms1 != forms2
        assert [v for v, _, _ in _versions(s, "document_outgoing")] == [1]
        new = start_instance(
            s, "one_stop_standard", agency_id=_commune(s), data={"due_at": FAR}
        ).row.id
    with sessions.begin() as s:
        assert "urgent" in _fields(s, new, "receive")
        assert "urgent" not in _fields(s, old, "receive")
        with pytest.raises(InvalidInputError, match="urgent"):
            complete_task(s, _task_id(s, old, "receive"), _me(s, "tiepnhan"), {"urgent": True})
    with sessions.begin() as s:
        complete_task(s, _task_id(s, new, "receive"), _me(s, "tiepnhan"), {"urgent": True})


def test_redeploying_identical_files_creates_nothing_even_with_forms_reformatted(
    sessions: sessionmaker[Session], tmp_path: Path
) -> None:
    workflows = _copy_workflows(tmp_path)
    # Same forms, other key order and layout: the identity is their canonical JSON.
    for path in (workflows / "forms").glob("*.json"):
        form = json.loads(path.read_text(encoding="utf-8"))
        reordered = dict(reversed(list(form.items())))
        path.write_text(json.dumps(reordered, indent=4, ensure_ascii=True), encoding="utf-8")
    with sessions.begin() as s:
        before = _count(s)
        shipped = {
            v.process_id: (v.version, v.sha256, v.forms_sha256)
            for v, _ in deploy_directory(s, WORKFLOWS)
        }
    with sessions.begin() as s:
        results = deploy_directory(s, workflows)
        assert install_shipped(s, workflows, seed_demo=False).deployed == []
    assert [created for _, created in results] == [False] * len(results)
    assert {v.process_id: (v.version, v.sha256, v.forms_sha256) for v, _ in results} == shipped
    with sessions.begin() as s:
        assert _count(s) == before


# Another API process (`serve --processes N`) deploying to the same database.
OTHER_PROCESS = """
import json, sys
from pathlib import Path
from storage.db import make_engine, make_sessionmaker
from engine.runtime.definitions import deploy
url, bpmn, forms = sys.argv[1], Path(sys.argv[2]).read_bytes(), json.loads(sys.argv[3])
engine = make_engine(url)
with make_sessionmaker(engine).begin() as s:
    print(deploy(s, bpmn, "check.bpmn", forms)[0].id)
engine.dispose()
"""


def test_a_rolled_back_deploy_never_lends_its_forms_to_a_version_another_process_made(
    sessions: sessionmaker[Session], db_url: str, tmp_path: Path
) -> None:
    # A deploy whose transaction fails later leaves its spec and forms in this process's
    # cache; SQLite gives its id again to the next row, here deployed by another process
    # from the same BPMN with a changed form.
    with pytest.raises(RuntimeError), sessions.begin() as s:
        rolled_back = deploy(s, CHECK, "check.bpmn", {"check.schema.json": FORM_V1})[0].id
        raise RuntimeError("the rest of the request failed")
    (tmp_path / "check.bpmn").write_bytes(CHECK)
    forms = json.dumps({"check.schema.json": FORM_V2})
    other = subprocess.run(
        [sys.executable, "-c", OTHER_PROCESS, db_url, str(tmp_path / "check.bpmn"), forms],
        cwd=REPO,
        capture_output=True,
        text=True,
        check=False,
    )
    assert other.returncode == 0, other.stderr
    if db_url.startswith("sqlite"):
        assert int(other.stdout) == rolled_back
    with sessions.begin() as s:
        iid = start_instance(s, "check_flow", agency_id=_commune(s)).row.id
    with sessions.begin() as s:
        assert _fields(s, iid, "check") == {"comment", "urgent"}


def test_designer_redeploys_a_changed_form_through_the_api(api: Api) -> None:
    designer = api.login("thietke")

    def post(form: dict[str, Any]) -> dict[str, Any]:
        r = api.client.post(
            "/api/v1/definitions",
            files=[
                ("file", ("check.bpmn", CHECK, "application/xml")),
                ("forms", ("check.schema.json", json.dumps(form), "application/json")),
            ],
            headers=designer,
        )
        body: dict[str, Any] = r.json()
        assert r.status_code == (201 if body["created"] else 200), r.text
        return body

    first, second, again = post(FORM_V1), post(FORM_V2), post(FORM_V2)
    assert (first["version"], first["created"]) == (1, True)
    assert (second["version"], second["created"]) == (2, True)
    assert (again["version"], again["created"]) == (2, False)
    assert first["sha256"] == second["sha256"]
    assert first["forms_sha256"] != second["forms_sha256"] == again["forms_sha256"]
    assert second["forms_sha256"] == forms_sha256({"check.schema.json": FORM_V2})
    clerk = api.login("tiepnhan")
    r = api.client.post("/api/v1/instances", json={"process_id": "check_flow"}, headers=clerk)
    assert r.status_code == 201, r.text
    tasks = api.client.get("/api/v1/tasks", headers=clerk).json()["items"]
    task = next(t for t in tasks if t["instance_id"] == r.json()["id"])
    form = api.client.get(f"/api/v1/tasks/{task['id']}", headers=clerk).json()["form"]
    assert set(form["properties"]) == {"comment", "urgent"}


@pytest.fixture(params=["sqlite", "postgresql"])
def empty_db_url(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    """A database with no tables at all, to migrate step by step."""
    if request.param == "sqlite":
        yield f"sqlite:///{tmp_path / 'old.db'}"
        return
    base = _pg_base_url()
    if not base:
        pytest.skip("LIENTHONG_TEST_DATABASE_URL not set")
    name = f"lienthong_mig_{uuid.uuid4().hex[:10]}"
    admin = make_engine(base, isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(text(f'CREATE DATABASE "{name}"'))
    yield make_url(base).set(database=name).render_as_string(hide_password=False)
    with admin.connect() as conn:
        conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
    admin.dispose()


def _downgrade(url: str, revision: str) -> None:
    engine = make_engine(url)
    cfg = alembic_config()
    with engine.begin() as conn:
        cfg.attributes["connection"] = conn
        command.downgrade(cfg, revision)
    engine.dispose()


def test_upgrade_fills_forms_hash_of_deployed_versions_with_running_cases(
    empty_db_url: str,
) -> None:
    engine = make_engine(empty_db_url)
    upgrade(engine, "0006")
    forms = {"check.schema.json": FORM_V1}
    at = "2026-01-01 00:00:00"
    with engine.begin() as conn:
        # No explicit ids: PostgreSQL's sequences must stay ahead of the rows.
        agency_id = conn.execute(
            text(
                "INSERT INTO agencies (code, name, kind, path, created_at) "
                "VALUES (:code, 'UBND xã', 'commune_pc', '/', :at) RETURNING id"
            ),
            {"code": COMMUNE, "at": at},
        ).scalar_one()
        definition_id = conn.execute(
            text(
                "INSERT INTO process_definitions (process_id, name, version, sha256, filename, "
                "bpmn_xml, forms, deployed_at) VALUES ('check_flow', 'check', 1, :sha, "
                "'check.bpmn', :xml, :forms, :at) RETURNING id"
            ),
            {
                "sha": hashlib.sha256(CHECK).hexdigest(),
                "xml": CHECK.decode(),
                "forms": json.dumps(forms),
                "at": at,
            },
        ).scalar_one()
        # A running case holds the version (ON DELETE RESTRICT): SQLite re-creates the
        # table under it.
        conn.execute(
            text(
                "INSERT INTO workflow_instances (definition_id, agency_id, status, state, "
                "serializer_version, version, secrecy, created_at, updated_at) "
                "VALUES (:definition, :agency, 'running', '{}', '1', 1, 0, :at, :at)"
            ),
            {"definition": definition_id, "agency": agency_id, "at": at},
        )
    upgrade(engine)
    assert current_revision(engine) == head_revision()
    with engine.connect() as conn:
        diff = compare_metadata(
            MigrationContext.configure(conn, opts={"compare_type": True}), Base.metadata
        )
        assert diff == []
        assert conn.scalar(text("SELECT COUNT(*) FROM workflow_instances")) == 1
        if engine.dialect.name == "sqlite":
            assert conn.exec_driver_sql("PRAGMA foreign_keys").scalar() == 1
    sessions = make_sessionmaker(engine)
    with sessions.begin() as s:
        assert _versions(s, "check_flow")[0][2] == forms_sha256(forms)
        # The stored hash is the one deploy computes: the same files are no new version…
        assert deploy(s, CHECK, "check.bpmn", forms)[0].version == 1
        assert deploy(s, CHECK, "check.bpmn", forms)[1] is False
        # …and a changed form is.
        view, created = deploy(s, CHECK, "check.bpmn", {"check.schema.json": FORM_V2})
        assert created and view.version == 2
    # Down again: two versions with one BPMN cannot fit the old constraint; refused clearly.
    with pytest.raises(RuntimeError, match="differ only by their forms"):
        _downgrade(empty_db_url, "0006")
    with sessions.begin() as s:
        s.execute(text("DELETE FROM process_definitions WHERE version = 2"))
    _downgrade(empty_db_url, "0006")
    assert current_revision(engine) == "0006"
    upgrade(engine)
    assert current_revision(engine) == head_revision()
    engine.dispose()
