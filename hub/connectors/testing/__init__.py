"""The connector test kit: subclass a suite, name your connector, config and scenarios,
and every standard check runs as its own test. Ships as a pytest plugin."""

from hub.connectors.testing.checks import KitCheck
from hub.connectors.testing.harness import HttpPartner, MockTransport
from hub.connectors.testing.scenarios import (
    KIT_BSN,
    InboundScenario,
    LookupScenario,
    OutboundScenario,
    sample_delivery,
)
from hub.connectors.testing.suites import (
    ConnectorSuite,
    InboundConnectorSuite,
    LookupConnectorSuite,
    OutboundConnectorSuite,
    run_check,
)

__all__ = [
    "KIT_BSN",
    "ConnectorSuite",
    "HttpPartner",
    "InboundConnectorSuite",
    "InboundScenario",
    "KitCheck",
    "LookupConnectorSuite",
    "LookupScenario",
    "MockTransport",
    "OutboundConnectorSuite",
    "OutboundScenario",
    "run_check",
    "sample_delivery",
]
