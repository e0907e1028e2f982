"""The connector SDK: everything a partner IT team needs to plug its system into the hub.

A connector only translates; the runtime does the rest (Kafka, CloudEvents, offsets,
idempotency, retries, dead letters, pseudonymisation, webhook signatures, metrics).
Write a config model, a ``check()``, and either ``translate`` (inbound), ``deliver``
(outbound) or ``lookup``; register it under the ``hub.connectors`` entry-point group;
prove it with the test kit in ``hub.connectors.testing``. Start from
``hub connectors new NAME --kind inbound|outbound|lookup`` and ``docs/connectors.md``.
Read a partner's JSON with ``read_json``: it refuses what would exhaust the hub (deep
nesting, huge numbers, over-long strings and arrays) with a ContractError;
``read_object`` also checks the ``schemaVersie`` of the reference JSON contracts. The
canonical events a connector emits or accepts are in ``hub.connectors.events``: a
connector imports from ``hub.connectors``, ``hub.connectors.events`` and
``hub.connectors.testing`` only.

The errors, one tree (see ``hub.core.errors``)::

    HubError
    ├── ConfigurationError   the connector's config cannot work; the hub refuses to start
    ├── ContractError        the partner's message is malformed (names the field); rejected
    │   └── PayloadTooLarge  with problem+json or dead-lettered, never retried
    ├── AuthenticationError  a webhook signature or timestamp does not hold
    ├── NotFound             no such resource at an HTTP edge
    ├── RetryableError       worth another try (timeout, 503): retried with backoff
    ├── PermanentError       will never succeed as sent (400): dead-lettered with its reason
    └── PolicyDenial         the sharing policy said no
"""

from hub.connectors.base import (
    Connector,
    ConnectorConfig,
    Delivery,
    Emitted,
    InboundConfig,
    InboundConnector,
    InboundMessage,
    LookupConfig,
    LookupConnector,
    OutboundConfig,
    OutboundConnector,
)
from hub.connectors.exchange import PartnerRequest, PartnerResponse
from hub.connectors.http import HttpApiConfig, HttpPartnerApi
from hub.connectors.partner_json import read_object
from hub.core.errors import (
    AuthenticationError,
    ConfigurationError,
    ContractError,
    HubError,
    NotFound,
    PayloadTooLarge,
    PermanentError,
    PolicyDenial,
    RetryableError,
)
from hub.core.json_limits import read_json

__all__ = [
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
