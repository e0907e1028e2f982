"""Every error the hub's HTTP surface gives is problem+json: also an unknown path and a
method a path does not take (FastAPI's own answers were ``{"detail": "Not Found"}``)."""

from __future__ import annotations

import httpx
import pytest
from fastapi import APIRouter

from hub.ops_api import Readiness, make_ops_app


async def ready() -> Readiness:
    return Readiness(checks={})


@pytest.mark.parametrize(
    ("method", "path", "status", "title"),
    [
        ("GET", "/no/such/path", 404, "Not Found"),
        ("POST", "/healthz", 405, "Method Not Allowed"),
        ("DELETE", "/metrics", 405, "Method Not Allowed"),
    ],
)
async def test_an_unknown_path_or_method_is_problem_json(
    method: str, path: str, status: int, title: str
) -> None:
    transport = httpx.ASGITransport(app=make_ops_app(ready, "test"))
    async with httpx.AsyncClient(transport=transport, base_url="http://hub") as client:
        answer = await client.request(method, path)
    assert answer.status_code == status
    assert answer.headers["content-type"].startswith("application/problem+json")
    body = answer.json()
    assert (body["status"], body["title"], body["instance"]) == (status, title, path)


async def test_a_fault_inside_the_hub_is_problem_json_without_its_cause() -> None:
    """A handler that fails where nothing expected it: 500 problem+json like every
    other answer, and neither the exception's text nor the path in the answer."""
    broken = APIRouter()

    @broken.get("/broken/{anything}")
    async def fails(anything: str) -> None:
        raise KeyError("999999990 Jansen")

    app = make_ops_app(ready, "test", [broken])
    transport = httpx.ASGITransport(app=app, raise_app_exceptions=False)
    async with httpx.AsyncClient(transport=transport, base_url="http://hub") as client:
        answer = await client.get("/broken/999999990")
    assert answer.status_code == 500
    assert answer.headers["content-type"].startswith("application/problem+json")
    body = answer.json()
    assert (body["status"], body["type"]) == (500, "https://ketenhub.nl/problems/internal-error")
    assert "999999990" not in answer.text
    assert "Jansen" not in answer.text
