"""CPU per partner call of each HTTP client the hub could use (issue 24), from one run.

Each client makes the same POSTs of about 2 KB of JSON, with the headers a delivery
carries, to a loopback server in a process of its own, so that the CPU counted here
(``time.process_time()`` of this process) is the client's alone. Keep-alive is on and
the concurrency is the same for every client; the clients take turns, round after
round, and the median round counts. Not part of ``make test``: it is a measurement.

    python scripts/http_client_cost.py --calls 3000 --concurrency 8 --rounds 3
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import socket
import statistics
import subprocess
import sys
import time
import uuid
from collections.abc import Awaitable, Callable, Iterator
from dataclasses import dataclass
from typing import Any

import aiohttp
import httpx
from aiohttp import web

from hub.connectors.http import HttpApi, HttpApiConfig

Call = Callable[[int], Awaitable[None]]

HEADERS = {"Accept": "application/json", "Authorization": "Bearer bench-api-key"}


def _payload() -> dict[str, Any]:
    """A notification's shape, about 2 KB once encoded."""
    return {
        "meldingId": str(uuid.uuid4()),
        "ontvanger": "gemeente:0363",
        "client": {"pseudoniem": "psn-k1-" + "a" * 40},
        "stroom": "A",
        "over": "nl.ketenhub.detention.started.v1",
        "correctie": False,
        "inhoud": {f"veld{i:02d}": "x" * 40 for i in range(30)},
        "weggelaten": ["medical", "contact"],
        "grondslagen": ["wet-ketenhub-art-4", "avg-art-6-1-e"],
        "correlatieId": str(uuid.uuid4()),
    }


PAYLOAD = _payload()


def serve() -> None:
    """The partner: answers every POST with a small JSON body; prints its port."""

    async def answer(request: web.Request) -> web.Response:
        await request.read()
        return web.json_response({"status": 200})

    async def main() -> None:
        app = web.Application()
        app.router.add_post("/api/meldingen", answer)
        runner = web.AppRunner(app, access_log=None)
        await runner.setup()
        listening = socket.socket()
        listening.bind(("127.0.0.1", 0))
        await web.SockSite(runner, listening).start()
        print(listening.getsockname()[1], flush=True)
        await asyncio.Event().wait()

    asyncio.run(main())


@contextlib.contextmanager
def partner() -> Iterator[str]:
    process = subprocess.Popen(  # noqa: S603 (this interpreter, this file)
        [sys.executable, __file__, "--serve"], stdout=subprocess.PIPE, text=True
    )
    try:
        assert process.stdout is not None
        port = int(process.stdout.readline())
        yield f"http://127.0.0.1:{port}/api/"
    finally:
        process.terminate()
        process.wait()


@contextlib.asynccontextmanager
async def with_httpx(base: str) -> Any:
    async with httpx.AsyncClient(base_url=base, headers=HEADERS, timeout=5) as client:

        async def call(i: int) -> None:
            response = await client.post(
                "meldingen", json=PAYLOAD, headers={"Idempotency-Key": f"d-{i}"}
            )
            assert response.status_code == 200

        yield call


@contextlib.asynccontextmanager
async def with_aiohttp(base: str) -> Any:
    timeout = aiohttp.ClientTimeout(total=5)
    async with aiohttp.ClientSession(headers=HEADERS, timeout=timeout) as session:
        url = base + "meldingen"

        async def call(i: int) -> None:
            async with session.post(
                url, json=PAYLOAD, headers={"Idempotency-Key": f"d-{i}"}, allow_redirects=False
            ) as response:
                await response.read()
                assert response.status == 200

        yield call


@contextlib.asynccontextmanager
async def with_hub(base: str) -> Any:
    """The hub's own partner API (``HttpApi``): the client plus what every call adds
    (URL, headers, trace context, the error mapping)."""
    api = HttpApi(HttpApiConfig(base_url=base, api_key="bench-api-key"), "bench", None)
    try:

        async def call(i: int) -> None:
            response = await api.call(
                "POST", "meldingen", json=PAYLOAD, headers={"Idempotency-Key": f"d-{i}"}
            )
            api.settle(response)

        yield call
    finally:
        await api.aclose()


CLIENTS = {"httpx": with_httpx, "aiohttp": with_aiohttp, "hub HttpApi": with_hub}


@dataclass
class Round:
    cpu_ms_per_call: float
    calls_per_s: float


async def _measure(base: str, client: str, calls: int, concurrency: int) -> Round:
    async with CLIENTS[client](base) as call:

        async def worker(start: int, count: int) -> None:
            for i in range(start, start + count):
                await call(i)

        async def burst(count: int) -> None:
            share = count // concurrency
            await asyncio.gather(*(worker(w * share, share) for w in range(concurrency)))

        await burst(concurrency * 25)  # connections open, caches warm
        cpu, wall = time.process_time(), time.perf_counter()
        await burst(calls)
        cpu, wall = time.process_time() - cpu, time.perf_counter() - wall
    done = calls // concurrency * concurrency
    return Round(cpu * 1000 / done, done / wall)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--calls", type=int, default=3000)
    parser.add_argument("--concurrency", type=int, default=8)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--loop", choices=("asyncio", "uvloop"), default="asyncio")
    parser.add_argument("--json", action="store_true", help="print the figures as JSON")
    parser.add_argument("--serve", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.serve:
        serve()
        return
    if args.loop == "uvloop":
        import uvloop

        uvloop.install()
    results: dict[str, list[Round]] = {name: [] for name in CLIENTS}
    with partner() as base:
        for _ in range(args.rounds):
            for name in CLIENTS:
                results[name].append(
                    asyncio.run(_measure(base, name, args.calls, args.concurrency))
                )
    cpu = {n: statistics.median(r.cpu_ms_per_call for r in rs) for n, rs in results.items()}
    rate = {n: statistics.median(r.calls_per_s for r in rs) for n, rs in results.items()}
    if args.json:
        print(json.dumps({"cpu_ms_per_call": cpu, "calls_per_s": rate, **vars(args)}))
        return
    print(
        f"{args.calls} POSTs of {len(json.dumps(PAYLOAD))} B JSON, {args.concurrency} at once, "
        f"keep-alive, {args.loop} loop; median of {args.rounds} rounds"
    )
    for name in CLIENTS:
        print(f"  {name:12} {cpu[name]:.3f} ms CPU per call  {rate[name]:7.0f} calls/s")
    print(f"  httpx / aiohttp CPU per call: {cpu['httpx'] / cpu['aiohttp']:.1f}x")


if __name__ == "__main__":
    main()
