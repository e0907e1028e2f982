"""Partner calls on the network (aiohttp): what a partner receives, the one kept-open
session, and how each kind of failure maps onto the error tree. The partner is a real
loopback server, so these pin the client's behaviour, not a fake's."""

from __future__ import annotations

import asyncio
import contextlib
import gc
import json
import socket
import threading
import warnings
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import pytest
from aiohttp import web

from hub import tracing
from hub.connectors.http import HttpApi, HttpApiConfig
from hub.connectors.zvh import ZvhNotifications
from hub.core.errors import PermanentError, RetryableError
from hub.core.polling import wait_for

TRACEPARENT = "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01"
Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]


@dataclass
class Seen:
    method: str
    path: str
    headers: dict[str, str]
    body: bytes
    peer: object


@dataclass
class Partner:
    """A partner API on 127.0.0.1 that keeps every request it got and, per path, answers
    as the test says (200 with ``{}`` when it says nothing)."""

    url: str = ""
    seen: list[Seen] = field(default_factory=list)
    transports: list[asyncio.BaseTransport] = field(default_factory=list)
    routes: dict[str, Handler] = field(default_factory=dict)
    release: asyncio.Event = field(default_factory=asyncio.Event)
    """Set at the end of the test, so handlers that hang let go."""

    async def handle(self, request: web.Request) -> web.StreamResponse:
        peer = request.transport.get_extra_info("peername") if request.transport else None
        self.seen.append(
            Seen(request.method, request.path, dict(request.headers), await request.read(), peer)
        )
        if request.transport is not None:
            self.transports.append(request.transport)
        handler = self.routes.get(request.path)
        return await handler(request) if handler else web.json_response({})


@pytest.fixture
async def partner() -> AsyncIterator[Partner]:
    found = Partner()
    app = web.Application()
    app.router.add_route("*", "/{tail:.*}", found.handle)
    runner = web.AppRunner(app, access_log=None)
    await runner.setup()
    listening = socket.socket()
    listening.bind(("127.0.0.1", 0))
    await web.SockSite(runner, listening).start()
    found.url = f"http://127.0.0.1:{listening.getsockname()[1]}/api"
    try:
        yield found
    finally:
        found.release.set()
        await runner.cleanup()


def _api(partner: Partner, **config: Any) -> HttpApi:
    return HttpApi(HttpApiConfig(base_url=partner.url, **config), "partner", None)


async def test_a_json_call_sends_what_httpx_sent(partner: Partner) -> None:
    """Compact UTF-8 JSON (no ``\\u`` escapes), its content type, the API key, the
    delivery's own headers and the current trace, to the path under ``base_url``."""
    api = _api(partner, api_key="s3cret-key")
    body = {"naam": "L. Coördinator", "velden": [1, 2]}
    try:
        with tracing.continuing({"traceparent": TRACEPARENT}):
            response = await api.call(
                "POST", "meldingen", json=body, headers={"Idempotency-Key": "dlv-1"}
            )
    finally:
        await api.aclose()
    assert response.status_code == 200
    assert response.json() == {}
    (seen,) = partner.seen
    assert (seen.method, seen.path) == ("POST", "/api/meldingen")
    assert seen.body == '{"naam":"L. Coördinator","velden":[1,2]}'.encode()
    assert seen.headers["Content-Type"] == "application/json"
    assert seen.headers["Accept"] == "application/json"
    assert seen.headers["Authorization"] == "Bearer s3cret-key"
    assert seen.headers["Idempotency-Key"] == "dlv-1"
    assert seen.headers["traceparent"] == TRACEPARENT


async def test_a_body_goes_as_given_with_no_content_type_added(partner: Partner) -> None:
    """Your content type stays; a body without one gets none (aiohttp would have said
    application/octet-stream), as with httpx."""
    api = _api(partner)
    try:
        await api.call(
            "POST",
            "/Communication",
            content="{}",
            headers={"content-type": "application/fhir+json"},
        )
        await api.call("POST", "raw", content=b"\x00\x01")
    finally:
        await api.aclose()
    typed, untyped = partner.seen
    assert typed.path == "/api/Communication"
    assert typed.headers["Content-Type"] == "application/fhir+json"
    assert untyped.body == b"\x00\x01"
    assert "Content-Type" not in untyped.headers


async def test_one_session_serves_every_call_and_close_lets_go_of_it(partner: Partner) -> None:
    """A connector's calls share one kept-open connection; ``close()`` at shutdown closes
    the session, so the partner sees the connection end and nothing is left for the
    garbage collector to find unclosed."""
    connector = ZvhNotifications.from_config({"base_url": partner.url})
    assert connector.api() is connector.api()
    for _ in range(3):
        await connector.api().call("GET", "health")
    assert len({seen.peer for seen in partner.seen}) == 1
    (held,) = set(partner.transports)
    assert not held.is_closing()
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always", ResourceWarning)
        await connector.close()
        gc.collect()
    await wait_for(held.is_closing, 5)
    assert not [w for w in caught if "Unclosed" in str(w.message)]


async def test_a_proxy_in_the_environment_carries_the_call(
    partner: Partner, monkeypatch: pytest.MonkeyPatch
) -> None:
    """As httpx did, the hub reaches partners through the egress proxy that
    ``HTTP_PROXY``/``HTTPS_PROXY`` name (here the loopback server plays the proxy)."""
    for name in ("NO_PROXY", "no_proxy", "http_proxy"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("HTTP_PROXY", partner.url.removesuffix("/api"))
    api = HttpApi(HttpApiConfig(base_url="http://partner.invalid/api"), "partner", None)
    try:
        assert (await api.call("GET", "health")).status_code == 200
    finally:
        await api.aclose()
    (seen,) = partner.seen
    assert (seen.path, seen.headers["Host"]) == ("/api/health", "partner.invalid")


async def test_a_redirect_is_an_answer_and_is_not_followed(partner: Partner) -> None:
    async def moved(_request: web.Request) -> web.StreamResponse:
        raise web.HTTPTemporaryRedirect("/api/elsewhere")

    partner.routes["/api/meldingen"] = moved
    api = _api(partner)
    try:
        response = await api.call("POST", "meldingen", json={})
    finally:
        await api.aclose()
    assert response.status_code == 307
    assert [seen.path for seen in partner.seen] == ["/api/meldingen"]
    with pytest.raises(PermanentError, match="refused: 307"):
        api.settle(response)


async def test_the_time_limit_covers_the_whole_answer(partner: Partner) -> None:
    """``timeout_s`` bounds the call to its last byte: a partner that sends its headers
    and then stalls in the body has not answered in time."""

    async def stalls(request: web.Request) -> web.StreamResponse:
        response = web.StreamResponse(headers={"Content-Length": "100"})
        await response.prepare(request)
        await response.write(b"{")
        await partner.release.wait()
        return response

    async def silent(_request: web.Request) -> web.StreamResponse:
        await partner.release.wait()
        return web.Response()

    async def drips(request: web.Request) -> web.StreamResponse:
        """A byte every 50 ms, never 200 ms without one: only a limit on the whole call
        (not one per read, as httpx had) ends it."""
        response = web.StreamResponse(headers={"Content-Length": "1000"})
        await response.prepare(request)
        with contextlib.suppress(ConnectionResetError):
            while not partner.release.is_set():
                await response.write(b" ")
                await asyncio.sleep(0.05)
        return response

    partner.routes |= {"/api/stalls": stalls, "/api/silent": silent, "/api/drips": drips}
    api = _api(partner, timeout_s=0.2)
    try:
        for path in ("stalls", "silent", "drips"):
            with pytest.raises(RetryableError, match="partner did not answer in time"):
                await api.call("GET", path)
    finally:
        await api.aclose()


async def test_a_partner_that_breaks_off_its_answer_is_retryable(partner: Partner) -> None:
    async def hangs_up(request: web.Request) -> web.StreamResponse:
        response = web.StreamResponse(headers={"Content-Length": "100"})
        await response.prepare(request)
        await response.write(b"{")
        assert request.transport is not None
        request.transport.close()
        return response

    partner.routes["/api/meldingen"] = hangs_up
    api = _api(partner)
    try:
        with pytest.raises(RetryableError, match="partner unreachable: ClientPayloadError"):
            await api.call("POST", "meldingen", json={})
    finally:
        await api.aclose()


async def test_a_partner_that_is_not_there_is_retryable() -> None:
    with socket.socket() as closed:
        closed.bind(("127.0.0.1", 0))
        port = closed.getsockname()[1]
    api = HttpApi(HttpApiConfig(base_url=f"http://127.0.0.1:{port}/api"), "partner", None)
    try:
        with pytest.raises(RetryableError, match="partner unreachable: ConnectionRefusedError"):
            await api.call("GET", "health")
    finally:
        await api.aclose()


class _Healthy(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def do_GET(self) -> None:
        self.send_response(200)
        self.send_header("Content-Length", "0")
        self.end_headers()

    def log_message(self, *_args: Any) -> None:
        """Quiet."""


def test_a_call_from_another_event_loop_gets_a_session_of_its_own() -> None:
    """The kit runs each check in an event loop of its own: the session of a loop that
    has ended is left, not used (it would fail with "Event loop is closed")."""
    server = ThreadingHTTPServer(("127.0.0.1", 0), _Healthy)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    base_url = f"http://127.0.0.1:{server.server_address[1]}/api"
    api = HttpApi(HttpApiConfig(base_url=base_url), "partner", None)

    async def status() -> int:
        return (await api.call("GET", "health")).status_code

    async def last() -> int:
        try:
            return await status()
        finally:
            await api.aclose()

    try:
        assert [asyncio.run(status()), asyncio.run(last())] == [200, 200]
    finally:
        server.shutdown()
        server.server_close()


@pytest.mark.parametrize(
    ("status", "outcome"),
    [
        (200, None),
        (201, None),
        (204, None),
        (408, RetryableError),
        (425, RetryableError),
        (429, RetryableError),
        (500, RetryableError),
        (503, RetryableError),
        (301, PermanentError),
        (400, PermanentError),
        (403, PermanentError),
        (404, PermanentError),
        (409, PermanentError),
        (422, PermanentError),
    ],
)
def test_each_status_settles_into_its_place_in_the_error_tree(
    status: int, outcome: type[Exception] | None
) -> None:
    from hub.connectors import PartnerResponse

    api = HttpApi(HttpApiConfig(base_url="https://partner.example/api"), "partner", None)
    if outcome is None:
        api.settle(PartnerResponse(status))
    else:
        with pytest.raises(outcome):
            api.settle(PartnerResponse(status))
    api.settle(PartnerResponse(status), accept=frozenset({status}))  # accepted: no error


def test_a_fake_answer_reads_as_the_network_one() -> None:
    from hub.connectors import PartnerResponse

    answer = PartnerResponse(200, json={"a": "ö"}, headers={"X-Id": "1"})
    assert answer.json() == {"a": "ö"}
    assert json.loads(answer.text) == {"a": "ö"}
    assert answer.headers["content-type"] == answer.headers["Content-Type"] == "application/json"
    assert answer.headers.get("x-id") == "1"


async def test_a_host_no_proxy_names_is_called_directly(
    partner: Partner, monkeypatch: pytest.MonkeyPatch
) -> None:
    """NO_PROXY still exempts a partner from the egress proxy (read once per session)."""
    for name in ("no_proxy", "http_proxy"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("HTTP_PROXY", "http://127.0.0.1:1")  # nothing answers there
    monkeypatch.setenv("NO_PROXY", "127.0.0.1")
    api = _api(partner)
    try:
        assert (await api.call("GET", "health")).status_code == 200
    finally:
        await api.aclose()
