"""Errors of the engine, and the root of lienthong's error tree.

    LienthongError(message, *, code)        every error a user may see
    └── EngineError                         domain rules (this package)
        ├── NotFoundError          404      unknown id or code
        ├── AuthenticationError    401      bad credentials or token
        ├── PermissionDeniedError  403      wrong role, agency or clearance
        ├── ConflictError          409      concurrent change, duplicate, wrong state
        ├── InvalidInputError      422      input breaks a rule (with field errors)
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
    "IncidentError",
    "InvalidInputError",
    "LienthongError",
    "NotFoundError",
    "PermissionDeniedError",
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


class WorkflowError(EngineError):
    http_status = 422
    default_code = "workflow_error"


class IncidentError(WorkflowError):
    http_status = 409
    default_code = "incident"
