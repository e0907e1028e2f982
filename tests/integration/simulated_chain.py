"""A hub on the session's embedded broker with every partner simulator on loopback, for
the flow tests: each flow starts with a partner's own message and ends in what the
simulators received."""

from __future__ import annotations

import base64
import datetime as dt
import json
import secrets
from collections.abc import AsyncIterator, Mapping
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import httpx

from hub.app import HubProcess
from hub.bus.embedded import free_port
from hub.clock import SYSTEM_CLOCK, Clock
from hub.connectors.testing.harness import wait_until
from hub.core.calendar import local_day
from hub.identity.pseudonym import Pseudonymiser
from hub.settings import (
    DatabaseSettings,
    HttpSettings,
    HubSettings,
    KafkaSettings,
    OpsSettings,
    RoutingSettings,
)
from hub.simulators.runner import SimulatorSet
from hub.state import audit, labels
from hub.state.database import migrate, sessionmaker
from hub.state.labels import LabelView


def today() -> str:
    """The hub's day (Europe/Amsterdam) as a ZVH writes a date: an exclusion of today
    takes effect at once, one dated later on its day."""
    return local_day(dt.datetime.now(dt.UTC)).isoformat()


class Chain:
    def __init__(self, hub: HubProcess, sims: SimulatorSet, client: httpx.AsyncClient):
        self.hub, self.sims, self.client = hub, sims, client

    def subject(self, bsn: str) -> str:
        return self.hub.pseudonymiser.pseudonym(bsn)

    async def received(self, partner: str, *needles: str) -> list[dict[str, Any]]:
        """What ``partner`` received that mentions any of ``needles`` (this test's client,
        by BSN or pseudonym). The session's broker is shared: deliveries that earlier
        tests left for partners without a connector reach this test's simulators too,
        as they would reach a connector switched on late."""
        answer = await self.client.get(f"{self.sims.urls[partner]}/_sim/received")
        return [
            r
            for r in answer.json()["received"]
            if any(n in json.dumps(r["body"], ensure_ascii=False) for n in needles)
        ]

    async def holds(self, partner: str) -> dict[str, Any]:
        """What ``partner`` holds now: subscriptions, Flags."""
        answer = await self.client.get(f"{self.sims.urls[partner]}/_sim/state")
        resources: dict[str, Any] = answer.json()["resources"]
        return resources

    async def duplicates(self, partner: str) -> int:
        answer = await self.client.get(f"{self.sims.urls[partner]}/_sim/received")
        count: int = answer.json()["duplicates"]
        return count

    async def send(self, partner: str, message: Mapping[str, Any]) -> dict[str, Any]:
        """``partner``'s simulator signs ``message`` and posts it to the hub."""
        answer = await self.client.post(f"{self.sims.urls[partner]}/_sim/send", json=message)
        result: dict[str, Any] = answer.json()
        assert result["status"] == 202, result
        return result

    async def faults(self, partner: str, **switches: Any) -> None:
        answer = await self.client.post(f"{self.sims.urls[partner]}/_sim/faults", json=switches)
        answer.raise_for_status()

    async def until(self, partner: str, count: int, *needles: str) -> list[dict[str, Any]]:
        found: list[dict[str, Any]] = []

        async def enough() -> bool:
            found[:] = await self.received(partner, *needles)
            return len(found) >= count

        await wait_until(enough)
        return found

    async def labels(self, bsn: str) -> dict[str, LabelView]:
        async with sessionmaker(self.hub.engine)() as session:
            views = await labels.status(session, [self.subject(bsn)])
        return {v.partner: v for v in views}

    async def labels_until(self, bsn: str, expected: Mapping[str, str]) -> dict[str, LabelView]:
        """Wait until the label stands as ``expected`` (partner → state) at each partner."""
        found: dict[str, LabelView] = {}

        async def there() -> bool:
            found.update(await self.labels(bsn))
            return all(p in found and found[p].state == s for p, s in expected.items())

        await wait_until(there)
        return found

    async def recorded(self, bsn: str, count: int) -> list[str]:
        """Wait until the router recorded ``count`` state changes for the client."""
        found: list[str] = []

        async def enough() -> bool:
            async with sessionmaker(self.hub.engine)() as session:
                query = audit.AuditQuery(subjects=[self.subject(bsn)], outcome="RECORDED")
                found[:] = [r["object"] async for r in audit.search(session, query)]
            return len(found) >= count

        await wait_until(enough)
        return found

    async def disclosed(self, bsn: str, recipient_kind: str) -> list[str]:
        """The delivery ids the router decided for the client's partner of this kind, in
        the order it decided them."""
        async with sessionmaker(self.hub.engine)() as session:
            query = audit.AuditQuery(subjects=[self.subject(bsn)])
            return [
                r["delivery_id"]
                async for r in audit.search(session, query)
                if r["action"] == "disclose" and str(r["recipient"]).startswith(recipient_kind)
            ]

    async def report(self, bsn: str) -> dict[str, Any]:
        async with sessionmaker(self.hub.engine)() as session:
            return await audit.disclosure_report(session, [self.subject(bsn)])


def llc_content(communication: Mapping[str, Any]) -> dict[str, Any]:
    """The permitted fields the LLC's FHIR Communication carries as its attachment."""
    data = communication["body"]["payload"][1]["contentAttachment"]["data"]
    content: dict[str, Any] = json.loads(base64.b64decode(data))
    return content


def crisis_contact(bsn: str, contact_id: str, at: dt.datetime | None = None) -> dict[str, Any]:
    """The crisis service's contact message: an assessment (medical) and an outcome, at
    ``at`` (now by default; a test on its own clock passes that clock's now, as the hub
    refuses a contact dated ahead of its clock)."""
    return {
        "schemaVersie": "1",
        "contactId": contact_id,
        "regio": "amsterdam",
        "bsn": bsn,
        "tijdstip": (at or dt.datetime.now(dt.UTC)).isoformat(),
        "politieAanwezig": False,
        "beoordeling": "Decompensatie; medicatie gestaakt.",
        "uitkomst": "Vrijwillige opname",
        "crisisteam": {"naam": "Crisisteam Amsterdam", "telefoon": "020-5555555"},
    }


@asynccontextmanager
async def simulated_chain(
    kafka_settings: KafkaSettings,
    tmp_path: Path,
    connectors: Mapping[str, Mapping[str, Any]] | None = None,
    routing: RoutingSettings | None = None,
    ops: OpsSettings | None = None,
    database_url: str | None = None,
    clock: Clock = SYSTEM_CLOCK,
) -> AsyncIterator[Chain]:
    """Every simulator, and a hub with every connector pointed at them; ``connectors``
    adds settings per connector (shorter retries, say). SQLite in ``tmp_path`` unless
    ``database_url`` names another database; ``clock`` times the outbound retries."""
    port = free_port()
    sims = SimulatorSet(hub_url=f"http://127.0.0.1:{port}")
    await sims.start()
    configured = sims.connectors()
    for name, extra in (connectors or {}).items():
        configured[name] = {**configured[name], **extra}
    settings = HubSettings(
        data_dir=tmp_path,
        kafka=kafka_settings,
        database=DatabaseSettings(url=database_url or f"sqlite+aiosqlite:///{tmp_path}/hub.db"),
        http=HttpSettings(port=port),
        routing=routing or RoutingSettings(),
        ops=ops or OpsSettings(),
        connectors=configured,
    )
    keys = Pseudonymiser(active_key_id="s1", keys={"s1": secrets.token_bytes(32)})
    hub = HubProcess(settings, keys, clock=clock)
    await migrate(hub.engine)
    await hub.start()
    try:
        async with httpx.AsyncClient(timeout=10) as client:
            yield Chain(hub, sims, client)
    finally:
        await hub.stop()
        await sims.stop()
