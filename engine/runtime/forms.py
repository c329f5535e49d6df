"""Task forms: JSON Schema from the definition, choices filled from the database, validation."""

from __future__ import annotations

import copy
import json
from functools import lru_cache
from typing import Any

from jsonschema import Draft202012Validator
from jsonschema.exceptions import SchemaError
from referencing import Registry, Resource
from referencing.exceptions import NoSuchResource, Unresolvable
from sqlalchemy import bindparam, select
from sqlalchemy.orm import Session

from engine.errors import InvalidInputError, WorkflowError
from engine.runtime.lanes import parse_lane, resolve_lane
from storage.models import Agency, User, UserRole

__all__ = ["DEFAULT_FORM", "check_form_schema", "render_form", "validate_submission"]

DEFAULT_FORM: dict[str, Any] = {
    "type": "object",
    "additionalProperties": False,
    "properties": {
        "comment": {"type": "string", "title": "Ý kiến / Comment", "maxLength": 2000, "default": ""}
    },
}
CHOICES_KEY = "x-choices"
_CHOICES = (  # built once: a form is rendered on every task step
    select(User.username, User.full_name)
    .join(UserRole, UserRole.user_id == User.id)
    .where(
        User.agency_id == bindparam("agency_id"),
        UserRole.role == bindparam("role"),
        User.is_active.is_(True),
        User.clearance >= bindparam("clearance"),
    )
    .order_by(User.full_name)
)


def render_form(
    session: Session,
    schema: dict[str, Any] | None,
    case_agency: Agency,
    data: dict[str, Any],
    secrecy: int = 0,
) -> dict[str, Any]:
    """The task's JSON Schema with `x-choices` turned into `enum` + labels and defaults;
    people to choose are those cleared for the case's `secrecy`."""
    form = copy.deepcopy(_well_formed(DEFAULT_FORM if schema is None else schema))
    for prop in form.get("properties", {}).values():
        source = prop.pop(CHOICES_KEY, None)
        if not source:
            continue
        kind, _, lane = str(source).partition(":")
        if kind != "users":
            raise WorkflowError(f"unknown choice source '{source}'", code="form_bad_choices")
        role, agency = resolve_lane(session, lane, case_agency, data)
        params = {"agency_id": agency.id, "role": role, "clearance": secrecy}
        users = session.execute(_CHOICES, params).all()
        prop["enum"] = [u.username for u in users]
        prop["x-enumNames"] = [u.full_name for u in users]
        if users:
            prop.setdefault("default", users[0].username)
    return form


def validate_submission(form: dict[str, Any], data: Any) -> dict[str, Any]:
    """Check submitted task data against the rendered form; raises InvalidInputError (422)."""
    if not isinstance(data, dict):
        raise InvalidInputError(
            "Dữ liệu phải là một đối tượng JSON / data must be a JSON object",
            details=[{"field": "data", "message": "expected an object"}],
        )
    form = _well_formed(form)
    filled = {
        k: copy.deepcopy(v["default"])
        for k, v in form.get("properties", {}).items()
        if "default" in v and k not in data
    }
    data = {**filled, **data}
    try:
        validator = _validator(json.dumps(form, sort_keys=True))
        errors = sorted(validator.iter_errors(data), key=lambda e: list(e.path))
    except Unresolvable as e:
        raise WorkflowError(
            f"Biểu mẫu tham chiếu '{e.ref}' không dùng được (chỉ cho phép '#/...') / "
            f"the form's $ref '{e.ref}' cannot be used (only '#/...' refs are allowed); "
            "an administrator must deploy a fixed form",
            code="form_invalid",
        ) from e
    except SchemaError as e:
        raise WorkflowError(f"biểu mẫu không hợp lệ / broken form schema: {e.message}") from e
    if errors:
        details = [
            {"field": ".".join(str(p) for p in e.path) or _field_from(e), "message": e.message}
            for e in errors
        ]
        raise InvalidInputError(
            "Dữ liệu biểu mẫu không hợp lệ / the form data is invalid: "
            + "; ".join(f"{d['field']}: {d['message']}" for d in details),
            code="invalid_form_data",
            details=details,
        )
    return data


def _no_remote(uri: str) -> Resource[Any]:
    # jsonschema would otherwise fetch any http(s) $ref: forms may refer only inside themselves.
    raise NoSuchResource(ref=uri)  # type: ignore[call-arg]  # attrs class


_LOCAL_ONLY: Registry[Any] = Registry(retrieve=_no_remote)  # type: ignore[call-arg]


@lru_cache(maxsize=256)
def _validator(schema_json: str) -> Draft202012Validator:
    schema = json.loads(schema_json)
    Draft202012Validator.check_schema(schema)  # raises SchemaError for "type": 5 and the like
    return Draft202012Validator(schema, registry=_LOCAL_ONLY)


def check_form_schema(name: str, schema: Any) -> None:
    """Check a form before deployment: a JSON Schema (draft 2020-12) object whose
    properties are objects, with only local `$ref`s and well-formed `x-choices`.

    Raises WorkflowError (422 `form_invalid`, or `form_remote_ref`) naming the form.
    """

    def bad(reason: str, code: str = "form_invalid") -> WorkflowError:
        return WorkflowError(
            f"Biểu mẫu {name} không hợp lệ / form {name} is invalid: {reason}", code=code
        )

    if not isinstance(schema, dict):
        raise bad(f"a form must be a JSON object, not {type(schema).__name__}")
    try:
        Draft202012Validator.check_schema(schema)
    except SchemaError as e:
        where = "/".join(str(p) for p in e.path) or "(root)"
        raise bad(f"{e.message} (at {where})") from e
    for ref in _refs(schema):
        if not ref.startswith("#"):
            raise bad(f"$ref '{ref}' points outside the form; use '#/$defs/…'", "form_remote_ref")
    if schema.get("type", "object") != "object":
        raise bad('the top-level type must be "object"')
    for field, prop in schema.get("properties", {}).items():
        if not isinstance(prop, dict):
            raise bad(f"property '{field}' must be a JSON object")
        source = prop.get(CHOICES_KEY)
        if source is None:
            continue
        kind, _, lane = str(source).partition(":")
        if kind != "users" or not isinstance(source, str):
            raise bad(f"property '{field}': {CHOICES_KEY} must read 'users:<role>@<agency>'")
        try:
            parse_lane(lane)
        except WorkflowError as e:
            raise bad(f"property '{field}': {e.message}") from e


def _refs(node: Any) -> list[str]:
    if isinstance(node, list):
        return [r for item in node for r in _refs(item)]
    if not isinstance(node, dict):
        return []
    found = [str(v) for k, v in node.items() if k in ("$ref", "$dynamicRef")]
    return found + [r for v in node.values() for r in _refs(v)]


def _well_formed(schema: Any) -> dict[str, Any]:
    # A form stored before deployment checked forms: a clear 422, never a 500.
    if not isinstance(schema, dict):
        raise WorkflowError(
            "Biểu mẫu của công việc không hợp lệ / the task's form is not a JSON object; "
            "an administrator must deploy a fixed form",
            code="form_invalid",
        )
    props = schema.get("properties", {})
    if not isinstance(props, dict) or not all(isinstance(p, dict) for p in props.values()):
        raise WorkflowError(
            "Biểu mẫu của công việc không hợp lệ / the task's form has malformed properties; "
            "an administrator must deploy a fixed form",
            code="form_invalid",
        )
    return schema


def _field_from(error: Any) -> str:
    # `required` and `additionalProperties` errors sit on the parent object; name the field.
    if error.validator == "required":
        return str(error.message.split("'")[1])
    if error.validator == "additionalProperties":
        return ",".join(sorted(set(error.instance) - set(error.schema.get("properties", {}))))
    return "data"
