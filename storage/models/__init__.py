"""SQLAlchemy models; importing this package registers every table on `Base.metadata`."""

from storage.models.base import Base, UTCDateTime, utcnow
from storage.models.catalogue import AuditEvent, CalendarDay, Procedure, TrustedCertificate
from storage.models.documents import (
    Document,
    DocumentEvent,
    DocumentFile,
    DocumentShare,
    RegisterCounter,
)
from storage.models.dossiers import Dossier, DossierCounter, DossierEvent, Notification
from storage.models.exchange import (
    Delivery,
    DeliveryStatus,
    ExchangeEvidence,
    ExchangePeer,
    PeerAgency,
    ReceivedPackage,
    StatusOutbox,
)
from storage.models.files import StoredFile
from storage.models.org import Agency, ApiToken, User, UserRole
from storage.models.signing import ExternalSigning, SignatureUpgrade, SigningKey
from storage.models.workflow import ProcessDefinition, WorkflowInstance, WorkflowTask

__all__ = [
    "Agency",
    "ApiToken",
    "AuditEvent",
    "Base",
    "CalendarDay",
    "Delivery",
    "DeliveryStatus",
    "Document",
    "DocumentEvent",
    "DocumentFile",
    "DocumentShare",
    "Dossier",
    "DossierCounter",
    "DossierEvent",
    "ExchangeEvidence",
    "ExternalSigning",
    "ExchangePeer",
    "Notification",
    "PeerAgency",
    "Procedure",
    "ProcessDefinition",
    "ReceivedPackage",
    "RegisterCounter",
    "SignatureUpgrade",
    "SigningKey",
    "StatusOutbox",
    "StoredFile",
    "TrustedCertificate",
    "UTCDateTime",
    "User",
    "UserRole",
    "WorkflowInstance",
    "WorkflowTask",
    "utcnow",
]
