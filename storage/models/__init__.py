"""SQLAlchemy models; importing this package registers every table on `Base.metadata`."""

from storage.models.base import Base, UTCDateTime, utcnow
from storage.models.catalogue import AuditEvent, CalendarDay, Procedure
from storage.models.org import Agency, ApiToken, User, UserRole
from storage.models.workflow import ProcessDefinition, WorkflowInstance, WorkflowTask

__all__ = [
    "Agency",
    "ApiToken",
    "AuditEvent",
    "Base",
    "CalendarDay",
    "Procedure",
    "ProcessDefinition",
    "UTCDateTime",
    "User",
    "UserRole",
    "WorkflowInstance",
    "WorkflowTask",
    "utcnow",
]
