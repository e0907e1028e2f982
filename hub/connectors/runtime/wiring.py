"""Plugs the configured connectors into one hub process: inbound ones behind the webhook
and their file and poll sources, outbound ones behind one consumer group on their
delivery topics, and a look-up connector behind the router's case look-up."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from fastapi import APIRouter
from faststream.kafka import KafkaBroker
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from hub.bus.deadletter import topic_publisher
from hub.bus.publisher import EventPublisher
from hub.clock import SYSTEM_CLOCK, Clock
from hub.connectors.base import Connector, InboundConnector, LookupConnector, OutboundConnector
from hub.connectors.registry import installed
from hub.connectors.runtime.inbound import InboundRuntime
from hub.connectors.runtime.lookup import LookupRuntime
from hub.connectors.runtime.outbound import (
    OutboundRuntime,
    deliveries_subscriber,
    run_retries,
)
from hub.connectors.runtime.sources import run_sources
from hub.connectors.runtime.webhook import webhook_router
from hub.core.errors import ConfigurationError
from hub.core.topics import DELIVERIES_GROUP, outbound_group
from hub.identity.keyring import Keyring
from hub.identity.pseudonym import Pseudonymiser
from hub.identity.vault import IdentityVault
from hub.settings import HttpSettings, KafkaSettings, PlausibilitySettings
from hub.state import accepted


@dataclass
class ConnectorSet:
    inbound: dict[str, InboundRuntime] = field(default_factory=dict)
    lookup: LookupRuntime | None = None
    outbound: list[OutboundConnector[Any]] = field(default_factory=list)
    outbound_runtimes: list[OutboundRuntime] = field(default_factory=list)
    names: list[str] = field(default_factory=list)
    own_groups: bool = False
    _tasks: list[asyncio.Task[None]] = field(default_factory=list)

    def connectors(self) -> list[Connector[Any]]:
        """Every connector this process runs, for the health gauge."""
        found: list[Connector[Any]] = [r.connector for r in self.inbound.values()]
        found += self.outbound
        if self.lookup is not None:
            found.append(self.lookup.connector)
        return found

    def delivery_groups(self) -> dict[str, list[OutboundRuntime]]:
        """The outbound connectors by the consumer group they read in."""
        if self.own_groups:
            return {outbound_group(r.connector.name): [r] for r in self.outbound_runtimes}
        return {DELIVERIES_GROUP: self.outbound_runtimes} if self.outbound_runtimes else {}

    def consumer_groups(self) -> dict[str, tuple[str, ...]]:
        """The outbound connectors' consumer groups and their topics, for the lag gauge."""
        return {
            group: tuple(dict.fromkeys(t for r in runtimes for t in r.connector.topics()))
            for group, runtimes in self.delivery_groups().items()
        }

    def routers(self, http: HttpSettings | None = None) -> list[APIRouter]:
        """The webhook routes, limited before authentication as ``http`` says."""
        return [webhook_router(self.inbound, http)] if self.inbound else []

    def start_sources(self) -> None:
        """Background work: the outbound connectors' retry loops, and the scans and polls
        of inbound connectors that have a source."""
        if self.outbound_runtimes:
            self._tasks.append(asyncio.create_task(run_retries(self.outbound_runtimes)))
        for runtime in self.inbound.values():
            config = runtime.connector.config
            polls = type(runtime.connector).poll is not InboundConnector.poll
            if getattr(config, "drop_directory", None) is not None or polls:
                self._tasks.append(asyncio.create_task(run_sources(runtime)))

    async def stop_sources(self) -> None:
        for task in self._tasks:
            task.cancel()
        for task in self._tasks:
            with contextlib.suppress(asyncio.CancelledError):
                await task
        self._tasks.clear()
        for runtime in self.inbound.values():
            await runtime.close()
        for connector in self.connectors():
            await connector.close()


def wire(
    connectors: Sequence[Connector[Any]],
    *,
    broker: KafkaBroker,
    kafka: KafkaSettings,
    sessions: async_sessionmaker[AsyncSession],
    pseudonymiser: Pseudonymiser,
    keyring: Keyring | None = None,
    clock: Clock = SYSTEM_CLOCK,
    plausibility: PlausibilitySettings | None = None,
    own_groups: bool = False,
) -> ConnectorSet:
    """The runtimes of ``connectors``; ``clock`` times the outbound retries (a test
    moves it to run a long partner outage in seconds) and is the "now" no fact an
    inbound message states may lie ahead of, by ``plausibility``. The outbound ones read
    their topics with one consumer in one group, or, ``own_groups``, each with a
    consumer in a group of its own (a Kafka principal per connector)."""
    vault = IdentityVault.for_pseudonymiser(pseudonymiser)
    wired = ConnectorSet(names=[c.name for c in connectors], own_groups=own_groups)
    outbound = [c for c in connectors if isinstance(c, OutboundConnector)]
    _one_connector_per_event(outbound)
    peers = _outbound_classes(outbound) if outbound else []
    send = EventPublisher(broker).send
    marks = accepted.PublishMarks(sessions)
    for connector in connectors:
        if isinstance(connector, InboundConnector):
            wired.inbound[connector.name] = InboundRuntime(
                connector,
                sessions=sessions,
                send=send,
                pseudonymiser=pseudonymiser,
                vault=vault,
                keyring=keyring,
                clock=clock,
                plausibility=plausibility,
                marks=marks,
            )
        elif isinstance(connector, OutboundConnector):
            runtime = OutboundRuntime(
                connector,
                sessions=sessions,
                vault=vault,
                dead_letter=topic_publisher(broker),
                clock=clock,
                keyring=keyring,
                others=[
                    p
                    for p in peers
                    if p.name != connector.name and p.topics() == connector.topics()
                ],
            )
            wired.outbound.append(connector)
            wired.outbound_runtimes.append(runtime)
        elif isinstance(connector, LookupConnector):
            if wired.lookup is not None:
                raise ConfigurationError(
                    "only one look-up connector can answer the router's case look-up",
                    field=f"connectors.{connector.name}",
                )
            wired.lookup = LookupRuntime(connector, sessions=sessions, vault=vault)
    for group, runtimes in wired.delivery_groups().items():
        broker.include_router(deliveries_subscriber(runtimes, kafka, group))
    return wired


def _outbound_classes(
    wired: Sequence[OutboundConnector[Any]],
) -> list[type[OutboundConnector[Any]]]:
    """Every outbound connector class installed or wired here. Installed counts, not only
    configured: a deployment runs each connector in a process of its own, and the police's
    subscription connector must leave a notice alone there too."""
    found: dict[str, type[OutboundConnector[Any]]] = {
        name: cls for name, cls in installed().items() if issubclass(cls, OutboundConnector)
    }
    found.update({c.name: type(c) for c in wired})
    return list(found.values())


def _one_connector_per_event(outbound: Sequence[OutboundConnector[Any]]) -> None:
    """Two outbound connectors may share a partner (the police's subscriptions and
    notices) only when they split its events: both accepting one would deliver it twice."""
    for n, first in enumerate(outbound):
        for second in outbound[n + 1 :]:
            if first.partner != second.partner:
                continue
            both = sorted(
                {m.event_type() for m in first.accepts} & {m.event_type() for m in second.accepts}
            )
            if both:
                raise ConfigurationError(
                    f"{first.name} and {second.name} both deliver {', '.join(both)} to "
                    f"{first.partner}; switch one of them off",
                    field=f"connectors.{second.name}",
                )
