"""Process definitions, running instances and the tasks table that feeds inboxes."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import JSON, ForeignKey, Index, Integer, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from storage.models.base import Base, UTCDateTime, utcnow

__all__ = ["ProcessDefinition", "WorkflowInstance", "WorkflowTask"]


class ProcessDefinition(Base):
    """One deployed version of a BPMN process; the spec is stored once here, not per instance.

    A version is identified by its BPMN file (`sha256`) together with the forms its user
    tasks use (`forms_sha256`): changing only a form makes a new version.
    """

    __tablename__ = "process_definitions"
    __table_args__ = (
        UniqueConstraint("process_id", "version"),
        UniqueConstraint("process_id", "sha256", "forms_sha256"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    process_id: Mapped[str] = mapped_column(String(100), index=True)
    name: Mapped[str] = mapped_column(String(255))
    version: Mapped[int]
    sha256: Mapped[str] = mapped_column(String(64))  # of the BPMN file's bytes
    # Of the canonical JSON of `forms` (sorted keys, no spaces, UTF-8).
    forms_sha256: Mapped[str] = mapped_column(String(64))
    filename: Mapped[str] = mapped_column(String(255))
    # Deferred: a step only needs the small columns; the parsed spec and forms are cached by
    # id, checked against both hashes.
    bpmn_xml: Mapped[str] = mapped_column(Text, deferred=True)
    forms: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict, deferred=True)
    deployed_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    deployed_by: Mapped[int | None] = mapped_column(ForeignKey("users.id", ondelete="SET NULL"))


class WorkflowInstance(Base):
    """A running process. `state` is SpiffWorkflow's serializer output without the spec."""

    __tablename__ = "workflow_instances"
    __table_args__ = (
        Index("ix_workflow_instances_status_next_timer_at", "status", "next_timer_at"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    definition_id: Mapped[int] = mapped_column(
        ForeignKey("process_definitions.id", ondelete="RESTRICT"), index=True
    )
    business_key: Mapped[str | None] = mapped_column(String(64), index=True)
    agency_id: Mapped[int] = mapped_column(ForeignKey("agencies.id", ondelete="RESTRICT"))
    status: Mapped[str] = mapped_column(String(16))
    state: Mapped[str] = mapped_column(Text)
    serializer_version: Mapped[str] = mapped_column(String(16))
    version: Mapped[int] = mapped_column(default=1)
    # Tasks of a secret case reach only users cleared for its level (0 none … 3 Tuyệt mật).
    secrecy: Mapped[int] = mapped_column(Integer, default=0, server_default="0")
    next_timer_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    incident: Mapped[dict[str, Any] | None] = mapped_column(JSON)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    created_by: Mapped[int | None] = mapped_column(ForeignKey("users.id", ondelete="SET NULL"))

    __mapper_args__ = {"version_id_col": version}


class WorkflowTask(Base):
    """A user task that is or was READY; an inbox is one indexed query on this table."""

    __tablename__ = "tasks"
    __table_args__ = (
        Index("ix_tasks_inbox", "state", "agency_id", "role"),
        # The cases an agency held a step of (engine.dossiers.access), whatever their state.
        Index("ix_tasks_agency_instance", "agency_id", "instance_id"),
        UniqueConstraint("instance_id", "task_uuid"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    instance_id: Mapped[int] = mapped_column(
        ForeignKey("workflow_instances.id", ondelete="CASCADE"), index=True
    )
    task_uuid: Mapped[str] = mapped_column(String(36))
    task_spec: Mapped[str] = mapped_column(String(255))
    name: Mapped[str] = mapped_column(String(255))
    lane: Mapped[str | None] = mapped_column(String(255))
    role: Mapped[str] = mapped_column(String(32))
    agency_id: Mapped[int] = mapped_column(ForeignKey("agencies.id", ondelete="RESTRICT"))
    assignee_id: Mapped[int | None] = mapped_column(
        ForeignKey("users.id", ondelete="SET NULL"), index=True
    )
    state: Mapped[str] = mapped_column(String(16))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    due_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    completed_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    completed_by: Mapped[int | None] = mapped_column(ForeignKey("users.id", ondelete="SET NULL"))
