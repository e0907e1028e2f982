"""Plausibility at the edge (issue 22, item 9): the inbound runtime refuses a fact dated
ahead of its clock, for every connector and every way in, naming the field the partner
sent, and takes nothing of the message."""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest

from hub.connectors import ContractError, InboundConnector, InboundMessage
from hub.connectors.crisis import CrisisContacten
from hub.connectors.injus import InjusDetentie
from hub.connectors.pi import PiTransfers
from hub.connectors.reclassering import IrisSignals
from hub.connectors.runtime.inbound import InboundRuntime
from hub.connectors.runtime.sources import drain_directory
from hub.connectors.testing.harness import Bus, Stores
from hub.connectors.zvh import ZvhEvents
from hub.settings import PlausibilitySettings
from hub.state import accepted
from tests.clock import ManualClock
from tests.connectors.test_injus_kit import gebeurtenis
from tests.connectors.test_label_partner_kits import crisis_contact
from tests.connectors.test_pi_transfers_kit import notice
from tests.connectors.test_reclassering_kit import signal
from tests.connectors.test_zvh_events_kit import INCLUSIE, event

NOW = dt.datetime(2026, 12, 1, 10, tzinfo=dt.UTC)
TODAY, TOMORROW, AFTER_TOMORROW = "2026-12-01", "2026-12-02", "2026-12-03"
NEXT_WEEK = "2026-12-08"


@pytest.fixture
async def stores() -> AsyncIterator[Stores]:
    async with Stores() as opened:
        yield opened


def _runtime(
    stores: Stores,
    bus: Bus,
    connector: type[InboundConnector[Any]],
    plausibility: PlausibilitySettings | None = None,
) -> InboundRuntime:
    return InboundRuntime(
        connector.from_config({"webhook_secret": "edge-secret"}),
        sessions=stores.sessions,
        send=bus.send,
        pseudonymiser=stores.pseudonymiser,
        vault=stores.vault,
        clock=ManualClock(NOW),
        plausibility=plausibility,
    )


async def _accepted(stores: Stores) -> int:
    async with stores.sessions() as session:
        return await accepted.count(session)


REFUSED = [
    ("Injus START next week", InjusDetentie, gebeurtenis(datum=NEXT_WEEK), "datum"),
    ("Injus START after tomorrow", InjusDetentie, gebeurtenis(datum=AFTER_TOMORROW), "datum"),
    (
        "Injus EINDE next week",
        InjusDetentie,
        gebeurtenis("EINDE", datum=NEXT_WEEK, gemeenteVanUitstroom="GM0344"),
        "datum",
    ),
    (
        "Injus birth date ahead",
        InjusDetentie,
        gebeurtenis(geboortedatum=NEXT_WEEK),
        "geboortedatum",
    ),
    ("PI transfer next week", PiTransfers, notice(datum=NEXT_WEEK), "datum"),
    (
        "Iris signal in an hour",
        IrisSignals,
        signal(tijdstip="2026-12-01T11:00:00+00:00"),
        "tijdstip",
    ),
    (
        "crisis contact next week",
        CrisisContacten,
        crisis_contact(tijdstip="2026-12-08T03:40:00+01:00"),
        "tijdstip",
    ),
    (
        "ZVH inclusion ahead",
        ZvhEvents,
        INCLUSIE.replace(b'"2026-03-01"', NEXT_WEEK.join('""').encode()),
        "datum",
    ),
]


@pytest.mark.parametrize(
    ("connector", "body", "field"), [r[1:] for r in REFUSED], ids=[r[0] for r in REFUSED]
)
async def test_a_fact_dated_ahead_is_refused_naming_the_field_and_nothing_is_taken(
    stores: Stores, connector: type[InboundConnector[Any]], body: bytes, field: str
) -> None:
    bus = Bus()
    with pytest.raises(ContractError) as refused:
        await _runtime(stores, bus, connector).ingest(InboundMessage(body=body))
    assert refused.value.field == field
    assert refused.value.status == 422
    assert "lies in the future" in refused.value.message
    assert bus.records == []
    assert await _accepted(stores) == 0


TAKEN = [
    ("Injus START today", InjusDetentie, gebeurtenis(datum=TODAY)),
    ("Injus START tomorrow", InjusDetentie, gebeurtenis(datum=TOMORROW)),
    (
        "Injus expected end far ahead",
        InjusDetentie,
        gebeurtenis(datum=TODAY, verwachteEinddatum="2028-01-01"),
    ),
    (
        "Injus leave ending next week",
        InjusDetentie,
        gebeurtenis("VERLOF", datum=TODAY, verlofEinde=NEXT_WEEK),
    ),
    ("Iris signal 10 minutes ahead", IrisSignals, signal(tijdstip="2026-12-01T10:10:00+00:00")),
    (
        "ZVH exclusion planned next year",
        ZvhEvents,
        event("EXCLUSIE", "ZVH-PLAN", datum="2027-06-01", reden="stable-two-years"),
    ),
    (
        "ZVH title valid from next month",
        ZvhEvents,
        event(
            "TITEL",
            "ZVH-TITLE",
            titelId="T-1",
            titel="zorgmachtiging",
            afgegevenDoor="rechter",
            inclusiefLevensloopaanpak=True,
            geldigVan="2027-01-01",
            geldigTot="2027-12-31",
        ),
    ),
]


@pytest.mark.parametrize(("connector", "body"), [r[1:] for r in TAKEN], ids=[r[0] for r in TAKEN])
async def test_a_fact_up_to_tomorrow_and_a_plan_ahead_are_taken(
    stores: Stores, connector: type[InboundConnector[Any]], body: bytes
) -> None:
    bus = Bus()
    taken = await _runtime(stores, bus, connector).ingest(InboundMessage(body=body))
    assert len(taken) == 1
    assert len(bus.records) == 1


async def test_the_runtime_reads_its_tolerance_from_the_settings(stores: Stores) -> None:
    strict = PlausibilitySettings(days_ahead=0)
    runtime = _runtime(stores, Bus(), InjusDetentie, strict)
    with pytest.raises(ContractError) as refused:
        await runtime.ingest(InboundMessage(body=gebeurtenis(datum=TOMORROW)))
    assert refused.value.field == "datum"


async def test_a_dropped_file_dated_ahead_goes_to_rejected_with_the_field(
    stores: Stores, tmp_path: Path
) -> None:
    bus = Bus()
    (tmp_path / "a-now.xml").write_bytes(gebeurtenis(event_id="INJUS-NOW", datum=TODAY))
    (tmp_path / "b-ahead.xml").write_bytes(gebeurtenis(event_id="INJUS-AHEAD", datum=NEXT_WEEK))
    result = await drain_directory(_runtime(stores, bus, InjusDetentie), tmp_path)
    assert (result.processed, result.rejected) == (1, 1)
    assert (tmp_path / "rejected" / "b-ahead.xml").exists()
    problem = json.loads((tmp_path / "rejected" / "b-ahead.xml.problem.json").read_text())
    assert problem["field"] == "datum"
    assert problem["status"] == 422
    assert "start_date lies in the future" in problem["detail"]
    assert len(bus.records) == 1, "only the file dated today was published"
