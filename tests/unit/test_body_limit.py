"""Bodies outside the webhooks are bounded before they are parsed: a request over the
limit is refused 413 problem+json, by its declared length before a byte is read, and by
its bytes when it declares none (chunked); the webhooks keep their own limits."""

from __future__ import annotations

from collections.abc import AsyncIterator

import httpx
from fastapi import APIRouter
from pydantic import BaseModel

from hub.http_edge import BodyLimit
from hub.ops_api import Readiness, make_ops_app
from hub.settings import HttpSettings

LIMIT = HttpSettings().max_body_bytes


class Note(BaseModel):
    text: str


async def _ready() -> Readiness:
    return Readiness(checks={})


def _client() -> httpx.AsyncClient:
    routes = APIRouter()

    @routes.post("/api/v1/notes")
    async def take(note: Note) -> dict[str, int]:
        return {"length": len(note.text)}

    @routes.post("/connectors/{name}/messages")
    async def webhook(note: Note) -> dict[str, int]:
        return {"length": len(note.text)}

    app = BodyLimit(make_ops_app(_ready, "t", [routes]), LIMIT, ["/connectors/"])
    return httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://hub")


async def _chunks(size: int) -> AsyncIterator[bytes]:
    yield b'{"text": "'
    for _ in range(size // 1000):
        yield b"a" * 1000
    yield b'"}'


def _too_large(answer: httpx.Response) -> None:
    assert answer.status_code == 413, answer.text
    assert answer.headers["content-type"].startswith("application/problem+json")
    assert answer.json()["type"] == "https://ketenhub.nl/problems/payload-too-large"


async def test_a_body_over_the_shipped_limit_is_refused_by_its_length_or_its_bytes() -> None:
    async with _client() as client:
        small = await client.post("/api/v1/notes", json={"text": "a" * (LIMIT - 100)})
        assert small.json() == {"length": LIMIT - 100}
        _too_large(await client.post("/api/v1/notes", json={"text": "a" * LIMIT}))
        json_ = {"content-type": "application/json"}
        big = _chunks(LIMIT + 1000)
        _too_large(await client.post("/api/v1/notes", content=big, headers=json_))
        streamed = await client.post("/api/v1/notes", content=_chunks(LIMIT // 2), headers=json_)
        assert streamed.status_code == 200, streamed.text


async def test_the_webhooks_keep_their_own_limits() -> None:
    async with _client() as client:
        answer = await client.post("/connectors/x/messages", json={"text": "a" * (2 * LIMIT)})
    assert answer.json() == {"length": 2 * LIMIT}
