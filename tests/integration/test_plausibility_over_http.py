"""A fact dated ahead, through a running hub's signed webhook: 422 problem+json naming
the partner's field, and nothing accepted, published or routed (issue 22, item 9)."""

from __future__ import annotations

import asyncio
import datetime as dt
import secrets
from collections.abc import AsyncIterator
from pathlib import Path
from zoneinfo import ZoneInfo

import httpx
import pytest

from hub.app import HubProcess
from hub.connectors.runtime.signing import signed_headers
from hub.identity.pseudonym import Pseudonymiser
from hub.settings import DatabaseSettings, HttpSettings, HubSettings, KafkaSettings
from hub.state import accepted, audit
from hub.state.database import migrate, sessionmaker
from tests.connectors.test_injus_kit import BSN, gebeurtenis
from tests.connectors.test_label_partner_kits import crisis_contact

pytestmark = pytest.mark.integration
SECRET = "plausibility-secret"


@pytest.fixture
async def hub(kafka_settings: KafkaSettings, tmp_path: Path) -> AsyncIterator[HubProcess]:
    settings = HubSettings(
        data_dir=tmp_path,
        kafka=kafka_settings,
        database=DatabaseSettings(url=f"sqlite+aiosqlite:///{tmp_path}/hub.db"),
        http=HttpSettings(port=0),
        connectors={
            "injus-detentie": {"webhook_secret": SECRET},
            "crisis-contacten": {"webhook_secret": SECRET},
        },
    )
    keys = Pseudonymiser(active_key_id="p1", keys={"p1": secrets.token_bytes(32)})
    process = HubProcess(settings, keys)
    await migrate(process.engine)
    await process.start()
    try:
        yield process
    finally:
        await process.stop()


async def _taken(process: HubProcess) -> tuple[int, int]:
    """Events accepted by the hub, and audit records about the Injus test person."""
    async with sessionmaker(process.engine)() as session:
        query = audit.AuditQuery(subjects=[process.pseudonymiser.pseudonym(BSN)])
        return await accepted.count(session), len([r async for r in audit.search(session, query)])


async def test_a_start_dated_next_week_is_refused_with_422_naming_datum(hub: HubProcess) -> None:
    today = dt.datetime.now(ZoneInfo("Europe/Amsterdam")).date()
    next_week = gebeurtenis(event_id="INJUS-AHEAD", datum=(today + dt.timedelta(7)).isoformat())
    an_hour_ahead = (dt.datetime.now(dt.UTC) + dt.timedelta(hours=1)).isoformat()
    contact = crisis_contact(contactId="GGZ-AHEAD", tijdstip=an_hour_ahead)
    key = SECRET.encode()
    async with httpx.AsyncClient(base_url=hub.http_url) as client:
        start = await client.post(
            "/connectors/injus-detentie/messages",
            content=next_week,
            headers=signed_headers(key, next_week),
        )
        signal = await client.post(
            "/connectors/crisis-contacten/messages",
            content=contact,
            headers=signed_headers(key, contact),
        )
        assert start.status_code == 422
        assert start.headers["content-type"].startswith("application/problem+json")
        problem = start.json()
        assert problem["type"].endswith("/contract-violation")
        assert problem["field"] == "datum"
        assert "start_date lies in the future" in problem["detail"]
        assert signal.status_code == 422
        assert signal.json()["field"] == "tijdstip"
        await asyncio.sleep(1.0)
        assert await _taken(hub) == (0, 0), "a refused message was taken or routed"

        dated_today = gebeurtenis(event_id="INJUS-TODAY", datum=today.isoformat())
        control = await client.post(
            "/connectors/injus-detentie/messages",
            content=dated_today,
            headers=signed_headers(key, dated_today),
        )
    assert control.status_code == 202
    assert control.json()["accepted"] == 1
    async with asyncio.timeout(30):
        while (await _taken(hub))[1] == 0:  # noqa: ASYNC110 - the router writes the audit
            await asyncio.sleep(0.05)
