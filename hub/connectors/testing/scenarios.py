"""Scenarios are data: a suite lists them, every check runs over them."""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from typing import Any

from hub.schemas.base import CanonicalEvent
from hub.schemas.categories import DataCategory
from hub.schemas.deliveries import DecisionSummary, Flow, NotificationDelivery, Outcome

KIT_BSN = "123456782"
"""A fictitious BSN that passes the 11-check, for scenarios that need one."""

XML_BOMB = b"""<?xml version="1.0"?>
<!DOCTYPE lolz [<!ENTITY lol "lol"><!ENTITY lol2 "&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;">
<!ENTITY lol3 "&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;">]><a>&lol3;</a>"""
XXE = b"""<?xml version="1.0"?>
<!DOCTYPE a [<!ENTITY xxe SYSTEM "file:///etc/passwd">]><a>&xxe;</a>"""

CANNED_MALFORMED: dict[str, bytes] = {
    "malformed-json": b'{"unterminated": ',
    "malformed-xml": b"<a><b></a>",
    "xml-entity-expansion": XML_BOMB,
    "xml-external-entity": XXE,
    "empty-body": b"",
    "not-text": bytes(range(256)),
}
"""Every inbound connector must reject each of these with a ContractError."""

SUITE_EDGE_CASES = ("unknown-schema-version", "missing-subject")
"""Edge cases only the partner's format can express: a suite supplies them (or bypasses
them with a reason)."""


@dataclass(frozen=True)
class InboundScenario:
    name: str
    body: bytes
    expect: tuple[type[CanonicalEvent], ...]
    """The event types the message must yield, in order."""
    content_type: str = "application/json"
    personal_data: tuple[str, ...] = ()
    """BSNs and names in the body that must never reach a log line or a Kafka header."""


@dataclass(frozen=True)
class OutboundScenario:
    name: str
    notification: NotificationDelivery
    bsn: str | None = None
    """Set to re-identify: the BSN is recorded in the vault and the delivery permits it."""
    personal_data: tuple[str, ...] = ()


@dataclass(frozen=True)
class LookupScenario:
    name: str
    bsn: str = KIT_BSN


def sample_delivery(
    recipient: str,
    source: type[CanonicalEvent],
    content: dict[str, Any],
    categories: dict[str, DataCategory],
    *,
    flow: Flow = Flow.A,
    role: str = "levensloopcoordinator",
    bsn_permitted: bool = False,
    key: str | None = None,
    label_reference: str | None = None,
    correction: bool = False,
) -> NotificationDelivery:
    """A delivery as the router would make it, for an outbound scenario."""
    return NotificationDelivery(
        recipient=recipient,
        recipient_role=role,
        flow=flow,
        purpose="levensloopaanpak",
        source_type=source.event_type(),
        idempotency_key=key or str(uuid.uuid4()),
        decision=DecisionSummary(
            outcome=Outcome.PERMIT,
            legal_bases=("wgs-samenwerkingsverband",),
            rule_ids=("wgs-samenwerkingsverband",),
            policy_version="sha256:kit",
        ),
        content=content,
        content_categories=categories,
        bsn_permitted=bsn_permitted,
        label_reference=label_reference,
        correction=correction,
    )
