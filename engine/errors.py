"""Errors of the engine, and the root of lienthong's error tree.

    LienthongError(message, *, code)        every error a user may see
    └── EngineError                         domain rules (this package)
        ├── NotFoundError          404      unknown id or code
        ├── AuthenticationError    401      bad credentials or token
        ├── PermissionDeniedError  403      wrong role, agency or clearance
        ├── ConflictError          409      concurrent change, duplicate, wrong state
        ├── InvalidInputError      422      input breaks a rule (with field errors)
        ├── FileTooLargeError      413      an upload past LIENTHONG_MAX_UPLOAD_MB
        ├── FileDeletedError       410      a soft-deleted file asked for its bytes
        ├── RateLimitedError       429      too many unauthenticated lookups
        ├── IntegrityError         502      a stored object does not match its SHA-256 or size
        ├── FontMissingError       503      no Vietnamese font installed for the slips
        ├── ExchangeError          422      an inter-agency exchange message is unusable
        │   └── PackageInvalid     422      an edXML package: not XML, hostile, wrong root, bad value
        │       └── PackageTooLarge 413     an edXML package past the size limit
        └── WorkflowError          422      a BPMN file or a running process is broken
            └── IncidentError      409      a service task failed; the instance needs a retry

`storage.errors.StorageError` and `signing.errors.SigningError` follow the same shape
(`message`, `code`, `http_status`) but cannot inherit from this module: those packages
never import `engine`. The API renders all three alike.
"""

from __future__ import annotations

from typing import Any

__all__ = [
    "AuthenticationError",
    "ConflictError",
    "EngineError",
    "ExchangeError",
    "FileDeletedError",
    "FileTooLargeError",
    "FontMissingError",
    "IntegrityError",
    "IncidentError",
    "InvalidInputError",
    "LienthongError",
    "NotFoundError",
    "PackageInvalid",
    "PackageTooLarge",
    "PermissionDeniedError",
    "RateLimitedError",
    "WorkflowError",
]


class LienthongError(Exception):
    """Root of every error lienthong shows to a user; `message` says what to do."""

    http_status = 400
    default_code = "error"

    def __init__(self, message: str, *, code: str | None = None, details: Any = None) -> None:
        super().__init__(message)
        self.message = message
        self.code = code or self.default_code
        self.details = details


class EngineError(LienthongError):
    """A domain rule refused the request."""

    default_code = "engine_error"


class NotFoundError(EngineError):
    http_status = 404
    default_code = "not_found"


class AuthenticationError(EngineError):
    http_status = 401
    default_code = "not_authenticated"


class PermissionDeniedError(EngineError):
    http_status = 403
    default_code = "forbidden"


class ConflictError(EngineError):
    http_status = 409
    default_code = "conflict"


class InvalidInputError(EngineError):
    http_status = 422
    default_code = "invalid_input"


class FileTooLargeError(EngineError):
    http_status = 413
    default_code = "file_too_large"


class FileDeletedError(EngineError):
    http_status = 410
    default_code = "file_deleted"


class RateLimitedError(EngineError):
    http_status = 429
    default_code = "rate_limited"

    def __init__(self, message: str, *, retry_after: int = 1) -> None:
        super().__init__(message)
        self.retry_after = retry_after


class IntegrityError(EngineError):
    """What the store returned does not match the recorded SHA-256 or size."""

    http_status = 502
    default_code = "integrity_error"


class FontMissingError(EngineError):
    http_status = 503
    default_code = "font_missing"


class ExchangeError(EngineError):
    """A message to or from another agency's node cannot be used."""

    http_status = 422
    default_code = "exchange_error"


class PackageInvalid(ExchangeError):
    """An edXML package is not XML, is hostile, or lacks the structure QCVN 102 requires."""

    default_code = "package_invalid"


class PackageTooLarge(PackageInvalid):
    http_status = 413
    default_code = "package_too_large"


class WorkflowError(EngineError):
    http_status = 422
    default_code = "workflow_error"


class IncidentError(WorkflowError):
    http_status = 409
    default_code = "incident"
