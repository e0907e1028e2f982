"""The SDK's public surface is what ``__all__`` exports; this pins it, so a change to
what partner teams may import is a deliberate one."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

import hub.connectors
import hub.connectors.events
import hub.connectors.testing
from hub.connectors.scaffold import KINDS, new_connector
from hub.schemas.registry import EVENT_MODELS

SDK = [
    "AuthenticationError",
    "ConfigurationError",
    "Connector",
    "ConnectorConfig",
    "ContractError",
    "Delivery",
    "Emitted",
    "HttpApiConfig",
    "HttpPartnerApi",
    "HubError",
    "InboundConfig",
    "InboundConnector",
    "InboundMessage",
    "LookupConfig",
    "LookupConnector",
    "NotFound",
    "OutboundConfig",
    "OutboundConnector",
    "PartnerRequest",
    "PartnerResponse",
    "PayloadTooLarge",
    "PermanentError",
    "PolicyDenial",
    "RetryableError",
    "read_json",
    "read_object",
]
PUBLIC_MODULES = {"hub.connectors", "hub.connectors.events", "hub.connectors.testing"}
KIT = [
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


def test_sdk_exports_exactly_its_public_names() -> None:
    assert sorted(hub.connectors.__all__) == sorted(SDK)
    for name in SDK:
        assert getattr(hub.connectors, name) is not None


def test_kit_exports_exactly_its_public_names() -> None:
    assert sorted(hub.connectors.testing.__all__) == sorted(KIT)
    for name in KIT:
        assert getattr(hub.connectors.testing, name) is not None


def test_every_error_is_one_of_the_documented_tree() -> None:
    errors = [
        getattr(hub.connectors, n)
        for n in SDK
        if n.endswith("Error") or n in {"NotFound", "PolicyDenial", "PayloadTooLarge"}
    ]
    for error in errors:
        assert issubclass(error, hub.connectors.HubError)
        assert error.__name__ in (hub.connectors.__doc__ or ""), f"{error.__name__} undocumented"


def test_events_exports_every_canonical_event_a_connector_meets() -> None:
    """Every canonical event but the router's own delivery wrapper, which a connector
    receives as a ``Delivery``."""
    wanted = {m.__name__ for m in EVENT_MODELS} - {"NotificationDelivery"}
    assert set(hub.connectors.events.__all__) == wanted | {"CanonicalEvent", "DataCategory"}
    for name in hub.connectors.events.__all__:
        assert getattr(hub.connectors.events, name) is not None


@pytest.mark.parametrize("kind", KINDS)
def test_a_generated_connector_imports_only_the_public_sdk(kind: str, tmp_path: Path) -> None:
    """A partner's package must keep working when the hub's inner modules move."""
    rendered = new_connector(f"my-{kind}", kind, standalone=tmp_path)
    hub_imports = []
    for path in rendered.files:
        if path.suffix != ".py":
            continue
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.ImportFrom) and (node.module or "").startswith("hub"):
                hub_imports.append((path.name, node.module))
            if isinstance(node, ast.Import):
                hub_imports += [(path.name, a.name) for a in node.names if a.name.startswith("hub")]
    assert hub_imports, "the template imports the SDK"
    assert {module for _, module in hub_imports} <= PUBLIC_MODULES, hub_imports
