"""The hub's HTTP surface: probes, Prometheus metrics, connector webhooks, and
problem+json for every error."""

from __future__ import annotations

import asyncio
import math
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, field

from fastapi import APIRouter, FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse, Response
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from hub.core.errors import (
    ContractError,
    HubError,
    RequestTimeout,
    RetryableError,
    TooManyRequests,
)

PROBLEM_JSON = "application/problem+json"


@dataclass(frozen=True)
class Readiness:
    """What ``/readyz`` answers: the checks that decide it, and what an operator should
    know besides (a degraded Kafka cluster that still takes every write, say)."""

    checks: dict[str, bool]
    details: dict[str, str] = field(default_factory=dict)

    @property
    def ready(self) -> bool:
        return all(self.checks.values())


ReadinessCheck = Callable[[], Awaitable[Readiness]]


def problem_response(error: HubError, instance: str | None = None) -> JSONResponse:
    headers = {}
    if isinstance(error, TooManyRequests):
        headers["Retry-After"] = str(max(1, math.ceil(error.retry_after_s)))
    elif isinstance(error, RetryableError):
        headers["Retry-After"] = "1"
    return JSONResponse(
        error.problem(instance),
        status_code=error.status,
        media_type=PROBLEM_JSON,
        headers=headers,
    )


def _has_body(scope: Scope) -> bool:
    """Whether the request announces a body (a length above 0, or chunks)."""
    for name, value in scope.get("headers", []):
        if name == b"transfer-encoding" or (name == b"content-length" and value.strip(b"0")):
            return True
    return False


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


def make_ops_app(
    readiness: ReadinessCheck, version: str, routers: Sequence[APIRouter] = ()
) -> FastAPI:
    app = FastAPI(title="Ketenhub", version=version, docs_url=None, redoc_url=None)

    @app.exception_handler(HubError)
    async def _hub_error(request: Request, exc: HubError) -> JSONResponse:
        return problem_response(exc, str(request.url.path))

    @app.exception_handler(RequestValidationError)
    async def _bad_request(request: Request, exc: RequestValidationError) -> JSONResponse:
        first = exc.errors()[0] if exc.errors() else {"msg": "invalid request", "loc": ()}
        field = ".".join(str(p) for p in first.get("loc", ())) or None
        return problem_response(
            ContractError(str(first["msg"]), field=field), str(request.url.path)
        )

    @app.get("/metrics", summary="Prometheus metrics.")
    async def metrics() -> Response:
        return Response(generate_latest(), media_type=CONTENT_TYPE_LATEST)

    for router in routers:
        app.include_router(router)

    @app.get("/healthz", summary="Liveness: the process answers.")
    async def healthz() -> dict[str, str]:
        return {"status": "ok"}

    @app.get("/readyz", summary="Readiness: the broker and the database answer.")
    async def readyz() -> JSONResponse:
        answer = await readiness()
        return JSONResponse(
            {
                "status": "ready" if answer.ready else "not-ready",
                "checks": answer.checks,
                **answer.details,
            },
            status_code=200 if answer.ready else 503,
        )

    return app
