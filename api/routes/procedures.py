"""The administrative-procedure catalogue: everyone reads, designers edit."""

from __future__ import annotations

from typing import Annotated, Any, Literal

from fastapi import APIRouter, Body, Depends, Query
from pydantic import AfterValidator

from api.deps import CurrentUser, Page, SessionDep, require_roles
from api.errors import NUL_MESSAGE, error_responses
from api.schemas import PageOut
from engine.catalogue import (
    create_procedure,
    get_procedure,
    list_procedures,
    to_spec,
    update_procedure,
)
from engine.principal import Principal
from engine.procedures import ProcedureSpec

router = APIRouter(prefix="/api/v1/procedures", tags=["procedures"])
Designer = Annotated[Principal, Depends(require_roles("designer", "admin"))]


def _no_nul(value: str | None) -> str | None:
    # PostgreSQL cannot hold \x00 in text and SQLite's LIKE stops at it, so the search
    # matched every procedure there: refuse it alike on both, as request bodies do.
    if value is not None and "\x00" in value:
        raise ValueError(NUL_MESSAGE)
    return value


@router.get("", response_model=PageOut[ProcedureSpec], responses=error_responses(401, 422))
def procedures(
    session: SessionDep,
    user: CurrentUser,
    page: Page,
    level: Annotated[Literal["commune", "province"] | None, Query()] = None,
    q: Annotated[
        str | None,
        Query(max_length=100, description="Text in code, name or field"),
        AfterValidator(_no_nul),
    ] = None,
) -> PageOut[ProcedureSpec]:
    """List procedures by code."""
    items, total = list_procedures(session, level=level, q=q, limit=page.limit, offset=page.offset)
    return PageOut(items=items, total=total, limit=page.limit, offset=page.offset)


@router.get("/{code}", response_model=ProcedureSpec, responses=error_responses(401, 404))
def procedure(code: str, session: SessionDep, user: CurrentUser) -> ProcedureSpec:
    """One procedure."""
    return to_spec(get_procedure(session, code))


@router.post(
    "", response_model=ProcedureSpec, status_code=201, responses=error_responses(401, 403, 409, 422)
)
def add(
    body: Annotated[dict[str, Any], Body()], session: SessionDep, user: Designer
) -> ProcedureSpec:
    """Add a procedure (same fields as the catalogue files)."""
    return create_procedure(session, body, actor_id=user.user_id)


@router.put(
    "/{code}", response_model=ProcedureSpec, responses=error_responses(401, 403, 404, 409, 422)
)
def replace(
    code: str, body: Annotated[dict[str, Any], Body()], session: SessionDep, user: Designer
) -> ProcedureSpec:
    """Replace a procedure's definition."""
    return update_procedure(session, code, body, actor_id=user.user_id)
