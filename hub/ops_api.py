"""The hub's own HTTP surface: liveness and readiness probes, and problem+json errors."""

from __future__ import annotations

from collections.abc import Awaitable, Callable

from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse

from hub.errors import HubError

PROBLEM_JSON = "application/problem+json"
ReadinessCheck = Callable[[], Awaitable[dict[str, bool]]]


def problem_response(error: HubError, instance: str | None = None) -> JSONResponse:
    return JSONResponse(error.problem(instance), status_code=error.status, media_type=PROBLEM_JSON)


def make_ops_app(readiness: ReadinessCheck, version: str) -> FastAPI:
    app = FastAPI(title="Ketenhub", version=version, docs_url=None, redoc_url=None)

    @app.exception_handler(HubError)
    async def _hub_error(request: Request, exc: HubError) -> JSONResponse:
        return problem_response(exc, str(request.url.path))

    @app.get("/healthz", summary="Liveness: the process answers.")
    async def healthz() -> dict[str, str]:
        return {"status": "ok"}

    @app.get("/readyz", summary="Readiness: the broker and the database answer.")
    async def readyz() -> JSONResponse:
        checks = await readiness()
        ready = all(checks.values())
        return JSONResponse(
            {"status": "ready" if ready else "not-ready", "checks": checks},
            status_code=200 if ready else 503,
        )

    return app
