"""Errors of the storage package.

    StorageError(message, *, code)          503 unless said otherwise
    ├── DatabaseUnavailableError   503      the database does not answer
    ├── StaleStateError            409      a row changed under us (optimistic lock)
    └── ObjectStoreError           503      the object store does not answer or refuses

Same shape as `engine.errors.LienthongError` (message, code, http_status); storage may not
import engine, so this is a root of its own.
"""

from __future__ import annotations

__all__ = ["DatabaseUnavailableError", "ObjectStoreError", "StaleStateError", "StorageError"]


class StorageError(Exception):
    """A storage failure; `message` says what is wrong and what to do."""

    http_status = 503
    default_code = "storage_error"

    def __init__(self, message: str, *, code: str | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.code = code or self.default_code
        self.details = None


class DatabaseUnavailableError(StorageError):
    default_code = "database_unavailable"


class StaleStateError(StorageError):
    http_status = 409
    default_code = "stale_state"


class ObjectStoreError(StorageError):
    default_code = "object_store_error"
