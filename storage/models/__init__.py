"""SQLAlchemy models; importing this package registers every table on `Base.metadata`."""

from storage.models.base import Base, UTCDateTime, utcnow
from storage.models.catalogue import AuditEvent, CalendarDay, Procedure, TrustedCertificate
from storage.models.dossiers import Dossier, DossierCounter, DossierEvent, Notification
from storage.models.files import StoredFile
from storage.models.org import Agency, ApiToken, User, UserRole
from storage.models.workflow import ProcessDefinition, WorkflowInstance, WorkflowTask

__all__ = [
    "Agency",
    "ApiToken",
    "AuditEvent",
    "Base",
    "CalendarDay",
    "Dossier",
    "DossierCounter",
    "DossierEvent",
    "Notification",
    "Procedure",
    "ProcessDefinition",
    "StoredFile",
    "TrustedCertificate",
    "UTCDateTime",
    "User",
    "UserRole",
    "WorkflowInstance",
    "WorkflowTask",
    "utcnow",
]
