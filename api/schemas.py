"""Request and response bodies shared by the routes. Unknown fields are refused (422)."""

from __future__ import annotations

from datetime import datetime
from typing import Any, Generic, TypeVar

from pydantic import BaseModel, ConfigDict

__all__ = ["Input", "Output", "PageOut"]

T = TypeVar("T")


class Input(BaseModel):
    """Base of request bodies: unknown fields are an error, not silently dropped."""

    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True)


class Output(BaseModel):
    model_config = ConfigDict(from_attributes=True)


class PageOut(BaseModel, Generic[T]):
    items: list[T]
    total: int
    limit: int
    offset: int


class TaskOut(Output):
    id: int
    instance_id: int
    business_key: str | None
    task: str
    name: str
    lane: str | None
    role: str
    agency_code: str
    assignee: str | None
    state: str
    created_at: datetime
    due_at: datetime | None


class TaskDetailOut(TaskOut):
    form: dict[str, Any]
    data: dict[str, Any]


class InstanceOut(Output):
    id: int
    process_id: str
    definition_version: int
    business_key: str | None
    agency_code: str
    status: str
    version: int
    incident: dict[str, Any] | None
    ready_tasks: list[dict[str, Any]]
    data: dict[str, Any]
