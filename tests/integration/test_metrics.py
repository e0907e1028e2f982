"""``/metrics`` after a detention intake through the simulators: every series of the
operations issue is there, and the counts moved by what the flow did."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import httpx
import pytest
from prometheus_client.parser import text_string_to_metric_families

from hub.connectors.testing.harness import wait_until
from hub.settings import KafkaSettings, OpsSettings
from tests.integration.simulated_chain import Chain, simulated_chain

pytestmark = pytest.mark.integration
INCLUDED = "111222333"
Samples = dict[tuple[str, tuple[tuple[str, str], ...]], float]


@pytest.fixture
async def chain(kafka_settings: KafkaSettings, tmp_path: Path) -> AsyncIterator[Chain]:
    async with simulated_chain(
        kafka_settings, tmp_path, ops=OpsSettings(metrics_interval_s=0.3)
    ) as running:
        yield running


async def _scrape(chain: Chain) -> Samples:
    async with httpx.AsyncClient(base_url=chain.hub.http_url) as client:
        text = (await client.get("/metrics")).text
    return {
        (s.name, tuple(sorted(s.labels.items()))): s.value
        for family in text_string_to_metric_families(text)
        for s in family.samples
    }


def _value(samples: Samples, name: str, **labels: str) -> float | None:
    """The one series ``name`` with exactly ``labels``; None when it is not there."""
    return samples.get((name, tuple(sorted(labels.items()))))


def _total(samples: Samples, name: str, **labels: str) -> float:
    """The sum over every series of ``name`` whose labels include ``labels``."""
    wanted = set(labels.items())
    return sum(v for (n, ls), v in samples.items() if n == name and wanted <= set(ls))


async def test_metrics_count_a_detention_intake_and_show_state(chain: Chain) -> None:
    async def measured() -> bool:
        return _value(await _scrape(chain), "ketenhub_dead_letter_depth") is not None

    await wait_until(measured)
    before = await _scrape(chain)
    depth = _value(before, "ketenhub_dead_letter_depth") or 0.0
    await chain.hub.broker.publish(b"not a delivery", topic="delivery.llz.v1", key=b"metrics")
    await chain.send("injus", {"kind": "START", "bsn": INCLUDED, "event_id": "METRICS-1"})
    await chain.until("llc", 1, INCLUDED)
    await chain.faults("politie", down=True)

    async def refreshed() -> bool:
        now = await _scrape(chain)
        return (
            _value(now, "ketenhub_connector_up", connector="politie-abonnementen") == 0
            and _value(now, "ketenhub_consumer_lag", group="hub-router") == 0
            and (_value(now, "ketenhub_dead_letter_depth") or 0.0) > depth
            and _total(now, "ketenhub_flow_seconds_count", flow="A", connector="pi-backoffice")
            > _total(before, "ketenhub_flow_seconds_count", flow="A", connector="pi-backoffice")
        )

    await wait_until(refreshed)
    after = await _scrape(chain)

    def moved(name: str, **labels: str) -> float:
        return _total(after, name, **labels) - _total(before, name, **labels)

    messages = "ketenhub_connector_messages_total"
    assert moved(messages, connector="injus-detentie", direction="in", outcome="published") == 1
    for connector in ("llc-communication", "gemeente-casusregisseur", "zvh-notifications"):
        assert moved(messages, connector=connector, direction="out", outcome="delivered") >= 1
    decisions = "ketenhub_router_decisions_total"
    assert moved(decisions, rule="wgs-samenwerkingsverband") >= 3
    assert moved(decisions, rule="bsn-bevoegd") >= 1
    assert moved("ketenhub_consumer_seconds_count", group="hub-router") >= 1
    assert moved("ketenhub_consumer_records_total", group="hub-deliveries") >= 1
    assert moved("ketenhub_flow_seconds_count", flow="A", connector="llc-communication") == 1
    assert moved("ketenhub_connector_seconds_count", connector="injus-detentie") == 1
    assert _value(after, "ketenhub_connector_up", connector="llc-communication") == 1
    assert _value(after, "ketenhub_connector_up", connector="politie-abonnementen") == 0
    assert _value(after, "ketenhub_labels_incomplete") == 0
    assert moved("ketenhub_connector_dead_letters_total", connector="llc-communication") >= 1
    groups = {dict(ls)["group"] for (n, ls) in after if n == "ketenhub_consumer_lag"}
    assert {"hub-router", "hub-deliveries"} <= groups
