"""From one event and one addressee to a decision, a delivery and its audit entry.

The *message* is the event's own fields plus what the router adds from the case (the
fact of inclusion, the ZVH, the professionals' contacts) plus the BSN, which is never on
the bus: its verdict tells the outbound connector whether it may re-identify. Every
field keeps the data category its declaration gives it.
"""

from __future__ import annotations

import datetime as dt
import functools
import uuid
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any, ClassVar

from pydantic import BaseModel

from hub.routing.decision import (
    Decision,
    DecisionInput,
    FieldSpec,
    Policy,
    Purpose,
    Recipient,
    Verdict,
    decide,
)
from hub.routing.recipients import Addressee, CaseContext
from hub.schemas.base import CanonicalEvent
from hub.schemas.case import TeamRole
from hub.schemas.categories import DataCategory, categorised, category_of, relevant_roles_of
from hub.schemas.common import Contact
from hub.schemas.deliveries import DecisionSummary, NotificationDelivery, Outcome
from hub.schemas.envelope import HUB_SOURCE, Envelope
from hub.schemas.partners import partner_kind
from hub.schemas.registry import model_for
from hub.state.audit import Action, AuditEntry
from hub.state.consents import PolicyFacts

BSN_FIELD = "bsn"
DELIVERY_NAMESPACE = uuid.UUID("5b0e8d0c-6f5e-4a53-9d55-2f4b1c1a7e01")
L, C, ID = DataCategory.LABEL, DataCategory.CONTACT, DataCategory.IDENTITY


class CaseEnrichment(BaseModel):
    """The fields the router adds to a message, declared like any payload field."""

    levensloopaanpak: bool = categorised(L, description="The client is in the approach.")
    zvh: str | None = categorised(L, description="The ZVH with process direction.", default=None)
    llc: Contact | None = categorised(C, description="The levensloopcoördinator.", default=None)
    casusregisseur: Contact | None = categorised(
        C, description="The gemeentelijke casusregisseur.", default=None
    )
    procesregisseur: Contact | None = categorised(
        C, description="The ZVH procesregisseur.", default=None
    )
    bsn: None = categorised(ID, description="Stands for the BSN, added at the edge.", default=None)

    ROLE_FIELDS: ClassVar[dict[TeamRole, str]] = {
        TeamRole.LEVENSLOOPCOORDINATOR: "llc",
        TeamRole.CASUSREGISSEUR: "casusregisseur",
        TeamRole.PROCESREGISSEUR: "procesregisseur",
    }


@functools.cache
def _specs(model: type[BaseModel]) -> dict[str, FieldSpec]:
    """Each field's spec, read once per model from its declaration (callers copy it)."""
    out = {}
    for name, info in model.model_fields.items():
        category = category_of(info)
        if category is not None:
            out[name] = FieldSpec(
                name=name, category=category, relevant_roles=relevant_roles_of(info)
            )
    return out


def field_specs(source_type: str) -> dict[str, FieldSpec]:
    """Every field a delivery of ``source_type`` may carry, with its declared category
    and relevant roles: the source event's fields, then what the case adds."""
    return {**_specs(CaseEnrichment), **_specs(model_for(source_type))}


@dataclass(frozen=True)
class Message:
    values: dict[str, Any]
    specs: dict[str, FieldSpec]

    @classmethod
    def build(cls, event: CanonicalEvent, context: CaseContext) -> Message:
        """The event's fields that carry a value, then the case fields it does not have."""
        values = event.model_dump(mode="json", exclude_none=True)
        specs = {name: spec for name, spec in _specs(type(event)).items() if name in values}
        enrichment = CaseEnrichment(
            levensloopaanpak=context.included,
            zvh=context.zvh,
            **{f: context.contacts.get(role) for role, f in CaseEnrichment.ROLE_FIELDS.items()},
        )
        extra = enrichment.model_dump(mode="json", exclude_none=True)
        for name, spec in _specs(CaseEnrichment).items():
            if name in specs:
                continue
            if name == BSN_FIELD:
                specs[name] = spec
            elif name in extra:
                values[name] = extra[name]
                specs[name] = spec
        return cls(values=values, specs=specs)


@dataclass(frozen=True)
class Disclosure:
    addressee: Addressee
    decision: Decision
    audit: AuditEntry
    delivery: tuple[NotificationDelivery, Envelope] | None


def delivery_id(event_id: str, partner: str, role: str) -> str:
    """Stable across redeliveries, so a partner can de-duplicate on it."""
    return str(uuid.uuid5(DELIVERY_NAMESPACE, f"{event_id}|{partner}|{role}"))


def object_text(event_type: str, categories: frozenset[DataCategory]) -> str:
    return f"{event_type} [{','.join(sorted(categories))}]"


def policy_input(
    *,
    subject: str,
    fields: Iterable[FieldSpec],
    recipient: Recipient,
    purpose: Purpose,
    facts: PolicyFacts,
    now: dt.datetime,
) -> DecisionInput:
    """The decision's input for one recipient: the client's recorded facts, as they are."""
    return DecisionInput(
        subject=subject,
        fields=tuple(fields),
        recipient=recipient,
        purpose=purpose,
        consents=facts.consents,
        unreadable_consents=facts.unreadable,
        titles=facts.titles,
        conflict_decisions=facts.conflict_decisions,
        now=now,
    )


def disclose(
    *,
    envelope: Envelope,
    message: Message,
    addressee: Addressee,
    context: CaseContext,
    policy: Policy,
    facts: PolicyFacts,
    may_hold_bsn: bool,
    now: dt.datetime,
    label_reference: str | None = None,
    correction: bool = False,
) -> Disclosure:
    """Decide for one addressee; build its delivery when anything may go.

    The BSN is always decided, so the audit shows who received it and who the pseudonym.
    ``correction`` marks the delivery as correcting an earlier notice of the same stay.
    """
    wanted = [
        spec
        for name, spec in message.specs.items()
        if addressee.fields is None or name in addressee.fields or name == BSN_FIELD
    ]
    decision = decide(
        policy_input(
            subject=envelope.subject,
            fields=wanted,
            recipient=Recipient(
                partner=addressee.partner,
                role=addressee.role,
                in_team=context.in_team(addressee.partner),
                may_hold_bsn=may_hold_bsn,
            ),
            purpose=addressee.purpose,
            facts=facts,
            now=now,
        ),
        policy,
    )
    permitted = [
        name
        for name, verdict in decision.field_verdicts.items()
        if verdict is Verdict.PERMIT and name in message.values
    ]
    identifier = delivery_id(envelope.id, addressee.partner, addressee.role.value)
    delivery = None
    if decision.outcome is not Outcome.DENY and permitted:
        notification = NotificationDelivery(
            recipient=addressee.partner,
            recipient_role=addressee.role.value,
            flow=addressee.flow,
            purpose=addressee.purpose.value,
            source_type=envelope.type,
            idempotency_key=identifier,
            decision=DecisionSummary(
                outcome=decision.outcome,
                legal_bases=decision.legal_bases,
                rule_ids=decision.rule_ids,
                policy_version=decision.policy_version,
                released_by=decision.released_by,
            ),
            content={name: message.values[name] for name in permitted},
            content_categories={name: message.specs[name].category for name in permitted},
            removed_fields=decision.removed_fields,
            bsn_permitted=decision.field_verdicts.get(BSN_FIELD) is Verdict.PERMIT,
            label_reference=label_reference,
            correction=correction,
        )
        delivery = (
            notification,
            Envelope.for_event(
                notification,
                subject=envelope.subject,
                source=HUB_SOURCE,
                correlation_id=envelope.correlationid,
                causation_id=envelope.id,
                event_id=identifier,
                time=now,
                origin_time=envelope.started,
            ),
        )
    audit = AuditEntry.about(
        envelope,
        action=Action.DISCLOSE if delivery else Action.WITHHOLD,
        object=object_text(envelope.type, frozenset(s.category for s in wanted)),
        outcome=decision.outcome.value if delivery else Outcome.DENY.value,
        recipient=addressee.partner,
        recipient_role=addressee.role.value,
        flow=addressee.flow.value,
        purpose=addressee.purpose.value,
        legal_bases=decision.legal_bases if delivery else (),
        rule_ids=decision.rule_ids,
        policy_version=decision.policy_version,
        consent_id=decision.consent_id,
        disclosed_fields=tuple(permitted) if delivery else (),
        removed_fields=decision.removed_fields,
        missing=tuple(m.code for m in decision.missing),
        delivery_id=identifier if delivery else None,
    )
    return Disclosure(addressee=addressee, decision=decision, audit=audit, delivery=delivery)


def bsn_authorised(partner: str, kinds: frozenset[str]) -> bool:
    return partner_kind(partner) in kinds
