"""The HTTP edge's own protection, below the application: deadlines, so a client that
stalls holds nothing for long (the request line and headers within ``header_timeout_s``
of the connection or of the previous answer on a kept-alive connection, the whole body
within ``body_timeout_s`` of the headers), and a cap on the connections one source holds
open, so a flood of idle sockets from a few addresses cannot use up the process's file
descriptors.

uvicorn has no timeout for a request's headers (its keep-alive timer starts only after
an answer, and any byte received cancels it) and no cap per source. It takes the HTTP
protocol as a class (``uvicorn.Config(http=...)``); :func:`edge_protocol` gives its h11
protocol both. A trusted proxy's connections are not capped: its clients are counted by
the webhook's per-source limits, once their headers name them.
"""

from __future__ import annotations

import asyncio
import ipaddress
import json
from collections import Counter
from collections.abc import Sequence

import h11
from starlette.types import ASGIApp, Message, Receive, Scope, Send
from uvicorn.protocols.http.h11_impl import H11Protocol

from hub.core.addresses import source_key
from hub.core.errors import (
    HeadersTooLarge,
    HubError,
    NotHttp,
    PayloadTooLarge,
    RequestTimeout,
)

PROBLEM_JSON = b"application/problem+json"


def edge_protocol(
    header_timeout_s: float, max_connections_per_source: int, trusted: Sequence[str] = ()
) -> type[H11Protocol]:
    """uvicorn's h11 protocol, closing a connection whose request headers have not all
    arrived ``header_timeout_s`` after it opened or after its previous answer, and
    refusing (closing at once) a connection beyond ``max_connections_per_source`` open
    from one source that is not in ``trusted``."""
    proxies = [ipaddress.ip_network(address, strict=False) for address in trusted]
    open_from: Counter[str] = Counter()

    def counted(host: str | None) -> str | None:
        """The source a connection counts against, None for a trusted proxy."""
        try:
            address = ipaddress.ip_address(host or "")
        except ValueError:
            return source_key(host)
        return None if any(address in proxy for proxy in proxies) else source_key(host)

    class EdgeProtocol(H11Protocol):
        _overdue: asyncio.TimerHandle | None = None
        _source: str | None = None

        def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
            super().connection_made(transport)
            source = counted(self.client[0] if self.client else None)
            if source is not None:
                if open_from[source] >= max_connections_per_source:
                    transport.close()
                    return
                open_from[source] += 1
                self._source = source
            self._arm()

        def on_response_complete(self) -> None:
            super().on_response_complete()
            if not self.transport.is_closing():
                self._arm()

        def connection_lost(self, exc: Exception | None) -> None:
            if self._overdue is not None:
                self._overdue.cancel()
            if self._source is not None:
                open_from[self._source] -= 1
                if not open_from[self._source]:
                    del open_from[self._source]
                self._source = None
            super().connection_lost(exc)

        def send_400_response(self, msg: str) -> None:
            """The parser's refusal of bytes that are not HTTP, as problem+json like
            every other answer (uvicorn's is plain text)."""
            error = NotHttp(msg)
            body = json.dumps(error.problem()).encode()
            head = [
                (b"content-type", PROBLEM_JSON),
                (b"content-length", str(len(body)).encode()),
                (b"connection", b"close"),
            ]
            response = h11.Response(status_code=error.status, headers=head, reason=b"Bad Request")
            for event in (response, h11.Data(data=body), h11.EndOfMessage()):
                self.transport.write(self.conn.send(event))
            self.transport.close()

        def _arm(self) -> None:
            if self._overdue is not None:
                self._overdue.cancel()
            self._overdue = self.loop.call_later(header_timeout_s, self._headers_overdue)

        def _headers_overdue(self) -> None:
            """Close unless a request's headers came in (its body has BodyDeadline)."""
            waiting = self.cycle is None or self.cycle.response_complete
            if waiting and not self.transport.is_closing():
                self.transport.close()

    return EdgeProtocol


def _has_body(scope: Scope) -> bool:
    """Whether the request announces a body (a length above 0, or chunks)."""
    for name, value in scope.get("headers", []):
        if name == b"transfer-encoding" or (name == b"content-length" and value.strip(b"0")):
            return True
    return False


class HeaderLimit:
    """ASGI middleware: a request whose line and headers together exceed ``max_bytes``
    is answered 431 problem+json and its connection closed, before any application
    sees it. The server (h11) bounds only headers that have not ended yet; headers that
    arrive whole in one read reach the application, up to h11's own far larger limit."""

    def __init__(self, app: ASGIApp, max_bytes: int) -> None:
        self.app = app
        self.max_bytes = max_bytes

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http" and _head_bytes(scope) > self.max_bytes:
            error = HeadersTooLarge(f"more than {self.max_bytes} bytes of request line and headers")
            await _refuse(send, error, scope.get("path"))
            return
        await self.app(scope, receive, send)


def _head_bytes(scope: Scope) -> int:
    """The size of the request line and headers, as they came in (near enough: the
    method, target and version, and each header's name, value and separators)."""
    line = len(scope.get("method", "")) + len(scope.get("raw_path") or b"") + 11
    line += len(scope.get("query_string") or b"") + 1
    return line + sum(len(name) + len(value) + 4 for name, value in scope.get("headers", []))


class BodyLimit:
    """ASGI middleware: a request body larger than ``max_bytes`` is refused 413
    problem+json, by its declared length before a byte is read, else as its bytes come
    in; paths under ``own_limits`` (the webhooks, each with its connector's limit) are
    left to their own. Without it the console's and the API's bodies were parsed whole
    before any check (150 MB to the sign-in took 430 MB of memory)."""

    def __init__(self, app: ASGIApp, max_bytes: int, own_limits: Sequence[str] = ()) -> None:
        self.app = app
        self.max_bytes = max_bytes
        self.own_limits = tuple(own_limits)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or str(scope.get("path", "")).startswith(self.own_limits):
            await self.app(scope, receive, send)
            return
        too_large = PayloadTooLarge(f"more than {self.max_bytes} bytes", field="body")
        declared = dict(scope.get("headers", [])).get(b"content-length", b"").strip()
        if declared.isdigit() and int(declared) > self.max_bytes:
            await _refuse(send, too_large, scope.get("path"))
            return
        taken, over, answered = 0, False, False

        async def counted_receive() -> Message:
            """Past the limit the application is told the client left, and what it
            answers to a body it never had whole is replaced by the 413."""
            nonlocal taken, over
            if over:
                return {"type": "http.disconnect"}
            message = await receive()
            taken += len(message.get("body", b""))
            if taken > self.max_bytes:
                over = True
                return {"type": "http.disconnect"}
            return message

        async def guarded_send(message: Message) -> None:
            nonlocal answered
            if not over:
                await send(message)
            elif message["type"] == "http.response.start" and not answered:
                await _refuse(send, too_large, scope.get("path"))
            answered = answered or message["type"] == "http.response.start"

        await self.app(scope, counted_receive, guarded_send)
        if over and not answered:
            await _refuse(send, too_large, scope.get("path"))


async def _refuse(send: Send, error: HubError, path: str | None) -> None:
    """``error`` as the whole answer, problem+json, and the connection closed (what the
    client still sends is not read)."""
    body = json.dumps(error.problem(path)).encode()
    await send(
        {
            "type": "http.response.start",
            "status": error.status,
            "headers": [
                (b"content-type", PROBLEM_JSON),
                (b"content-length", str(len(body)).encode()),
                (b"connection", b"close"),
            ],
        }
    )
    await send({"type": "http.response.body", "body": body})


class BodyDeadline:
    """ASGI middleware: a request's whole body must arrive within ``timeout_s`` of its
    headers, else reading it raises RequestTimeout (408 problem+json), so a client that
    stalls mid-body holds nothing for long. An answer sent before the whole body was read
    (408, 413, 429, a refused signature) says ``Connection: close``, so the server drops
    the connection instead of waiting for the rest of a body nobody reads."""

    def __init__(self, app: ASGIApp, timeout_s: float) -> None:
        self.app = app
        self.timeout_s = timeout_s

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        deadline = asyncio.get_running_loop().time() + self.timeout_s
        body_done = not _has_body(scope)

        async def timed_receive() -> Message:
            nonlocal body_done
            if body_done:  # what follows the body is the wait for a disconnect
                return await receive()
            try:
                async with asyncio.timeout_at(deadline):
                    message = await receive()
            except TimeoutError:
                raise RequestTimeout(
                    f"the body did not arrive within {self.timeout_s:g} s", field="body"
                ) from None
            body_done = message["type"] != "http.request" or not message.get("more_body")
            return message

        async def closing_send(message: Message) -> None:
            if message["type"] == "http.response.start" and not body_done:
                headers = [*message.get("headers", []), (b"connection", b"close")]
                message = {**message, "headers": headers}
            await send(message)

        await self.app(scope, timed_receive, closing_send)
