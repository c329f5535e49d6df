"""The working-day calendar: holidays of a year, deadlines, admin overrides."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal
from typing import Annotated, Literal

from fastapi import APIRouter, Depends, Query, Response
from pydantic import BaseModel, Field

from api.deps import CurrentUser, SessionDep, require_roles
from api.errors import error_responses
from api.schemas import Input
from engine.lunar import MAX_YEAR, MIN_YEAR
from engine.principal import Principal
from engine.workdays import add_override, due_at, list_holidays, remove_override

router = APIRouter(prefix="/api/v1/calendar", tags=["calendar"])
Admin = Annotated[Principal, Depends(require_roles("admin"))]


class HolidayOut(BaseModel):
    date: dt.date
    name: str
    kind: str


class DueOut(BaseModel):
    due_at: dt.datetime


class OverrideIn(Input):
    date: dt.date
    kind: Literal["holiday", "compensatory", "makeup_workday"]
    name: str = Field(min_length=1, max_length=255)


@router.get("/holidays", response_model=list[HolidayOut], responses=error_responses(401, 422))
def holidays(
    session: SessionDep, user: CurrentUser, year: Annotated[int, Query(ge=MIN_YEAR, le=MAX_YEAR)]
) -> list[HolidayOut]:
    """Days off and make-up workdays of a year (computed defaults with admin decisions)."""
    return [HolidayOut(date=h.date, name=h.name, kind=h.kind) for h in list_holidays(session, year)]


@router.get("/due", response_model=DueOut, responses=error_responses(401, 422))
def due(
    session: SessionDep,
    user: CurrentUser,
    start: Annotated[dt.datetime, Query(description="ISO 8601 with a UTC offset")],
    working_days: Annotated[
        Decimal, Query(ge=0, le=100000, description="May be fractional: 0.5 = 4 working hours")
    ],
) -> DueOut:
    """The deadline N working days after `start`, in Vietnam time."""
    return DueOut(due_at=due_at(session, start, working_days))


@router.post(
    "/overrides",
    status_code=201,
    response_model=HolidayOut,
    responses=error_responses(401, 403, 409, 422),
)
def create_override(body: OverrideIn, session: SessionDep, user: Admin) -> HolidayOut:
    """Record a government decision: extra day off, compensatory day or make-up workday."""
    row = add_override(session, body.date, body.kind, body.name, actor_id=user.user_id)
    return HolidayOut(date=row.day, name=row.name, kind=row.kind)


@router.delete("/overrides/{day}", status_code=204, responses=error_responses(401, 403, 404))
def delete_override(day: dt.date, session: SessionDep, user: Admin) -> Response:
    """Remove the decision recorded for a date."""
    remove_override(session, day, actor_id=user.user_id)
    return Response(status_code=204)
