"""The SDK's public surface is what ``__all__`` exports; this pins it, so a change to
what partner teams may import is a deliberate one."""

from __future__ import annotations

import hub.connectors
import hub.connectors.testing

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
]
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
