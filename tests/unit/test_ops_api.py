"""Every error the hub's HTTP surface gives is problem+json: also an unknown path and a
method a path does not take (FastAPI's own answers were ``{"detail": "Not Found"}``)."""

from __future__ import annotations

import httpx
import pytest

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
