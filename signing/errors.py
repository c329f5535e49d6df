"""Errors of the signing package.

    SigningError(message, *, code)            422  signing or validation cannot proceed
    ├── KeyMaterialError             422      the PKCS#12 file or certificate is unusable
    │   └── WrongPasswordError       422      wrong PKCS#12 password or token PIN
    ├── TokenError                   503      PKCS#11 module, token or key not available
    ├── MalformedPdfError            422      not a PDF, truncated, encrypted, bad byte range
    │   └── PdfTooComplexError       422      parsing exceeded its time or size limit
    ├── AppearanceError              422      bad signature image, font or placement
    ├── TimestampError               502      the TSA did not answer or answered wrongly
    ├── ValidationMaterialError      502      CRLs/OCSP responses for B-LT could not be had
    └── XmlSignatureError            422      an edXML package's XML-DSig signature is missing,
                                              broken, or by an untrusted or unexpected certificate
                                              (`code` says which: xmldsig_missing, …)

A wrong password is 422, not 401: the user's login is fine, only the key's secret was
wrong, and a 401 would make clients drop their session token.

Same shape as `engine.errors.LienthongError` (message, code, http_status, details);
signing may not import engine, so this is a root of its own. Messages are Vietnamese
first, then English, and say what to do.
"""

from __future__ import annotations

from typing import Any

__all__ = [
    "AppearanceError",
    "KeyMaterialError",
    "MalformedPdfError",
    "PdfTooComplexError",
    "SigningError",
    "TimestampError",
    "TokenError",
    "ValidationMaterialError",
    "WrongPasswordError",
    "XmlSignatureError",
]


class SigningError(Exception):
    """A signing or validation failure; `message` says what is wrong and what to do."""

    http_status = 422
    default_code = "signing_error"

    def __init__(self, message: str, *, code: str | None = None, details: Any = None) -> None:
        super().__init__(message)
        self.message = message
        self.code = code or self.default_code
        self.details = details

    def __reduce__(self) -> tuple[object, tuple[object, ...]]:
        # keyword-only `code` and `details` survive pickling (see signing.sandbox)
        return (_rebuild, (type(self), self.message, self.code, self.details))


def _rebuild(cls: type[SigningError], message: str, code: str, details: Any) -> SigningError:
    return cls(message, code=code, details=details)


class KeyMaterialError(SigningError):
    default_code = "bad_key"


class WrongPasswordError(KeyMaterialError):
    default_code = "wrong_key_password"


class TokenError(SigningError):
    http_status = 503
    default_code = "token_unavailable"


class MalformedPdfError(SigningError):
    default_code = "malformed_pdf"


class PdfTooComplexError(MalformedPdfError):
    default_code = "pdf_too_complex"


class AppearanceError(SigningError):
    default_code = "bad_appearance"


class TimestampError(SigningError):
    http_status = 502
    default_code = "timestamp_failed"


class ValidationMaterialError(SigningError):
    http_status = 502
    default_code = "validation_material_unavailable"


class XmlSignatureError(SigningError):
    """An XML-DSig signature could not be made or does not hold; `code` names the reason."""

    default_code = "xmldsig_invalid"
