"""The hub's HTTP surface: probes, Prometheus metrics, connector webhooks, and
problem+json for every error."""

from __future__ import annotations

import math
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, field
from http import HTTPStatus

import structlog
from fastapi import APIRouter, FastAPI, Request
from fastapi.exception_handlers import http_exception_handler
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse, Response
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest
from starlette.exceptions import HTTPException

from hub.core.errors import (
    BearerRequired,
    ContractError,
    HubError,
    InternalError,
    RetryableError,
    TooManyRequests,
)

log: structlog.stdlib.BoundLogger = structlog.stdlib.get_logger(__name__)

PROBLEM_JSON = "application/problem+json"
_PHRASES = {status.value: status.phrase for status in HTTPStatus}


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
    elif isinstance(error, BearerRequired):
        headers["WWW-Authenticate"] = error.challenge
    return JSONResponse(
        error.problem(instance),
        status_code=error.status,
        media_type=PROBLEM_JSON,
        headers=headers,
    )


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

    @app.exception_handler(HTTPException)
    async def _http_error(request: Request, exc: HTTPException) -> Response:
        """FastAPI's own refusals (no such route, a body it could not parse) as
        problem+json too; a redirect stays a redirect."""
        if exc.status_code < 400:
            return await http_exception_handler(request, exc)
        return JSONResponse(
            {
                "type": "about:blank",
                "title": _PHRASES.get(exc.status_code, "Error"),
                "status": exc.status_code,
                "detail": str(exc.detail),
                "instance": str(request.url.path),
            },
            status_code=exc.status_code,
            media_type=PROBLEM_JSON,
            headers=exc.headers,
        )

    @app.exception_handler(Exception)
    async def _fault(request: Request, exc: Exception) -> JSONResponse:
        """A fault no handler above expected: problem+json like every other answer,
        its cause in the log (by class and route, never the path itself, which can hold
        what a client typed), never in the answer."""
        route = getattr(request.scope.get("route"), "path", None)
        log.error("request_failed", route=route, error=type(exc).__name__)
        return problem_response(InternalError("the hub could not answer; the fault is logged"))

    @app.exception_handler(RecursionError)
    async def _too_deep(request: Request, exc: RecursionError) -> JSONResponse:
        """A backstop: every reader of outside input bounds its nesting first
        (``hub.core.json_limits``), so this only catches one that forgot."""
        return problem_response(
            ContractError("the input is nested too deeply to read", field="body"),
            str(request.url.path),
        )

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
