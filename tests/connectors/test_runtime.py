"""The runtime parts the kit does not reach on its own: drop directories, polling, the
webhook's edges, the look-up budget and the identity vault."""

from __future__ import annotations

import asyncio
import json
import secrets
from collections.abc import AsyncIterator, Sequence
from pathlib import Path
from typing import Any, ClassVar

import httpx
import pytest
from sqlalchemy.exc import OperationalError

from hub.backoff import Backoff
from hub.connectors import InboundMessage, LookupConfig, LookupConnector, RetryableError
from hub.connectors.reclassering import IrisSignals
from hub.connectors.runtime.inbound import InboundRuntime
from hub.connectors.runtime.lookup import LookupRuntime
from hub.connectors.runtime.signing import signed_headers
from hub.connectors.runtime.sources import drain_directory, poll_once
from hub.connectors.runtime.webhook import webhook_router
from hub.connectors.testing.harness import Bus, Stores
from hub.core.polling import wait_for
from hub.identity.vault import IdentityVault
from hub.ops_api import Readiness, make_ops_app
from hub.schemas.case import KedoLookupResult
from hub.state import idempotency
from tests.connectors.test_reclassering_kit import BSN, signal
from tests.data import kedo_hit

SECRET = "runtime-test-secret"


@pytest.fixture
async def stores() -> AsyncIterator[Stores]:
    async with Stores() as opened:
        yield opened


def _runtime(stores: Stores, bus: Bus, connector: IrisSignals | None = None) -> InboundRuntime:
    return InboundRuntime(
        connector or IrisSignals.from_config({"webhook_secret": SECRET, "max_body_bytes": 4096}),
        sessions=stores.sessions,
        send=bus.send,
        pseudonymiser=stores.pseudonymiser,
        vault=stores.vault,
    )


async def test_a_drop_directory_is_drained_into_processed_and_rejected(
    stores: Stores, tmp_path: Path
) -> None:
    bus = Bus()
    (tmp_path / "a-good.json").write_bytes(signal())
    (tmp_path / "b-bad.json").write_bytes(signal(schemaVersie="7"))
    result = await drain_directory(_runtime(stores, bus), tmp_path)
    assert (result.processed, result.rejected) == (1, 1)
    assert (tmp_path / "processed" / "a-good.json").exists()
    assert (tmp_path / "rejected" / "b-bad.json").exists()
    problem = json.loads((tmp_path / "rejected" / "b-bad.json.problem.json").read_text())
    assert problem["field"] == "schemaVersie"
    assert problem["status"] == 422
    assert len(bus.records) == 1
    (tmp_path / "c-again.json").write_bytes(signal())
    again = await drain_directory(_runtime(stores, bus), tmp_path)
    assert again.processed == 1
    assert len(bus.records) == 1, "the same record dropped twice is published once"


class Polling(IrisSignals):
    batches: ClassVar[list[list[bytes]]] = []

    async def poll(self) -> Sequence[InboundMessage]:
        bodies = self.batches.pop(0) if self.batches else []
        return [InboundMessage(body=b, received_via="poll") for b in bodies]


async def test_polling_ingests_what_poll_returns_and_skips_the_malformed(stores: Stores) -> None:
    bus = Bus()
    Polling.batches = [[signal(), b"{broken", signal(signaalId="IRIS-2")]]
    connector = Polling.from_config({})
    assert await poll_once(_runtime(stores, bus, connector)) == 2
    assert len(bus.records) == 2


async def test_webhook_edges_answer_problem_json(stores: Stores) -> None:
    bus = Bus()
    runtime = _runtime(stores, bus)
    app = make_ops_app(_ready, "t", [webhook_router({runtime.connector.name: runtime})])
    url = f"/connectors/{runtime.connector.name}/messages"
    big = b" " * 5000
    async with httpx.AsyncClient(
        transport=httpx.ASGITransport(app=app), base_url="http://hub"
    ) as client:
        too_big = await client.post(url, content=big, headers=signed_headers(SECRET.encode(), big))
        unknown = await client.post("/connectors/nobody/messages", content=b"{}")
        bad = await client.post(url, content=b"{", headers=signed_headers(SECRET.encode(), b"{"))
    assert too_big.status_code == 413
    assert unknown.status_code == 404
    assert bad.status_code == 422
    assert bad.json()["field"] == "body"
    for response in (too_big, unknown, bad):
        assert response.headers["content-type"].startswith("application/problem+json")
    assert bus.records == []


async def test_a_busy_state_store_is_answered_503_with_retry_after_and_publishes_nothing(
    stores: Stores, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Under overload SQLite may stay locked past its busy timeout: the partner is told
    to send again (503, Retry-After), never 500, and nothing is published."""
    bus = Bus()
    runtime = _runtime(stores, bus)

    def locked(*_: object, **__: object) -> None:
        raise OperationalError("INSERT …", {}, Exception("database is locked"))

    monkeypatch.setattr(idempotency, "claim", locked)
    app = make_ops_app(_ready, "t", [webhook_router({runtime.connector.name: runtime})])
    body = signal()
    async with httpx.AsyncClient(
        transport=httpx.ASGITransport(app=app), base_url="http://hub"
    ) as client:
        answer = await client.post(
            f"/connectors/{runtime.connector.name}/messages",
            content=body,
            headers=signed_headers(SECRET.encode(), body),
        )
    assert answer.status_code == 503
    assert answer.headers["retry-after"] == "1"
    assert answer.headers["content-type"].startswith("application/problem+json")
    assert "send it again" in answer.json()["detail"]
    assert bus.records == []


async def _ready() -> Readiness:
    return Readiness({"t": True})


class Flaky(LookupConnector[LookupConfig]):
    name: ClassVar[str] = "flaky-lookup"
    version: ClassVar[str] = "1.0.0"
    partner: ClassVar[str] = "kedo"
    config_model: ClassVar[type[LookupConfig]] = LookupConfig
    failures: ClassVar[int] = 0
    asked: ClassVar[list[str]] = []

    async def lookup(self, bsn: str) -> KedoLookupResult:
        self.asked.append(bsn)
        if len(self.asked) <= self.failures:
            raise RetryableError("503")
        return kedo_hit()


async def _looked_up(stores: Stores, failures: int, budget_s: float) -> Any:
    Flaky.failures, Flaky.asked = failures, []
    subject = stores.pseudonymiser.pseudonym(BSN)
    async with stores.sessions.begin() as session:
        await stores.vault.remember(session, subject, BSN)
    runtime = LookupRuntime(
        Flaky.from_config({"budget_s": budget_s, "timeout_s": 0.5}),
        sessions=stores.sessions,
        vault=stores.vault,
        backoff=Backoff(initial_s=0.01, max_s=0.02),
    )
    return (await runtime.lookup_all([subject]))[subject]


async def test_lookup_retries_within_its_budget(stores: Stores) -> None:
    answer = await _looked_up(stores, failures=2, budget_s=5)
    assert isinstance(answer, KedoLookupResult)
    assert answer.found
    assert Flaky.asked == [BSN, BSN, BSN]


async def test_lookup_gives_up_with_a_retryable_error_when_the_budget_runs_out(
    stores: Stores,
) -> None:
    answer = await _looked_up(stores, failures=10_000, budget_s=0.2)
    assert isinstance(answer, RetryableError)
    assert "did not answer within" in str(answer)


async def test_a_batch_of_lookups_answers_each_subject_and_asks_only_for_known_ones(
    stores: Stores,
) -> None:
    Flaky.failures, Flaky.asked = 0, []
    known, unknown = (stores.pseudonymiser.pseudonym(b) for b in (BSN, "111222333"))
    async with stores.sessions.begin() as session:
        await stores.vault.remember(session, known, BSN)
    runtime = LookupRuntime(Flaky.from_config({}), sessions=stores.sessions, vault=stores.vault)
    answers = await runtime.lookup_all([known, unknown])
    assert set(answers) == {known, unknown}
    hit, miss = answers[known], answers[unknown]
    assert isinstance(hit, KedoLookupResult)
    assert hit.found
    assert isinstance(miss, KedoLookupResult)
    assert not miss.found
    assert Flaky.asked == [BSN]
    assert await runtime.lookup_all([]) == {}


def test_the_vault_opens_only_for_its_subject_and_survives_key_rotation() -> None:
    old, new = secrets.token_bytes(32), secrets.token_bytes(32)
    sealed = IdentityVault([old]).seal("psn-a", BSN)
    assert IdentityVault([old]).open("psn-a", sealed) == BSN
    assert IdentityVault([old]).open("psn-b", sealed) is None
    assert IdentityVault([new, old]).open("psn-a", sealed) == BSN
    assert IdentityVault([new]).open("psn-a", sealed) is None
    assert BSN.encode() not in sealed


def test_backoff_stays_within_its_cap() -> None:
    backoff = Backoff(initial_s=0.5, max_s=4.0)
    pauses = [backoff.pause(n) for n in range(1, 12) for _ in range(20)]
    assert all(0 <= p <= 4.0 for p in pauses)
    assert max(backoff.pause(1) for _ in range(200)) <= 0.5


async def test_sources_loop_is_cancellable(stores: Stores, tmp_path: Path) -> None:
    from hub.connectors.runtime.sources import run_sources

    connector = IrisSignals.from_config({"drop_directory": str(tmp_path), "poll_interval_s": 0.05})
    (tmp_path / "one.json").write_bytes(signal())
    bus = Bus()
    task = asyncio.create_task(run_sources(_runtime(stores, bus, connector)))
    try:
        await wait_for((tmp_path / "processed" / "one.json").exists, 5)
    finally:
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task
    assert len(bus.records) == 1
