"""File names from users: sanitised for storage and display, never used as a path."""

from __future__ import annotations

import unicodedata
from urllib.parse import quote

__all__ = ["content_disposition", "sanitise_name"]

_MAX_NAME = 200
_FORBIDDEN = set('/\\:*?"<>|')


def sanitise_name(name: str | None) -> str:
    """A display name: NFC, no path parts, no control or path characters, ≤ 200 characters."""
    text = unicodedata.normalize("NFC", name or "")
    text = text.replace("\\", "/").split("/")[-1]
    cleaned = "".join(
        "_" if (c in _FORBIDDEN or unicodedata.category(c).startswith("C")) else c for c in text
    ).strip(" .")
    if not cleaned:
        return "tep-tin"
    if len(cleaned) > _MAX_NAME:
        stem, dot, ext = cleaned.rpartition(".")
        if dot and 0 < len(ext) <= 10:
            cleaned = stem[: _MAX_NAME - len(ext) - 1] + "." + ext
        else:
            cleaned = cleaned[:_MAX_NAME]
    return cleaned


def content_disposition(name: str, *, inline: bool = False) -> str:
    """`attachment; filename="ascii"; filename*=UTF-8''…` (RFC 6266 / RFC 5987)."""
    safe = sanitise_name(name)
    ascii_name = (
        unicodedata.normalize("NFKD", safe.replace("đ", "d").replace("Đ", "D"))
        .encode("ascii", "ignore")
        .decode()
        .replace('"', "")
        .strip(" .")  # what was dropped (an emoji) may have stood before a space or dot
    ) or "file"
    kind = "inline" if inline else "attachment"
    return f"{kind}; filename=\"{ascii_name}\"; filename*=UTF-8''{quote(safe, safe='')}"
