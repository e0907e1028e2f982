"""What the router hands to an outbound connector: one delivery per permitted recipient."""

from __future__ import annotations

from enum import StrEnum
from typing import Any, ClassVar

from pydantic import Field, model_validator

from hub.core import topics
from hub.schemas.base import CanonicalEvent, Payload
from hub.schemas.categories import DataCategory, categorised
from hub.schemas.partners import PartnerId, partner_kind

L = DataCategory.LABEL


class Outcome(StrEnum):
    PERMIT = "PERMIT"
    PERMIT_REDACTED = "PERMIT_REDACTED"
    PERMIT_BREAK_GLASS = "PERMIT_BREAK_GLASS"
    DENY = "DENY"


class Flow(StrEnum):
    """The flows of DESIGN §3."""

    A = "A"
    B = "B"
    C = "C"
    D = "D"
    E = "E"
    F = "F"
    G = "G"
    H = "H"


class DecisionSummary(Payload):
    outcome: Outcome
    legal_bases: tuple[str, ...]
    rule_ids: tuple[str, ...]
    policy_version: str = Field(min_length=1)
    released_by: tuple[str, ...] = Field(
        (), description="The conflict-of-duties decisions a break-glass delivery rests on."
    )


class NotificationDelivery(CanonicalEvent):
    """A notification for one partner, with the fields the policy removed already gone.

    ``content`` holds the source event's permitted fields; ``content_categories`` says
    the category of each, so a consumer can check the delivery without the source model.
    """

    topic: ClassVar[topics.TopicSpec] = topics.DELIVERY_FAMILY
    name: ClassVar[str] = "delivery.notification"
    recipient: PartnerId = categorised(L, description="The partner to deliver to.")
    recipient_role: str = categorised(L, description="The recipient's role in the team.")
    flow: Flow = categorised(L, description="The flow of DESIGN §3 this belongs to.")
    purpose: str = categorised(L, description="Purpose of the disclosure.", min_length=1)
    source_type: str = categorised(L, description="CloudEvents type of the source event.")
    idempotency_key: str = categorised(L, description="Stable key the partner de-duplicates on.")
    decision: DecisionSummary = categorised(L, description="Why this may be sent.")
    content: dict[str, Any] = categorised(L, description="Permitted fields of the source event.")
    content_categories: dict[str, DataCategory] = categorised(
        L, description="Data category of every field in content."
    )
    removed_fields: tuple[str, ...] = categorised(
        L, description="Fields the policy removed.", default=()
    )
    bsn_permitted: bool = categorised(
        L,
        description="The recipient may hold the BSN: only then does its connector re-identify.",
        default=False,
    )
    label_reference: str | None = categorised(
        L,
        description="The partner's handle for the client's label: the one a label delivery "
        "sets or withdraws (flows B and C), or the one it holds already (a break-glass "
        "notice to the police names their subscription): the police subscription id, the "
        "Iris melding id, the crisis Flag identifier.",
        default=None,
        max_length=64,
    )
    correction: bool = categorised(
        L,
        description="The notice corrects an earlier one of the same detention stay (a START "
        "sent again with other content): the partner shows it as a change, not as news.",
        default=False,
    )

    @model_validator(mode="after")
    def _every_field_is_categorised(self) -> NotificationDelivery:
        unknown = sorted(set(self.content) - set(self.content_categories))
        if unknown:
            raise ValueError(f"content fields without a category: {unknown}")
        if self.decision.outcome is Outcome.DENY:
            raise ValueError("a denied decision produces no delivery")
        return self

    def record_topic(self) -> topics.TopicSpec:
        """The recipient's own delivery topic, by partner kind."""
        return topics.delivery_topic(partner_kind(self.recipient))

    def categories_present(self) -> frozenset[DataCategory]:
        return frozenset({L, *(self.content_categories[f] for f in self.content)})
