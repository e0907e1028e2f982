"""The suites a partner team subclasses: one class, the connector, its config and its
scenarios, and every standard check runs as its own named test::

    from hub.connectors.testing import InboundConnectorSuite, InboundScenario

    class TestMine(InboundConnectorSuite):
        connector = MyConnector
        config = {"webhook_secret": "test-secret"}
        scenarios = [InboundScenario("a signal", body=b"...", expect=(ProbationSignal,))]
        edge_cases = {"unknown-schema-version": b"...", "missing-subject": b"..."}

A check that cannot apply is skipped only with a reason: ``bypass = {"check-name": "why"}``.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any, ClassVar

import pytest

from hub.connectors.base import Connector, InboundConnector, LookupConnector, OutboundConnector
from hub.connectors.testing import inbound_checks, outbound_checks
from hub.connectors.testing.checks import (
    ConfigSchema,
    HealthProbe,
    KitCheck,
    RegistrationAndMetadata,
)
from hub.connectors.testing.harness import HttpPartner
from hub.connectors.testing.scenarios import InboundScenario, LookupScenario, OutboundScenario

SHARED: tuple[type[KitCheck[Any]], ...] = (RegistrationAndMetadata, ConfigSchema, HealthProbe)


def run_check(suite: ConnectorSuite, check: type[KitCheck[Any]]) -> None:
    """Run one check against a suite; a bypassed check is skipped with its reason."""
    reason = suite.bypass.get(check.name)
    if reason:
        pytest.skip(f"{check.name} bypassed: {reason}")
    check().run(suite)


class ConnectorSuite:
    connector: ClassVar[type[Connector[Any]]]
    config: ClassVar[Mapping[str, Any]] = {}
    bypass: ClassVar[Mapping[str, str]] = {}
    checks: ClassVar[tuple[type[KitCheck[Any]], ...]] = SHARED
    check_timeout_s: ClassVar[float] = 5.0
    real_broker_timeout_s: ClassVar[float] = 30.0
    require_entry_point: ClassVar[bool] = True
    """Whether the connector must be installed under the entry-point group (off for a
    connector that is being written and not yet installed)."""

    def build(self) -> Connector[Any]:
        return self.connector.from_config(self.config)

    def pytest_generate_tests(self, metafunc: pytest.Metafunc) -> None:
        if "check" in metafunc.fixturenames:
            metafunc.parametrize(
                "check",
                [pytest.param(c, marks=c.marks, id=c.name) for c in self.checks],
            )

    def test_check(self, check: type[KitCheck[Any]]) -> None:
        run_check(self, check)


class InboundConnectorSuite(ConnectorSuite):
    connector: ClassVar[type[InboundConnector[Any]]]
    scenarios: ClassVar[Sequence[InboundScenario]] = ()
    edge_cases: ClassVar[Mapping[str, bytes]] = {}
    labels: ClassVar[Mapping[tuple[str, str], str]] = {}
    """Labels the partner holds before each check, ``{(partner, reference): bsn}``, for a
    connector whose messages name the client by label reference."""
    checks = SHARED + inbound_checks.CHECKS

    def build(self) -> InboundConnector[Any]:
        return self.connector.from_config(self.config)


class OutboundConnectorSuite(ConnectorSuite):
    connector: ClassVar[type[OutboundConnector[Any]]]
    scenarios: ClassVar[Sequence[OutboundScenario]] = ()
    checks = SHARED + outbound_checks.CHECKS

    def build(self, partner: HttpPartner | None = None) -> OutboundConnector[Any]:
        """The connector wired to ``partner``. Connectors that talk HTTP expose a
        ``transport`` attribute; override this for any other kind of partner."""
        connector = self.connector.from_config(self.config)
        if hasattr(connector, "transport"):
            connector.transport = (partner or HttpPartner()).transport
        return connector


class LookupConnectorSuite(ConnectorSuite):
    connector: ClassVar[type[LookupConnector[Any]]]
    scenarios: ClassVar[Sequence[LookupScenario]] = ()
    partner_reply: ClassVar[Mapping[str, Any] | None] = None
    """What the fake partner answers with a 200, for connectors that talk HTTP."""
    checks = SHARED + outbound_checks.LOOKUP_CHECKS

    def build(self) -> LookupConnector[Any]:
        connector = self.connector.from_config(self.config)
        if hasattr(connector, "transport"):
            reply = dict(self.partner_reply) if self.partner_reply is not None else None
            connector.transport = HttpPartner(reply=reply).transport
        return connector
