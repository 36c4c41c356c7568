"""Request body limit on the bytes actually received, so a chunked upload without a length cannot evade it."""

from __future__ import annotations

import re
from collections.abc import Sequence

from starlette.exceptions import HTTPException
from starlette.types import ASGIApp, Message, Receive, Scope, Send


class BodyTooLarge(HTTPException):
    """413: raised from ``receive`` once the streamed body passes the limit; rendered by the app's handler."""

    def __init__(self, limit: int) -> None:
        super().__init__(413, f"the request is larger than {limit} bytes")


class BodyLimit:
    """ASGI middleware: refuses a declared length over ``limit`` at once, and counts streamed bytes too."""

    def __init__(self, app: ASGIApp, limit: int, wider: Sequence[tuple[str, int]] = ()) -> None:
        """``wider``: (path regex, limit) pairs for the few routes that take more (a clip for review)."""
        self.app = app
        self.limit = limit
        self.wider = [(re.compile(pattern), size) for pattern, size in wider]

    def limit_for(self, path: str) -> int:
        return next((size for pattern, size in self.wider if pattern.fullmatch(path)), self.limit)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        limit = self.limit_for(scope.get("path", ""))
        declared = dict(scope.get("headers") or ()).get(b"content-length", b"")
        if declared.isdigit() and int(declared) > limit:
            await _refuse(send, limit)
            return
        await self.app(scope, self._counting(receive, limit), send)

    def _counting(self, receive: Receive, limit: int) -> Receive:
        seen = 0

        async def counted() -> Message:
            nonlocal seen
            message = await receive()
            if message["type"] == "http.request":
                seen += len(message.get("body", b""))
                if seen > limit:
                    raise BodyTooLarge(limit)
            return message

        return counted


async def _refuse(send: Send, limit: int) -> None:
    body = f'{{"detail":"the request is larger than {limit} bytes"}}'.encode()
    await send(
        {
            "type": "http.response.start",
            "status": 413,
            "headers": [
                (b"content-type", b"application/json"),
                (b"content-length", str(len(body)).encode()),
                (b"connection", b"close"),
            ],
        }
    )
    await send({"type": "http.response.body", "body": body})
