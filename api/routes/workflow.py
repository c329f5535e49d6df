"""Inbox and tasks, process instances (start, read, retry) and definitions (deploy)."""

from __future__ import annotations

import json
import math
from dataclasses import asdict
from typing import Annotated, Any

from fastapi import APIRouter, Depends, File, Query, Response, UploadFile
from pydantic import BaseModel, Field
from sqlalchemy import select
from sqlalchemy.orm import Session

from api.deps import CurrentUser, Page, SessionDep, require_roles
from api.errors import error_responses
from api.schemas import Input, InstanceOut, PageOut, TaskDetailOut, TaskOut
from engine.agencies import in_scope
from engine.case_keys import refuse_case_key
from engine.documents.reading import document_for
from engine.dossiers.access import may_read_dossier
from engine.errors import InvalidInputError, NotFoundError, PermissionDeniedError
from engine.principal import Principal
from engine.runtime.definitions import deploy, list_definitions
from engine.runtime.incidents import refuse_bad_start_value
from engine.runtime.instances import (
    LoadedInstance,
    instance_view,
    load_instance,
    start_instance,
)
from engine.runtime.lanes import refuse_routing_keys
from engine.runtime.parser import MAX_BPMN_BYTES
from engine.runtime.services import DEFAULT_SERVICES
from engine.runtime.tasks import claim_task, complete_task, inbox, task_detail
from engine.runtime.timers import list_incidents, retry_instance
from storage.models import Document, Dossier

router = APIRouter(prefix="/api/v1", tags=["workflow"])
Admin = Annotated[Principal, Depends(require_roles("admin"))]
Designer = Annotated[Principal, Depends(require_roles("designer", "admin"))]
Starter = Annotated[Principal, Depends(require_roles("reception", "clerk", "admin"))]


class CompleteIn(Input):
    data: dict[str, Any] = Field(default_factory=dict)


class StartIn(Input):
    process_id: str = Field(min_length=1, max_length=100)
    business_key: str | None = Field(default=None, max_length=64)
    data: dict[str, Any] = Field(default_factory=dict)


class RetryIn(Input):
    data: dict[str, Any] = Field(default_factory=dict)


class DefinitionOut(BaseModel):
    id: int
    process_id: str
    name: str
    version: int
    sha256: str = Field(description="SHA-256 of the BPMN file")
    forms_sha256: str = Field(
        description="SHA-256 of the forms its user tasks use; with `sha256`, the version's identity"
    )
    filename: str
    user_tasks: list[dict[str, Any]]
    created: bool = False


@router.get("/tasks", response_model=PageOut[TaskOut], responses=error_responses(401, 422))
def my_inbox(session: SessionDep, user: CurrentUser, page: Page) -> PageOut[TaskOut]:
    """My inbox: READY tasks for my agency and roles, unassigned or mine; earliest due first."""
    items, total = inbox(session, user, limit=page.limit, offset=page.offset)
    return PageOut(
        items=[TaskOut.model_validate(asdict(t)) for t in items],
        total=total,
        limit=page.limit,
        offset=page.offset,
    )


@router.get(
    "/tasks/{task_id}", response_model=TaskDetailOut, responses=error_responses(401, 403, 404)
)
def get_task(task_id: int, session: SessionDep, user: CurrentUser) -> TaskDetailOut:
    """A task with the JSON Schema `form` of the data it accepts (choices and defaults filled)."""
    view, form, data = task_detail(session, task_id, user)
    return TaskDetailOut(**asdict(view), form=form, data=data)


@router.post(
    "/tasks/{task_id}/claim", response_model=TaskOut, responses=error_responses(401, 403, 404, 409)
)
def claim(task_id: int, session: SessionDep, user: CurrentUser) -> TaskOut:
    """Take the task into my own inbox."""
    return TaskOut.model_validate(asdict(claim_task(session, task_id, user)))


@router.post(
    "/tasks/{task_id}/complete",
    response_model=InstanceOut,
    responses=error_responses(401, 403, 404, 409, 422),
)
def complete(task_id: int, body: CompleteIn, session: SessionDep, user: CurrentUser) -> InstanceOut:
    """Complete a task with data valid for its form; the process runs to its next wait."""
    loaded = complete_task(session, task_id, user, body.data)
    return InstanceOut.model_validate(asdict(instance_view(session, loaded)))


@router.post(
    "/instances",
    response_model=InstanceOut,
    status_code=201,
    responses=error_responses(401, 403, 404, 422),
)
def start(body: StartIn, session: SessionDep, user: Starter) -> InstanceOut:
    """Start the newest version of a process for a case of my agency.

    The data may not name another agency (`competent_agency`): only dossier reception,
    which checks it, routes a case away from the starter's agency; nor may the business key
    be a dossier's or a document's (`engine.case_keys`). A timer value in the data
    that is no date (`due_at`) is refused (422) rather than started into an incident.
    """
    refuse_routing_keys(body.data)
    refuse_case_key(body.business_key)
    loaded = start_instance(
        session,
        body.process_id,
        agency_id=user.agency_id,
        data=body.data,
        business_key=body.business_key,
        actor_id=user.user_id,
    )
    refuse_bad_start_value(loaded.row.incident, body.data)
    return InstanceOut.model_validate(asdict(instance_view(session, loaded)))


@router.get("/instances", response_model=PageOut[InstanceOut], responses=error_responses(401, 403))
def incidents(
    session: SessionDep,
    user: Admin,
    page: Page,
    status: Annotated[str, Query(pattern="^incident$")] = "incident",
) -> PageOut[InstanceOut]:
    """Instances in incident of my agency's subtree and clearance, waiting for a fix and retry."""
    rows, total = list_incidents(session, user, limit=page.limit, offset=page.offset)
    items = [
        InstanceOut.model_validate(
            asdict(instance_view(session, load_instance(session, r.id, readonly=True)))
        )
        for r in rows
    ]
    return PageOut(items=items, total=total, limit=page.limit, offset=page.offset)


@router.get(
    "/instances/{instance_id}", response_model=InstanceOut, responses=error_responses(401, 403, 404)
)
def get_instance(instance_id: int, session: SessionDep, user: CurrentUser) -> InstanceOut:
    """An instance I may read: a dossier's or a document's by the rule of the dossier or the
    document (its data is the case's), any other of my agency's subtree."""
    loaded = load_instance(session, instance_id, readonly=True)
    if loaded.row.secrecy > int(user.clearance):
        # Like the case itself: a secret case does not exist for the uncleared.
        raise NotFoundError(
            f"Không có phiên quy trình {instance_id} / No instance {instance_id}",
            code="instance_not_found",
        )
    _check_read(session, user, loaded)
    return InstanceOut.model_validate(asdict(instance_view(session, loaded)))


def _check_read(session: Session, user: Principal, loaded: LoadedInstance) -> None:
    # The instance carries the case data (an applicant's identity, a document's content): it is
    # read by whoever may read its dossier or document, and answered as they are answered.
    dossier = session.scalar(select(Dossier).where(Dossier.instance_id == loaded.row.id))
    if dossier is not None:
        if not may_read_dossier(session, user, dossier):
            raise PermissionDeniedError(
                f"Hồ sơ {dossier.code} không thuộc cơ quan của bạn / dossier {dossier.code} is "
                "not your agency's",
                code="dossier_forbidden",
            )
        return
    document_id = session.scalar(select(Document.id).where(Document.instance_id == loaded.row.id))
    if document_id is not None:
        try:
            document_for(session, user, document_id)
        except NotFoundError:  # as GET /documents/{id}: an unreadable document does not exist
            raise NotFoundError(
                f"Không có phiên quy trình {loaded.row.id} / No instance {loaded.row.id}",
                code="instance_not_found",
            ) from None
        return
    if not in_scope(user, loaded.agency.path):
        raise PermissionDeniedError("Phiên quy trình ngoài phạm vi / instance out of your scope")


@router.post(
    "/instances/{instance_id}/retry",
    response_model=InstanceOut,
    responses=error_responses(401, 403, 404, 409),
)
def retry(instance_id: int, body: RetryIn, session: SessionDep, user: Admin) -> InstanceOut:
    """Re-run the failed task of an instance in incident, with corrected data if given."""
    loaded = retry_instance(session, instance_id, user, body.data)
    return InstanceOut.model_validate(asdict(instance_view(session, loaded)))


@router.get("/definitions", response_model=list[DefinitionOut], responses=error_responses(401))
def definitions(session: SessionDep, user: CurrentUser) -> list[DefinitionOut]:
    """Every deployed process version."""
    return [DefinitionOut(**asdict(d)) for d in list_definitions(session)]


@router.post(
    "/definitions",
    response_model=DefinitionOut,
    status_code=201,
    responses={
        200: {
            "description": "The same BPMN and forms as a stored version: nothing stored, that version answered"
        },
        **error_responses(401, 403, 413, 422),
    },
)
async def deploy_definition(
    session: SessionDep,
    user: Designer,
    response: Response,
    file: Annotated[UploadFile, File(description="The BPMN file")],
    forms: Annotated[
        list[UploadFile] | None, File(description="JSON Schema forms it references")
    ] = None,
) -> DefinitionOut:
    """Deploy a BPMN file (and its form schemas) as the next version of its process.

    201 with `created: true` when a new version was stored; 200 with `created: false` when
    the file and forms are those of a version already stored (the newest or an earlier
    one), which is answered unchanged.
    """
    data = await file.read(MAX_BPMN_BYTES + 1)
    form_map: dict[str, Any] = {}
    for f in forms or []:
        try:
            form_map[f.filename or ""] = json.loads(
                await f.read(1_000_000), parse_constant=_no_constant, parse_float=_finite
            )
        except (ValueError, UnicodeDecodeError) as e:
            raise InvalidInputError(
                f"Biểu mẫu {f.filename} không phải JSON / form {f.filename} is not JSON: {e}",
                details=[{"field": "forms", "message": str(e)}],
            ) from e
    view, created = deploy(
        session,
        data,
        file.filename or "upload.bpmn",
        form_map,
        actor_id=user.user_id,
        known_services=DEFAULT_SERVICES.names(),
    )
    if not created:
        response.status_code = 200
    return DefinitionOut(**asdict(view), created=created)


def _no_constant(text: str) -> float:
    # Python's json reads NaN and Infinity, which JSON has not; a stored form could not say them.
    raise ValueError(f"{text} is not a JSON number")


def _finite(text: str) -> float:
    value = float(text)
    if not math.isfinite(value):
        raise ValueError(f"{text} is out of range")
    return value
