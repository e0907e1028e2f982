"""The webhook edge over real HTTP, on the hub's own server configuration
(``hub.app.server_config``, uvicorn): stalled connections and unsigned floods from other
addresses cost a signing partner nothing, a body that stalls is cut off, and forwarded
headers count only from a trusted proxy.

Attackers come from 127.0.0.2 to 127.0.0.5 (Linux loopback answers all of 127/8), the
partner from 127.0.0.1, so the per-source limits act as they would on a network."""

from __future__ import annotations

import asyncio
import base64
import contextlib
import json
import secrets
import time
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass

import httpx
import pytest
import uvicorn

from hub.app import server_config
from hub.connectors.reclassering import IrisSignals
from hub.connectors.runtime.inbound import InboundRuntime
from hub.connectors.runtime.signing import signed_headers
from hub.connectors.runtime.webhook import webhook_router
from hub.connectors.testing.harness import Bus, Stores
from hub.core.polling import wait_for
from hub.ops_api import Readiness, make_ops_app
from hub.settings import HttpSettings
from tests.connectors.test_reclassering_kit import signal

SECRET = "edge-test-secret"
PATH = "/connectors/reclassering-iris-signals/messages"
ATTACKERS = ("127.0.0.2", "127.0.0.3")
FLOODERS = ("127.0.0.4", "127.0.0.5")


@dataclass
class Edge:
    host: str
    port: int
    bus: Bus

    @property
    def url(self) -> str:
        return f"http://{self.host}:{self.port}"


async def _ready() -> Readiness:
    return Readiness({"t": True})


@contextlib.asynccontextmanager
async def _hub(http: HttpSettings, shared: Stores | None = None) -> AsyncIterator[Edge]:
    """The webhook of one connector with its default limits, served as the hub serves;
    ``shared``: the state store of an edge before it (a restart, another process)."""
    async with contextlib.AsyncExitStack() as stack:
        stores = shared if shared is not None else await stack.enter_async_context(Stores())
        bus = Bus()
        runtime = InboundRuntime(
            IrisSignals.from_config({"webhook_secret": SECRET}),
            sessions=stores.sessions,
            send=bus.send,
            pseudonymiser=stores.pseudonymiser,
            vault=stores.vault,
        )
        app = make_ops_app(_ready, "t", [webhook_router({runtime.connector.name: runtime}, http)])
        server = uvicorn.Server(server_config(http, app))
        task = asyncio.create_task(server.serve())
        try:
            await wait_for(lambda: server.started, 10)
            port = server.servers[0].sockets[0].getsockname()[1]
            yield Edge(http.host, port, bus)
        finally:
            server.should_exit = True
            await task


def _forged_head(length: int) -> bytes:
    """Request headers that pass every check made before the body (well-formed
    signature, fresh timestamp) but are signed with nothing."""
    forged = base64.b64encode(secrets.token_bytes(32)).decode()
    return (
        f"POST {PATH} HTTP/1.1\r\nHost: hub\r\nConnection: close\r\n"
        "Content-Type: application/json\r\n"
        f"Content-Length: {length}\r\nwebhook-id: msg_{secrets.token_hex(8)}\r\n"
        f"webhook-timestamp: {int(time.time())}\r\nwebhook-signature: v1,{forged}\r\n\r\n"
    ).encode()


async def _stall(edge: Edge, source: str, *, mid_body: bool) -> asyncio.StreamWriter:
    """A raw connection from ``source`` that sends part of a request and stops: in its
    headers, or (``mid_body``) after complete headers and 10 bytes of a 1,000-byte body."""
    _, writer = await asyncio.open_connection(edge.host, edge.port, local_addr=(source, 0))
    if mid_body:
        writer.write(_forged_head(1000) + b'{"schemaV')
    else:
        writer.write(f"POST {PATH} HTTP/1.1\r\nHost: hub\r\nContent-".encode())
    await writer.drain()
    return writer


@contextlib.contextmanager
def _closing(writers: list[asyncio.StreamWriter]) -> Iterator[None]:
    try:
        yield
    finally:
        for writer in writers:
            writer.close()


async def _read_to_end(writer: asyncio.StreamWriter, reader: asyncio.StreamReader) -> bytes:
    async with asyncio.timeout(5):
        answer = await reader.read()  # up to EOF: the server closes the connection
    writer.close()
    return answer


async def _answer_to(edge: Edge, source: str, request: bytes) -> int:
    """The status the hub answers a raw ``request`` from ``source`` with."""
    reader, writer = await asyncio.open_connection(edge.host, edge.port, local_addr=(source, 0))
    writer.write(request)
    return int((await _read_to_end(writer, reader))[9:12])


async def _signed_start(edge: Edge) -> tuple[httpx.Response, float]:
    """The partner's signed request, and the seconds its answer took."""
    async with httpx.AsyncClient(base_url=edge.url, timeout=5) as partner:
        body = signal()
        started = time.monotonic()
        answer = await partner.post(PATH, content=body, headers=signed_headers(SECRET, body))
        return answer, time.monotonic() - started


def _client(edge: Edge, source: str) -> httpx.AsyncClient:
    transport = httpx.AsyncHTTPTransport(
        local_address=source, limits=httpx.Limits(max_connections=25)
    )
    return httpx.AsyncClient(base_url=edge.url, transport=transport, timeout=30)


async def test_stalled_connections_and_unsigned_floods_leave_a_partner_its_202() -> None:
    """100 stalled connections (half in their headers, half in a body under forged
    headers) from two addresses, and 500 unsigned or forged requests from two others, at
    most 12 at a time: a signed request sent halfway through the flood still gets its 202
    within a second, with the shipped defaults. Before, the 50 stalled bodies held the
    partner's 32 places, and without them the refused requests spent its burst of 100:
    either way the partner got 429."""
    async with _hub(HttpSettings(port=0)) as edge:
        stalled = [await _stall(edge, ATTACKERS[n % 2], mid_body=n % 4 >= 2) for n in range(100)]
        with _closing(stalled):
            unsigned = (
                f"POST {PATH} HTTP/1.1\r\nHost: hub\r\nConnection: close\r\n"
                "Content-Length: 2\r\n\r\n{}"
            )
            forged = _forged_head(2) + b"{}"
            lanes = asyncio.Semaphore(12)
            flood_answers: list[int] = []

            async def attack(n: int) -> None:
                async with lanes:
                    request = forged if n % 2 else unsigned.encode()
                    flood_answers.append(await _answer_to(edge, FLOODERS[n % 2], request))

            flood = asyncio.gather(*(attack(n) for n in range(500)))
            await wait_for(lambda: len(flood_answers) >= 250, 30)
            answer, took = await _signed_start(edge)
            await flood
    assert len(flood_answers) == 500
    assert set(flood_answers) <= {401, 429}, "refused, never taken"
    assert flood_answers.count(401) >= 400, "most reached the signature check"
    assert answer.status_code == 202, answer.text
    assert answer.json()["accepted"] == 1
    assert took < 1.0, f"the signed request took {took:.2f} s"
    assert len(edge.bus.records) == 1, "only the signed request published"


async def test_stalled_bodies_from_many_addresses_cannot_fill_the_places_before_a_partner() -> None:
    """The outside look: 17 addresses x 16 stalled bodies filled all 256 places for
    unauthenticated requests, and every signed request got 429. Now the longest waiting
    is cut off to make room: 20 addresses hold 16 stalled bodies each (320), and a signed
    request still gets its 202 within a second, with the shipped defaults."""
    defaults = HttpSettings()
    crowd = 20
    assert crowd * defaults.webhook_source_max_in_flight > defaults.webhook_max_unauthenticated
    async with _hub(HttpSettings(port=0)) as edge:
        stalled: list[asyncio.StreamWriter] = []
        with _closing(stalled):
            for n in range(crowd * defaults.webhook_source_max_in_flight):
                stalled.append(await _stall(edge, f"127.0.1.{n % crowd + 1}", mid_body=True))
            answer, took = await _signed_start(edge)
    assert answer.status_code == 202, answer.text
    assert took < 1.0, f"the signed request took {took:.2f} s"
    assert len(edge.bus.records) == 1


async def _replayed_then_fresh(
    edge: Edge, captured: bytes, headers: dict[str, str]
) -> tuple[set[int], int]:
    """400 replays of the signed request ``captured`` with ``headers`` from four
    addresses, 100 each (inside every address's own allowance), 24 at once; then a fresh
    signed request of the partner. Returns the replays' status codes and the fresh
    request's."""
    async with contextlib.AsyncExitStack() as stack:
        thieves = [
            await stack.enter_async_context(_client(edge, f"127.0.0.{n}")) for n in range(6, 10)
        ]
        partner = await stack.enter_async_context(_client(edge, "127.0.0.1"))
        lanes = asyncio.Semaphore(24)

        async def replay(n: int) -> int:
            async with lanes:
                sent = await thieves[n % 4].post(PATH, content=captured, headers=headers)
                return sent.status_code

        answers = await asyncio.gather(*(replay(n) for n in range(400)))
        fresh = signal(signaalId="IRIS-2026-000124")
        answer = await partner.post(PATH, content=fresh, headers=signed_headers(SECRET, fresh))
    return set(answers), answer.status_code


async def _accepted_once(edge: Edge, captured: bytes, headers: dict[str, str]) -> None:
    async with _client(edge, "127.0.0.1") as partner:
        sent = await partner.post(PATH, content=captured, headers=headers)
    assert sent.status_code == 202, sent.text


async def test_replays_of_a_captured_request_do_not_spend_the_partners_allowance() -> None:
    """The outside look: replays of one captured signed request were refused 409, but
    only after taking the partner's rate token, so a few hundred of them (its burst is
    100, its rate 50 a second) left the partner with 429. Now a webhook-id accepted
    before is refused first."""
    captured = signal()
    headers = signed_headers(SECRET, captured)
    async with _hub(HttpSettings(port=0)) as edge:
        await _accepted_once(edge, captured, headers)
        assert await _replayed_then_fresh(edge, captured, headers) == ({409}, 202)
    assert len(edge.bus.records) == 2


async def test_replays_a_restarted_edge_never_saw_are_refused_by_the_claim_and_cost_nothing() -> (
    None
):
    """An edge keeps the webhook-ids it accepted in memory; one started since (a
    restart, another process) does not know them. Its replays are refused 409 by the
    claim in the accepting transaction, and each gives the partner's token back: 400 of
    them still leave the partner its allowance."""
    captured = signal()
    headers = signed_headers(SECRET, captured)
    async with Stores() as stores:
        async with _hub(HttpSettings(port=0), stores) as first:
            await _accepted_once(first, captured, headers)
        async with _hub(HttpSettings(port=0), stores) as edge:
            assert await _replayed_then_fresh(edge, captured, headers) == ({409}, 202)
    assert len(edge.bus.records) == 1


async def test_a_body_that_stalls_is_cut_off_with_408_and_frees_its_place() -> None:
    """An address holds at most ``webhook_source_max_in_flight`` unauthenticated
    requests; one whose body stalls is answered 408 after ``body_timeout_s`` and its
    connection closed, and the address may send again."""
    defaults = HttpSettings()
    assert (defaults.body_timeout_s, defaults.webhook_source_max_in_flight) == (10.0, 16)
    # 0.5 s instead of the default 10 s, so the test need not wait for the cut-off.
    async with _hub(HttpSettings(port=0, body_timeout_s=0.5)) as edge:
        held = []
        for _ in range(defaults.webhook_source_max_in_flight):
            reader, writer = await asyncio.open_connection(
                edge.host, edge.port, local_addr=(ATTACKERS[0], 0)
            )
            writer.write(_forged_head(1000) + b"{")
            held.append((writer, reader))
        await asyncio.gather(*(w.drain() for w, _ in held))
        await asyncio.sleep(0.2)
        async with _client(edge, ATTACKERS[0]) as same, _client(edge, ATTACKERS[1]) as other:
            crowded = await same.post(PATH, content=b"{}")
            elsewhere = await other.post(PATH, content=b"{}")
            answers = await asyncio.gather(*(_read_to_end(w, r) for w, r in held))
            freed = await same.post(PATH, content=b"{}")
    assert crowded.status_code == 429
    assert "from this address" in crowded.json()["detail"]
    assert elsewhere.status_code == 401
    for raw in answers:
        assert raw.startswith(b"HTTP/1.1 408 "), raw[:80]
        assert b"application/problem+json" in raw
    assert freed.status_code == 401
    assert edge.bus.records == []


async def test_headers_that_drip_in_are_cut_off_at_the_header_deadline() -> None:
    """A client sending a header byte every 0.1 s (each byte would cancel uvicorn's own
    keep-alive timer) loses its connection at the deadline; so does a kept-alive
    connection that never starts its next request. The deadline is tuned to 0.5 s so the
    test takes a second, not the default's 10 s (asserted too)."""
    assert HttpSettings().header_timeout_s == 10.0
    async with _hub(HttpSettings(port=0, header_timeout_s=0.5)) as edge:
        reader, writer = await asyncio.open_connection(edge.host, edge.port)
        started = time.monotonic()
        with contextlib.suppress(ConnectionError):
            for byte in f"POST {PATH} HTTP/1.1\r\nHost: hub\r\nX-Slow: ".encode() + b"a" * 100:
                writer.write(bytes([byte]))
                await writer.drain()
                await asyncio.sleep(0.1)
                if reader.at_eof():
                    break
        assert await _read_to_end(writer, reader) == b""
        assert time.monotonic() - started < 3

        reader, writer = await asyncio.open_connection(edge.host, edge.port)
        writer.write(b"GET /healthz HTTP/1.1\r\nHost: hub\r\n\r\n")
        head = await reader.readuntil(b"\r\n\r\n")
        assert head.startswith(b"HTTP/1.1 200 ")
        writer.write(b"GET /healthz HTTP/1.1\r\nHo")  # the next request stalls
        await writer.drain()
        rest = await _read_to_end(writer, reader)
    assert b"HTTP/1.1 " not in rest  # closed, no second answer


async def test_one_source_holds_a_bounded_number_of_connections_a_trusted_proxy_more() -> None:
    """The outside look: 2 addresses x 10,000 idle connections used up the process's
    file descriptors and the database failed. One source now holds at most
    ``max_connections_per_source`` (256 by default, asserted; 20 here, so the test opens
    dozens of sockets, not hundreds); more are closed at once, a partner from another
    address is served, and a trusted proxy (whose clients are many) is not capped."""
    assert HttpSettings().max_connections_per_source == 256
    http = HttpSettings(port=0, max_connections_per_source=20, trusted_proxies=("127.0.0.8",))
    async with _hub(http) as edge:
        opened: list[tuple[str, asyncio.StreamReader, asyncio.StreamWriter]] = []
        try:
            for source in ("127.0.0.7", "127.0.0.8"):
                for _ in range(30):
                    reader, writer = await asyncio.open_connection(
                        edge.host, edge.port, local_addr=(source, 0)
                    )
                    opened.append((source, reader, writer))

            async def shut(reader: asyncio.StreamReader) -> bool:
                """Closed by the hub at once (within the header deadline of 10 s)."""
                try:
                    return await asyncio.wait_for(reader.read(), 0.5) == b""
                except TimeoutError:
                    return False

            shut_now = await asyncio.gather(*(shut(reader) for _, reader, _ in opened))
            closed = {"127.0.0.7": 0, "127.0.0.8": 0}
            for (source, _, _), shut_at_once in zip(opened, shut_now, strict=True):
                closed[source] += shut_at_once
            async with _client(edge, "127.0.0.1") as partner:
                body = signal()
                answer = await partner.post(
                    PATH, content=body, headers=signed_headers(SECRET, body)
                )
        finally:
            for _, _, writer in opened:
                writer.close()
    assert closed == {"127.0.0.7": 10, "127.0.0.8": 0}
    assert answer.status_code == 202, answer.text


async def test_headers_larger_than_the_limit_are_refused_and_the_connection_closed() -> None:
    """Headers still coming in are cut by the server (h11: 400, as problem+json) past
    the limit; headers
    that came whole in one write got through up to h11's own limit (the outside look:
    40, 65 and 70 KB were taken) and are now answered 431 problem+json."""
    limit = HttpSettings().max_header_bytes
    async with _hub(HttpSettings(port=0)) as edge:
        reader, writer = await asyncio.open_connection(edge.host, edge.port)
        writer.write(f"POST {PATH} HTTP/1.1\r\nHost: hub\r\nX-Pad: ".encode())
        writer.write(b"a" * (limit + 1))
        await writer.drain()
        raw = await _read_to_end(writer, reader)
        assert raw.startswith(b"HTTP/1.1 400 ")
        head, _, body = raw.partition(b"\r\n\r\n")
        assert b"content-type: application/problem+json" in head.lower(), head
        assert json.loads(body)["type"] == "https://ketenhub.nl/problems/not-http"
        for size in (limit + 100, 40_000, 70_000):
            reader, writer = await asyncio.open_connection(edge.host, edge.port)
            writer.write(
                f"GET /healthz HTTP/1.1\r\nHost: hub\r\nX-Pad: {'a' * size}\r\n\r\n".encode()
            )
            raw = await _read_to_end(writer, reader)
            assert raw.startswith(b"HTTP/1.1 431 "), (size, raw[:60])
            assert b"application/problem+json" in raw
        reader, writer = await asyncio.open_connection(edge.host, edge.port)
        writer.write(f"GET /healthz HTTP/1.1\r\nHost: hub\r\nX-Pad: {'a' * 1000}\r\n".encode())
        writer.write(b"Connection: close\r\n\r\n")
        raw = await _read_to_end(writer, reader)
    assert raw.startswith(b"HTTP/1.1 200 ")


@pytest.mark.parametrize(
    ("proxies", "believed"), [((), False), (("10.0.0.5", "192.168.0.0/16"), True)]
)
def test_forwarded_headers_count_only_from_a_trusted_proxy(
    proxies: tuple[str, ...], believed: bool, monkeypatch: pytest.MonkeyPatch
) -> None:
    """uvicorn believes X-Forwarded-For from loopback unless told otherwise, which would
    let a local client choose the address it is limited by."""
    monkeypatch.delenv("FORWARDED_ALLOW_IPS", raising=False)
    config = server_config(HttpSettings(trusted_proxies=proxies), make_ops_app(_ready, "t"))
    assert config.proxy_headers is believed
    assert config.forwarded_allow_ips == list(proxies)


def test_a_trusted_proxy_must_be_an_address_or_a_range() -> None:
    with pytest.raises(ValueError, match="not an IP address"):
        HttpSettings(trusted_proxies=("proxy.example",))
