"""Refuse an upload past the size limit while it arrives, before it is parsed or spooled."""

from __future__ import annotations

import contextlib
import json
from typing import Any

from starlette.types import ASGIApp, Message, Receive, Scope, Send

__all__ = ["UploadLimit"]

_OVERHEAD = 64 * 1024  # multipart boundaries and small fields around the file
# Routes whose body is a file: uploads, signed versions, PDFs to verify, edXML packages.
_LIMITED = ("/files", "/signed", "/signatures/verify", "/exchange/v1/packages")


class _TooLarge(Exception):
    pass


class UploadLimit:
    """ASGI middleware: POSTs to upload routes may carry at most `limit` bytes of body."""

    def __init__(self, app: ASGIApp, limit: Any) -> None:
        self.app = app
        self._limit = limit  # a callable, so the limit follows the app's settings

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if (
            scope["type"] != "http"
            or scope["method"] != "POST"
            or not scope["path"].endswith(_LIMITED)
        ):
            await self.app(scope, receive, send)
            return
        limit = int(self._limit()) + _OVERHEAD
        declared = dict(scope["headers"]).get(b"content-length")
        if declared is not None and declared.isdigit() and int(declared) > limit:
            await _refuse(send, limit)
            return
        seen = 0
        started = False
        too_large = False

        async def counting_receive() -> Message:
            nonlocal seen, too_large
            message = await receive()
            if message["type"] == "http.request":
                seen += len(message.get("body", b""))
                if seen > limit:
                    too_large = True
                    raise _TooLarge
            return message

        async def tracking_send(message: Message) -> None:
            nonlocal started
            if too_large:
                return  # the app's own answer to the cut body (a parse error) is replaced
            started = started or message["type"] == "http.response.start"
            await send(message)

        with contextlib.suppress(_TooLarge):
            await self.app(scope, counting_receive, tracking_send)
        if too_large and not started:
            await _refuse(send, limit)


async def _refuse(send: Send, limit: int) -> None:
    mb = (limit - _OVERHEAD) // (1024 * 1024)
    body = json.dumps(
        {
            "error": "file_too_large",
            "detail": f"Tệp vượt quá giới hạn {mb} MB / the file is larger than the {mb} MB limit",
        },
        ensure_ascii=False,
    ).encode()
    await send(
        {
            "type": "http.response.start",
            "status": 413,
            "headers": [(b"content-type", b"application/json"), (b"connection", b"close")],
        }
    )
    await send({"type": "http.response.body", "body": body})
