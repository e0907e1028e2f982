"""The consumer groups a process's outbound connectors read in: one for them all (``hub
up``, ``hub run``), or each its own where a Kafka principal per connector asks for it
(``hub run --connector``, as a deployment runs each connector)."""

from __future__ import annotations

from typing import Any

from hub.connectors.runtime.wiring import ConnectorSet
from hub.core.topics import DELIVERIES_GROUP, outbound_group


class _Runtime:
    def __init__(self, name: str, topic: str):
        self.connector = self
        self.name = name
        self._topic = topic

    def topics(self) -> tuple[str, ...]:
        return (self._topic,)


def _set(*, own_groups: bool) -> ConnectorSet:
    runtimes: Any = [
        _Runtime("llc-communication", "deliveries.llz"),
        _Runtime("politie-abonnementen", "deliveries.politie"),
        _Runtime("politie-meldingen", "deliveries.politie"),
    ]
    return ConnectorSet(outbound_runtimes=runtimes, own_groups=own_groups)


def test_the_connectors_of_a_process_share_one_group_over_their_topics() -> None:
    assert _set(own_groups=False).consumer_groups() == {
        DELIVERIES_GROUP: ("deliveries.llz", "deliveries.politie")
    }


def test_with_a_principal_per_connector_each_reads_in_its_own_group() -> None:
    assert _set(own_groups=True).consumer_groups() == {
        outbound_group("llc-communication"): ("deliveries.llz",),
        outbound_group("politie-abonnementen"): ("deliveries.politie",),
        outbound_group("politie-meldingen"): ("deliveries.politie",),
    }
    assert not DELIVERIES_GROUP.startswith(outbound_group("")), "no connector's own group"
