"""Map the frozen dataclasses of `engine.exchange.edxml` to edXML elements and back.

One rule instead of a hand-written reader and writer per element, so that building and
parsing cannot drift apart: a field `organ_id` is the child element `OrganId` (metadata
`xml` overrides the name); `X | None` is an optional element; `tuple[X, ...]` repeats
the element, or with metadata `item` is a wrapper holding `<item>` elements; a nested
dataclass is a nested element; dates, timestamps, enums and ints are text.

Elements match by local name in the QCVN 102 namespace or in no namespace, whatever the
prefix, because senders write both `<edXML:Subject>` and `<Subject>`.
"""

from __future__ import annotations

import base64
import dataclasses
import datetime as dt
import types
from enum import Enum
from typing import Any, TypeVar, Union, get_args, get_origin, get_type_hints

from lxml import etree

from engine.calendar import VN_TZ
from engine.errors import PackageInvalid

__all__ = [
    "DATE_FORMAT",
    "NS",
    "TIMESTAMP_FORMAT",
    "child",
    "children",
    "decode_base64",
    "encode_base64",
    "format_date",
    "format_timestamp",
    "is_named",
    "manifest_references",
    "parse_date",
    "parse_timestamp",
    "put",
    "put_text",
    "qname",
    "read",
    "reference_id",
    "sub",
    "text_of",
]

NS = "http://www.mic.gov.vn/TBT/QCVN_102_2016"
XLINK = "http://www.w3.org/1999/xlink"
DATE_FORMAT = "%Y/%m/%d"
TIMESTAMP_FORMAT = "%Y/%m/%d %H:%M:%S"
T = TypeVar("T")


# --- names and navigation ---------------------------------------------------------------


def qname(tag: str) -> str:
    """`{QCVN 102 namespace}tag`."""
    return f"{{{NS}}}{tag}"


def is_named(el: etree._Element, tag: str) -> bool:
    """Whether `el` is `tag` in the QCVN 102 namespace or in none."""
    if not isinstance(el.tag, str):  # comments, processing instructions
        return False
    name = etree.QName(el)
    return name.localname == tag and name.namespace in (NS, None)


def children(el: etree._Element | None, tag: str) -> list[etree._Element]:
    """The child elements named `tag` (none when `el` is None)."""
    return [] if el is None else [c for c in el if is_named(c, tag)]


def child(el: etree._Element | None, tag: str) -> etree._Element | None:
    """The first child element named `tag`, or None."""
    found = children(el, tag)
    return found[0] if found else None


def text_of(el: etree._Element | None, tag: str) -> str | None:
    """The stripped text of child `tag`; "" when empty, None when absent."""
    found = child(el, tag)
    return None if found is None else (found.text or "").strip()


def sub(parent: etree._Element, tag: str) -> etree._Element:
    """A new child element `tag` in the QCVN 102 namespace."""
    return etree.SubElement(parent, qname(tag))


def manifest_references(root: etree._Element) -> list[etree._Element]:
    """The `edXMLEnvelope/edXMLBody/edXMLManifest/Reference` elements."""
    body = child(child(root, "edXMLEnvelope"), "edXMLBody")
    return children(child(body, "edXMLManifest"), "Reference")


def reference_id(ref: etree._Element) -> str:
    """A manifest reference's ContentId (or its `xlink:href`, a variant seen in the wild)."""
    return text_of(ref, "ContentId") or (ref.get(f"{{{XLINK}}}href") or "").strip()


# --- values -----------------------------------------------------------------------------


def format_date(value: dt.date) -> str:
    """`YYYY/MM/DD`."""
    return f"{value.year:04d}/{value.month:02d}/{value.day:02d}"


def parse_date(text: str) -> dt.date:
    """A `YYYY/MM/DD` date (ISO `YYYY-MM-DD` accepted too). Raises ValueError."""
    text = text.strip()
    try:
        return dt.datetime.strptime(text, DATE_FORMAT).date()
    except ValueError:
        return dt.date.fromisoformat(text)


def format_timestamp(value: dt.datetime) -> str:
    """`YYYY/MM/DD HH:mm:ss` in Vietnam time (seconds truncated). Raises ValueError if naive."""
    if value.utcoffset() is None:
        raise ValueError("a timestamp needs a time zone")
    local = value.astimezone(VN_TZ)
    return f"{format_date(local)} {local:%H:%M:%S}"


def parse_timestamp(text: str) -> dt.datetime:
    """An aware datetime from `YYYY/MM/DD HH:mm:ss` (Vietnam time) or ISO 8601.

    Raises ValueError.
    """
    text = text.strip()
    try:
        value = dt.datetime.strptime(text, TIMESTAMP_FORMAT)
    except ValueError:
        value = dt.datetime.fromisoformat(text)
    return value.replace(tzinfo=VN_TZ) if value.tzinfo is None else value.astimezone(VN_TZ)


def encode_base64(data: bytes) -> str:
    """Base64 text of an attachment."""
    return base64.b64encode(data).decode("ascii")


def decode_base64(text: str, path: str) -> bytes:
    """The bytes of base64 text (line breaks allowed). Raises PackageInvalid naming `path`."""
    try:
        return base64.b64decode("".join(text.split()), validate=True)
    except ValueError as e:
        raise PackageInvalid(
            f"{path}: nội dung base64 không hợp lệ / not valid base64",
            code="edxml_bad_base64",
            details=[{"field": path, "message": "invalid"}],
        ) from e


def _bad_value(path: str, text: str) -> PackageInvalid:
    return PackageInvalid(
        f"{path}: giá trị không hợp lệ {text[:80]!r} / invalid value {text[:80]!r}",
        code="edxml_bad_value",
        details=[{"field": path, "message": "invalid"}],
    )


def _format(value: object, path: str) -> str:
    if isinstance(value, Enum):
        return str(value.value)
    if isinstance(value, dt.datetime):
        try:
            return format_timestamp(value)
        except ValueError as e:
            raise PackageInvalid(
                f"{path}: thời điểm thiếu múi giờ / the timestamp has no time zone",
                code="edxml_naive_datetime",
                details=[{"field": path, "message": "invalid"}],
            ) from e
    if isinstance(value, dt.date):
        return format_date(value)
    return str(value)


def _parse(text: str, tp: Any, path: str) -> Any:
    try:
        if tp is str:
            return text
        if issubclass(tp, Enum):
            return tp(int(text)) if issubclass(tp, int) else tp(text)
        if tp is dt.datetime:
            return parse_timestamp(text)
        if tp is dt.date:
            return parse_date(text)
        if tp is int:
            return int(text)
    except ValueError:
        raise _bad_value(path, text) from None
    raise TypeError(f"no edXML mapping for {tp!r}")  # a programming error, not bad input


# --- dataclasses ------------------------------------------------------------------------


@dataclasses.dataclass(frozen=True)
class _Spec:
    name: str
    tag: str
    item: str | None
    tp: Any
    many: bool
    has_default: bool


def _camel(name: str) -> str:
    return "".join(part[:1].upper() + part[1:] for part in name.split("_"))


_SPECS: dict[type, tuple[_Spec, ...]] = {}


def _specs(cls: Any) -> tuple[_Spec, ...]:
    if cls not in _SPECS:
        _SPECS[cls] = _specs_of(cls)
    return _SPECS[cls]


def _specs_of(cls: Any) -> tuple[_Spec, ...]:
    hints = get_type_hints(cls)
    specs = []
    for f in dataclasses.fields(cls):
        tp, many = hints[f.name], False
        if get_origin(tp) in (Union, types.UnionType):
            tp = next(a for a in get_args(tp) if a is not type(None))
        if get_origin(tp) is tuple:
            tp, many = get_args(tp)[0], True
        tag = f.metadata.get("xml") or _camel(f.name)
        has_default = f.default is not dataclasses.MISSING
        specs.append(_Spec(f.name, tag, f.metadata.get("item"), tp, many, has_default))
    return tuple(specs)


def _item_path(field_path: str, spec: _Spec, index: int) -> str:
    # `MessageHeader/To[2]`, `MessageHeader/ToPlaces/Place[2]`
    return f"{field_path}/{spec.item}[{index}]" if spec.item else f"{field_path}[{index}]"


def put_text(el: etree._Element, text: str, path: str) -> None:
    """Set an element's text. Raises PackageInvalid for characters XML cannot carry."""
    try:
        el.text = text
    except ValueError as e:
        raise PackageInvalid(
            f"{path}: có ký tự không dùng được trong XML / contains characters XML cannot carry",
            code="edxml_bad_text",
            details=[{"field": path, "message": "invalid"}],
        ) from e


def put(parent: etree._Element, tag: str, value: Any, path: str) -> etree._Element:
    """Append `value` (a dataclass or a plain value) to `parent` as element `tag`."""
    el = sub(parent, tag)
    if not dataclasses.is_dataclass(value):
        put_text(el, _format(value, path), path)
        return el
    for spec in _specs(type(value)):
        field_value = getattr(value, spec.name)
        field_path = f"{path}/{spec.tag}"
        if not spec.many:
            if field_value is not None:
                put(el, spec.tag, field_value, field_path)
            continue
        holder = sub(el, spec.tag) if spec.item and field_value else el
        for i, item in enumerate(field_value, 1):
            put(holder, spec.item or spec.tag, item, _item_path(field_path, spec, i))
    return el


def _value(el: etree._Element, tp: Any, path: str) -> Any:
    if isinstance(tp, type) and dataclasses.is_dataclass(tp):
        return read(el, tp, path)
    return _parse((el.text or "").strip(), tp, path)


def read(el: etree._Element, cls: type[T], path: str) -> T:
    """Build dataclass `cls` from element `el`. Raises PackageInvalid naming the path.

    A missing or empty element takes the field's default; a missing required text is
    "" (validation reports it); any other missing required element is an error.
    """
    kwargs: dict[str, Any] = {}
    for spec in _specs(cls):
        field_path = f"{path}/{spec.tag}"
        if spec.many:
            holder = child(el, spec.tag) if spec.item else el
            items = children(holder, spec.item or spec.tag)
            kwargs[spec.name] = tuple(
                _value(x, spec.tp, _item_path(field_path, spec, i)) for i, x in enumerate(items, 1)
            )
            continue
        found = child(el, spec.tag)
        empty = found is None or (
            spec.tp is not str
            and not dataclasses.is_dataclass(spec.tp)
            and not (found.text or "").strip()
        )
        if not empty:
            kwargs[spec.name] = _value(found, spec.tp, field_path)  # type: ignore[arg-type]
        elif spec.tp is str and not spec.has_default:
            kwargs[spec.name] = ""
        elif not spec.has_default:
            raise PackageInvalid(
                f"Thiếu {field_path} / {field_path} is missing",
                code="edxml_missing_element",
                details=[{"field": field_path, "message": "invalid"}],
            )
    return cls(**kwargs)
