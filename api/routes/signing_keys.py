"""Configured signing keys (agency seals by admins, officials' own keys) and signing stored files.

A key is registered either as multipart — a PKCS#12 file (`file`) with its `password`, or
the PKCS#11 fields — or as JSON for a PKCS#11 token key. Passwords and PINs are write-only:
no response and no log line carries them.
"""

from __future__ import annotations

import base64
import binascii
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Query, Request, Response
from fastapi.concurrency import run_in_threadpool
from fastapi.exceptions import RequestValidationError
from pydantic import Field, ValidationError
from starlette.datastructures import UploadFile

from api.deps import AppState, CurrentUser, SessionDep
from api.errors import error_responses
from api.schemas import Input
from engine.errors import InvalidInputError
from engine.files import FileView
from engine.principal import Principal
from engine.signing_files import sign_stored_file
from engine.signing_keys import (
    Pkcs11Material,
    Pkcs12Material,
    SigningConfig,
    SigningKeyView,
    list_keys,
    own_key,
    register_key,
    revoke_key,
)

router = APIRouter(prefix="/api/v1", tags=["signatures"])

_MAX_KEY_FILE = 1024 * 1024
_MAX_IMAGE = 2 * 1024 * 1024


class Pkcs11In(Input):
    """A key on a PKCS#11 token (the JSON form of a registration)."""

    module_path: str = Field(min_length=1, max_length=500, examples=["/usr/lib/libeToken.so"])
    token_label: str = Field(min_length=1, max_length=255)
    key_label: str = Field(min_length=1, max_length=255)
    cert_label: str | None = Field(default=None, max_length=255)
    pin: str = Field(min_length=1, max_length=128, json_schema_extra={"writeOnly": True})
    chain_pem: str | None = Field(default=None, max_length=200_000)
    label: str | None = Field(default=None, max_length=255)
    image_png_base64: str | None = Field(default=None, max_length=3_000_000)


class AgencyPkcs11In(Pkcs11In):
    agency_code: str = Field(min_length=1, max_length=35)


class SignIn(Input):
    file_id: str = Field(min_length=1, max_length=64)
    key: Literal["own", "agency"] = "own"
    appearance: Literal["none", "signer", "seal", "text"] = "none"
    level: Literal["B-B", "B-T", "B-LT", "B-LTA"] = "B-B"
    reason: str | None = Field(default=None, max_length=500)
    location: str | None = Field(default=None, max_length=255)
    text: str | None = Field(default=None, max_length=2000)


def _state(request: Request) -> AppState:
    state: AppState = request.app.state.lienthong
    return state


def signing_config(state: AppState) -> SigningConfig:
    """How the server signs: the secret that opens stored keys, spool space, the TSA, the
    PKCS#11 modules the admin allows."""
    settings = state.settings
    return SigningConfig(
        secret_key=settings.secret_key,
        tmp_dir=settings.tmp_dir,
        tsa_url=settings.tsa_url,
        pkcs11_modules=settings.pkcs11_module_paths,
    )


def _multipart_schema(admin: bool) -> dict[str, Any]:
    props: dict[str, Any] = {
        "file": {"type": "string", "format": "binary", "description": "PKCS#12 (.p12/.pfx)"},
        "password": {"type": "string", "writeOnly": True, "description": "PKCS#12 password"},
        "image": {"type": "string", "format": "binary", "description": "PNG, transparent"},
        "label": {"type": "string"},
        **{name: {"type": "string"} for name in ("module_path", "token_label", "key_label")},
        "cert_label": {"type": "string"},
        "pin": {"type": "string", "writeOnly": True},
        "chain_pem": {"type": "string"},
    }
    if admin:
        props["agency_code"] = {"type": "string"}
    return {
        "type": "object",
        "properties": props,
        **({"required": ["agency_code"]} if admin else {}),
    }


def _body_doc(admin: bool) -> dict[str, Any]:
    model = AgencyPkcs11In if admin else Pkcs11In
    return {
        "requestBody": {
            "required": True,
            "content": {
                "multipart/form-data": {"schema": _multipart_schema(admin)},
                "application/json": {"schema": model.model_json_schema()},
            },
        }
    }


async def _read(upload: UploadFile, limit: int, what: str) -> bytes:
    data = await upload.read(limit + 1)
    if len(data) > limit:
        raise InvalidInputError(
            f"Tệp {what} quá lớn ({limit // 1024} KB) / the {what} file is too large",
            details=[{"field": what, "message": f"at most {limit} bytes"}],
        )
    return data


def _text(form: Any, name: str) -> str | None:
    value = form.get(name)
    return value.strip() or None if isinstance(value, str) else None


async def _from_form(
    request: Request,
) -> tuple[Pkcs12Material | Pkcs11Material, bytes | None, dict[str, str | None]]:
    form = await request.form(max_files=3, max_fields=20)
    key_file, image = form.get("file"), form.get("image")
    picture = await _read(image, _MAX_IMAGE, "image") if isinstance(image, UploadFile) else None
    extra = {"label": _text(form, "label"), "agency_code": _text(form, "agency_code")}
    if isinstance(key_file, UploadFile):
        password = form.get("password")
        material: Pkcs12Material | Pkcs11Material = Pkcs12Material(
            await _read(key_file, _MAX_KEY_FILE, "file"),
            password if isinstance(password, str) else "",
        )
        return material, picture, extra
    fields = {k: _text(form, k) for k in ("module_path", "token_label", "key_label", "pin")}
    missing = [k for k, v in fields.items() if not v]
    if missing:
        raise InvalidInputError(
            "Cần tệp PKCS#12 ('file' và 'password') hoặc khóa PKCS#11 (module_path, token_label, "
            "key_label, pin) / give a PKCS#12 'file' and 'password', or the PKCS#11 fields",
            details=[{"field": k, "message": "required"} for k in missing],
        )
    material = Pkcs11Material(
        module_path=fields["module_path"] or "",
        token_label=fields["token_label"] or "",
        key_label=fields["key_label"] or "",
        pin=form.get("pin") or "",  # type: ignore[arg-type]  # a str, checked above
        cert_label=_text(form, "cert_label"),
        chain_pem=_text(form, "chain_pem"),
    )
    return material, picture, extra


async def _from_json(
    request: Request, admin: bool
) -> tuple[Pkcs12Material | Pkcs11Material, bytes | None, dict[str, str | None]]:
    model = AgencyPkcs11In if admin else Pkcs11In
    try:
        body = model.model_validate_json(await request.body())
    except ValidationError as e:
        raise RequestValidationError(
            [{**err, "loc": ("body", *err["loc"])} for err in e.errors(include_input=False)]
        ) from None
    picture = None
    if body.image_png_base64:
        try:
            picture = base64.b64decode(body.image_png_base64, validate=True)
        except (binascii.Error, ValueError) as e:
            raise InvalidInputError(
                "image_png_base64 không phải base64 / image_png_base64 is not base64",
                details=[{"field": "image_png_base64", "message": "base64"}],
            ) from e
    material = Pkcs11Material(
        body.module_path, body.token_label, body.key_label, body.pin,
        body.cert_label, body.chain_pem,
    )  # fmt: skip
    return (
        material,
        picture,
        {"label": body.label, "agency_code": getattr(body, "agency_code", None)},
    )


async def _register(
    request: Request, session: SessionDep, user: Principal, admin: bool
) -> SigningKeyView:
    ctype = request.headers.get("content-type", "")
    if ctype.startswith("multipart/form-data"):
        material, picture, extra = await _from_form(request)
    elif ctype.startswith("application/json"):
        material, picture, extra = await _from_json(request, admin)
    else:
        raise InvalidInputError(
            "Gửi multipart/form-data (PKCS#12) hoặc application/json (PKCS#11) / send "
            "multipart/form-data (PKCS#12) or application/json (PKCS#11)",
            code="unsupported_media_type",
        )
    if admin and not extra["agency_code"]:
        raise InvalidInputError(
            "Cần mã cơ quan (agency_code) / agency_code is required",
            details=[{"field": "agency_code", "message": "required"}],
        )
    state = _state(request)
    return await run_in_threadpool(
        register_key,
        session,
        state.objects,
        signing_config(state),
        user,
        material,
        agency_code=extra["agency_code"] if admin else None,
        image=picture,
        label=extra["label"],
    )


_REGISTER_ERRORS = error_responses(401, 403, 404, 409, 413, 422, 503)


@router.post(
    "/admin/signing-keys",
    response_model=SigningKeyView,
    status_code=201,
    responses=_REGISTER_ERRORS,
    openapi_extra=_body_doc(admin=True),
)
async def register_agency_key(
    request: Request, session: SessionDep, user: CurrentUser
) -> SigningKeyView:
    """Admin: set an agency's seal key (PKCS#12 multipart, or PKCS#11 as JSON or multipart).

    The agency's previous seal key is revoked; an `image` is the red seal PNG.
    """
    return await _register(request, session, user, admin=True)


@router.get(
    "/admin/signing-keys",
    response_model=list[SigningKeyView],
    responses=error_responses(401, 403, 404),
)
def agency_keys(
    session: SessionDep,
    user: CurrentUser,
    agency_code: Annotated[str | None, Query(max_length=35)] = None,
    include_revoked: bool = False,
) -> list[SigningKeyView]:
    """Admin: the configured keys (agencies' and officials'), newest first; never secrets."""
    return list_keys(session, user, agency_code=agency_code, include_revoked=include_revoked)


@router.delete(
    "/admin/signing-keys/{key_id}", status_code=204, responses=error_responses(401, 403, 404)
)
def revoke(key_id: int, session: SessionDep, user: CurrentUser) -> Response:
    """Admin: revoke a key; it is never used again."""
    revoke_key(session, key_id, user)
    return Response(status_code=204)


@router.post(
    "/me/signing-key",
    response_model=SigningKeyView,
    status_code=201,
    responses=_REGISTER_ERRORS,
    openapi_extra=_body_doc(admin=False),
)
async def register_own_key(
    request: Request, session: SessionDep, user: CurrentUser
) -> SigningKeyView:
    """Set your own signing key; an `image` is your signature (blue PNG, transparent)."""
    return await _register(request, session, user, admin=False)


@router.get("/me/signing-key", response_model=SigningKeyView, responses=error_responses(401, 404))
def my_key(session: SessionDep, user: CurrentUser) -> SigningKeyView:
    """Your active signing key (certificate subject, serial, expiry)."""
    return own_key(session, user)


@router.delete("/me/signing-key", status_code=204, responses=error_responses(401, 404))
def revoke_my_key(session: SessionDep, user: CurrentUser) -> Response:
    """Revoke your own signing key."""
    revoke_key(session, own_key(session, user).id, user)
    return Response(status_code=204)


@router.post(
    "/signatures/sign",
    response_model=FileView,
    status_code=201,
    responses=error_responses(401, 403, 404, 409, 410, 422, 502, 503),
)
def sign(body: SignIn, request: Request, session: SessionDep, user: CurrentUser) -> FileView:
    """Sign a stored PDF with your own key or (clerks) the agency's seal key.

    The signed document is the file's next version; the signed version stays unchanged.
    """
    state = _state(request)
    return sign_stored_file(
        session,
        state.objects,
        signing_config(state),
        body.file_id,
        user,
        key=body.key,
        appearance=body.appearance,
        level=body.level,
        reason=body.reason,
        location=body.location,
        text=body.text,
    )
