"""The router's decisions as pure functions: what the client's state was, what the
event says and what the look-up found go in; the audit records, the deliveries, the
label requests and the detention record to keep come out. No I/O: no database, no
broker, no clock (``now`` is given), no randomness (``mint`` is given).

:class:`hub.routing.router.Router` loads the inputs, calls :func:`plan_event` for
every event of a batch, in order, and carries the plan out in the batch's transaction.
A replay (:class:`hub.routing.replay.Replayer`) calls :func:`replan` for a
dead-lettered delivery; a router dead letter goes back through the router. This module
is unit-tested on its own (``tests/unit/test_routing_core.py``).
"""

from __future__ import annotations

import datetime as dt
import uuid
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field, replace

from hub.core.calendar import day_start, local_day
from hub.routing.decision import (
    Decision,
    Policy,
    Purpose,
    Recipient,
    Verdict,
    decide,
)
from hub.routing.disclosure import (
    BSN_FIELD,
    Message,
    bsn_authorised,
    disclose,
    field_specs,
    object_text,
    policy_input,
)
from hub.routing.recipients import (
    DISPUTE_FIELDS,
    Addressee,
    addressees,
    case_context,
    dispute,
    dispute_context,
    flow_of,
    with_break_glass,
)
from hub.routing.stays import StartClassification, StartKind, classify_start
from hub.schemas.base import CanonicalEvent
from hub.schemas.case import (
    CaseDisputed,
    CaseEvent,
    ClientExcluded,
    ClientIncluded,
    ClientMoved,
    KedoLookupResult,
    TeamRole,
)
from hub.schemas.categories import DataCategory
from hub.schemas.consent import ConsentEvent
from hub.schemas.deliveries import DecisionSummary, Flow, NotificationDelivery, Outcome
from hub.schemas.detention import DetentionEvent, DetentionStarted
from hub.schemas.envelope import HUB_SOURCE, Envelope
from hub.state.audit import Action, AuditEntry, AuditOutcome
from hub.state.cases import EXCLUDED, Case
from hub.state.consents import PolicyFacts
from hub.state.detentions import Stay
from hub.state.labels import LabelAction

LABEL_ACTIONS = {Flow.B: LabelAction.SET, Flow.C: LabelAction.WITHDRAW}
PARTNER_SOURCE_PREFIX = "urn:ketenhub:partner:"
RECORD_IDS = uuid.UUID("0b8f3c2e-6a41-4d8e-9a57-2f1c7d9e4b13")
REPLAY_NAMESPACE = uuid.UUID("6f1d2a8e-0b7c-4e0f-8d4a-3c5e9b1a2f60")
DISPUTE_NAMESPACE = uuid.UUID("3e9a7c51-8d2f-4b06-a1e4-5c7b0d2f9e38")
DUE_NAMESPACE = uuid.UUID("a4c2e8f0-1b3d-4e5f-9a7b-6c8d0e2f4a16")
DISPUTE_CODE = "hub-kedo-dispute"
"""The missing condition of a dispute's audit record: the hub and KEDO must agree."""


def sender_partner(source: str) -> str | None:
    return (
        source.removeprefix(PARTNER_SOURCE_PREFIX)
        if source.startswith(PARTNER_SOURCE_PREFIX)
        else None
    )


@dataclass(frozen=True)
class Outgoing:
    """A delivery to stage: the notification and its envelope."""

    notification: NotificationDelivery
    envelope: Envelope


@dataclass(frozen=True)
class LabelAsk:
    """What the router asks of a partner's label, and the delivery that carries it
    (``outgoing``, an index into the plan's deliveries) or why none could go."""

    partner: str
    action: LabelAction
    reference: str
    delivery_id: str | None
    outgoing: int | None
    denied: str | None


@dataclass(frozen=True)
class Scheduled:
    """An event to route again at ``due``: an exclusion dated ahead, whose label
    withdrawals (flow C) go on its day. ``envelope`` is its own, from the hub."""

    envelope: Envelope
    event: ClientExcluded
    due: dt.datetime


@dataclass(frozen=True)
class EventPlan:
    """Everything one event changes, for the shell to carry out."""

    entries: list[AuditEntry]
    deliveries: list[Outgoing] = field(default_factory=list)
    labels: list[LabelAsk] = field(default_factory=list)
    record_detention: bool = False
    stay_key: str | None = None
    apply_case: bool = True
    """Whether the event's own case change is applied (not for a superseded exclusion)."""
    scheduled: Scheduled | None = None


@dataclass(frozen=True)
class Inputs:
    """The client's state as it stood before the event, and the look-up's answer."""

    case: Case | None
    found: KedoLookupResult | None
    facts: PolicyFacts
    stay: Stay | None
    references: Mapping[str, str]
    """The label handle each partner has for this client already."""


@dataclass(frozen=True)
class Rules:
    """What decides, besides the client's state: the sharing policy, who may hold a
    BSN, the moment, and how a new label handle is made."""

    policy: Policy
    bsn_kinds: frozenset[str]
    now: dt.datetime
    mint: Callable[[], str]


def plan_event(
    envelope: Envelope, event: CanonicalEvent, inputs: Inputs, rules: Rules
) -> EventPlan:
    """The decision for a detention, case or signal event. The audit records are
    numbered from the event id, so the same inputs give the same plan."""
    planned = _plan(envelope, event, inputs, rules)
    numbered = [
        replace(entry, record_id=str(uuid.uuid5(RECORD_IDS, f"{envelope.id}|{n}")))
        for n, entry in enumerate(planned.entries)
    ]
    return replace(planned, entries=numbered)


def _plan(envelope: Envelope, event: CanonicalEvent, inputs: Inputs, rules: Rules) -> EventPlan:
    today = local_day(rules.now)
    notice = dispute(event, inputs.case, inputs.found, today)
    if notice is not None:
        return _disputed(envelope, event, notice, inputs, rules)
    due = isinstance(event, ClientExcluded) and envelope.source == HUB_SOURCE
    if isinstance(event, ClientExcluded) and due and not _still_due(event, inputs.case):
        return EventPlan([recorded(envelope, _superseded(event))], apply_case=False)
    context = case_context(event, inputs.case, inputs.found, today)
    if not context.team:
        return EventPlan([_no_case(envelope)])
    entries: list[AuditEntry] = []
    if isinstance(event, CaseEvent):
        entries.append(recorded(envelope, _case_change(event, today, due=due)))
    if isinstance(event, ClientExcluded) and event.excluded_on > today:
        return EventPlan(entries, scheduled=_on_its_day(envelope, event, rules))
    start: StartClassification | None = None
    if isinstance(event, DetentionStarted):
        start = classify_start(inputs.stay, event, envelope.id)
        entries.append(_classified(envelope, start))
        if not start.sends:
            return EventPlan(entries)
    message = Message.build(event, context)
    deliveries: list[Outgoing] = []
    asks: list[LabelAsk] = []
    medical = [n for n, spec in message.specs.items() if spec.category is DataCategory.MEDICAL]
    sender = sender_partner(envelope.source)
    everyone = with_break_glass(
        event,
        context,
        addressees(event, context, sender),
        inputs.facts.conflict_decisions,
        medical,
        rules.now,
        sender,
    )
    for addressee in everyone:
        action = LABEL_ACTIONS.get(addressee.flow)
        held = inputs.references.get(addressee.partner)
        reference = (held or rules.mint()) if action else held
        result = disclose(
            envelope=envelope,
            message=message,
            addressee=addressee,
            context=context,
            policy=rules.policy,
            facts=inputs.facts,
            may_hold_bsn=bsn_authorised(addressee.partner, rules.bsn_kinds),
            now=rules.now,
            label_reference=reference,
            correction=start is not None and start.kind is StartKind.CORRECTION,
        )
        entries.append(result.audit)
        outgoing = None
        if result.delivery is not None:
            outgoing = len(deliveries)
            deliveries.append(Outgoing(*result.delivery))
        if action is not None and reference is not None:
            asks.append(
                LabelAsk(
                    partner=addressee.partner,
                    action=action,
                    reference=reference,
                    delivery_id=result.audit.delivery_id,
                    outgoing=outgoing,
                    denied=None if outgoing is not None else _denial(result.decision),
                )
            )
    return EventPlan(
        entries,
        deliveries,
        asks,
        record_detention=isinstance(event, DetentionEvent),
        stay_key=start.stay_key if start is not None else None,
    )


def authority_problem(
    event: CanonicalEvent, case: Case | None, sender: str | None, today: dt.date
) -> str | None:
    """Why the ZVH that sent ``event`` may not say it about this client, or None. Only
    the ZVH with process direction records a client's consents, titles and
    conflict-of-duties decisions, excludes or hands the client over; another ZVH may
    include a client only when no ZVH has the client in the approach."""
    if case is None or sender is None or not sender.startswith("zvh:"):
        return None
    if isinstance(event, ClientIncluded) and not case.open_on(today):
        return None
    if isinstance(event, ConsentEvent | CaseEvent) and sender != case.zvh:
        return f"{sender} does not have process direction for this client; {case.zvh} has"
    return None


def recorded(envelope: Envelope, what: str, consent_id: str | None = None) -> AuditEntry:
    """The audit record of a state change that sends nothing."""
    return AuditEntry.about(
        envelope,
        action=Action.RECORD,
        outcome=AuditOutcome.RECORDED,
        object=what,
        consent_id=consent_id,
    )


def _disputed(
    envelope: Envelope,
    event: CanonicalEvent,
    notice: CaseDisputed,
    inputs: Inputs,
    rules: Rules,
) -> EventPlan:
    """The hub and KEDO disagree: nobody gets the detention; the ZVH procesregisseur
    gets a notice of label facts to resolve it, decided by the policy like any delivery,
    and the audit records the dispute."""
    entries = [
        AuditEntry.about(
            envelope,
            action=Action.DISPUTE,
            outcome=AuditOutcome.DISPUTED,
            object=_dispute_text(notice),
            missing=(DISPUTE_CODE,),
        )
    ]
    notice_envelope = _from_the_hub(envelope, notice, DISPUTE_NAMESPACE, rules.now)
    context = dispute_context(notice)
    addressee = Addressee(
        partner=notice.zvh,
        role=TeamRole.PROCESREGISSEUR,
        flow=flow_of(event),
        purpose=Purpose.LEVENSLOOPAANPAK,
        fields=DISPUTE_FIELDS,
    )
    result = disclose(
        envelope=notice_envelope,
        message=Message.build(notice, context),
        addressee=addressee,
        context=context,
        policy=rules.policy,
        facts=inputs.facts,
        may_hold_bsn=bsn_authorised(notice.zvh, rules.bsn_kinds),
        now=rules.now,
    )
    # Audited against the detention event that met the dispute, so a search by it finds both.
    entries.append(replace(result.audit, event_id=envelope.id))
    deliveries = [Outgoing(*result.delivery)] if result.delivery is not None else []
    return EventPlan(entries, deliveries)


def _dispute_text(notice: CaseDisputed) -> str:
    """What disagrees, in label terms only: never the detention itself."""
    dates = ", ".join(
        f"{name} {value}"
        for name, value in (
            ("included since", notice.included_since),
            ("excluded on", notice.excluded_on),
        )
        if value is not None
    )
    kedo_zvh = f" at {notice.kedo_zvh}" if notice.kedo_zvh else ""
    return (
        f"hub and KEDO disagree on {notice.met_by}: the hub says {notice.hub_says.value} at "
        f"{notice.zvh}{f' ({dates})' if dates else ''}, KEDO says {notice.kedo_says.value}"
        f"{kedo_zvh}; nothing forwarded, {notice.zvh} asked to resolve it"
    )


def _on_its_day(envelope: Envelope, event: ClientExcluded, rules: Rules) -> Scheduled:
    """The exclusion again, from the hub, at the first moment of its day."""
    return Scheduled(
        envelope=_from_the_hub(envelope, event, DUE_NAMESPACE, rules.now),
        event=event,
        due=day_start(event.excluded_on),
    )


def _from_the_hub(
    cause: Envelope, event: CanonicalEvent, namespace: uuid.UUID, now: dt.datetime
) -> Envelope:
    """An event the hub sends because of ``cause``: same client and correlation, an id
    derived from the cause's (so the same cause gives the same event)."""
    return Envelope.for_event(
        event,
        subject=cause.subject,
        source=HUB_SOURCE,
        correlation_id=cause.correlationid,
        causation_id=cause.id,
        event_id=str(uuid.uuid5(namespace, cause.id)),
        time=now,
        origin_time=cause.started,
    )


def _still_due(event: ClientExcluded, case: Case | None) -> bool:
    """An exclusion on its day still stands: the ZVH has not included the client again
    or dated the exclusion otherwise since."""
    return case is not None and case.status == EXCLUDED and case.excluded_on == event.excluded_on


def _superseded(event: ClientExcluded) -> str:
    return (
        f"exclusion at {event.zvh} of {event.excluded_on} superseded before its day "
        "(included again, or dated otherwise): nothing withdrawn"
    )


def _denial(decision: Decision) -> str:
    reasons = "; ".join(m.code for m in decision.missing) or "no field permitted"
    return f"the policy permitted nothing ({reasons})"


def _case_change(event: CaseEvent, today: dt.date, *, due: bool = False) -> str:
    if isinstance(event, ClientIncluded):
        return (
            f"case included at {event.zvh} since {event.included_since}, team of {len(event.team)}"
        )
    if isinstance(event, ClientExcluded) and due:
        return f"exclusion at {event.zvh} of {event.excluded_on} in effect: labels withdrawn"
    if isinstance(event, ClientExcluded) and event.excluded_on > today:
        return (
            f"case closes at {event.zvh} on {event.excluded_on} ({event.reason.value}); "
            "open until then, labels withdrawn on that day"
        )
    if isinstance(event, ClientExcluded):
        return f"case closed at {event.zvh} on {event.excluded_on} ({event.reason.value})"
    if isinstance(event, ClientMoved):
        return f"case moved from {event.from_zvh} to {event.to_zvh} on {event.moved_on}"
    return f"case event {event.event_type()}"


def _classified(envelope: Envelope, start: StartClassification) -> AuditEntry:
    """What a START is for its stay, so a second notice (or none) is explained."""
    return AuditEntry.about(
        envelope, action=Action.RECORD, outcome=start.kind.value, object=start.describe()
    )


def _no_case(envelope: Envelope) -> AuditEntry:
    return AuditEntry.about(
        envelope,
        action=Action.NO_CASE,
        outcome=AuditOutcome.NO_CASE,
        object=object_text(envelope.type, envelope.datacategories),
    )


@dataclass(frozen=True)
class Replanned:
    """Today's decision for a dead-lettered delivery: the delivery to send again (with
    what the decision still permits), or None when it denies it now."""

    explanation: str
    outcome: str
    fields: tuple[str, ...]
    removed_now: tuple[str, ...]
    delivery: Outgoing | None
    audit: AuditEntry


def replan(
    letter_id: str,
    envelope: Envelope,
    event: NotificationDelivery,
    case: Case | None,
    facts: PolicyFacts,
    rules: Rules,
) -> Replanned:
    """Decide a dead-lettered delivery again with the client's case and facts of now.
    The team is taken as it stood when the delivery was decided, unless the ZVH's
    exclusion has taken effect since (then only a label withdrawal, flow C, or a dispute
    notice to the ZVH may still go). Nothing is added that the first decision removed;
    the idempotency key stays."""
    in_team = (
        case is None
        or case.open_on(local_day(rules.now))
        or event.flow is Flow.C
        or event.source_type == CaseDisputed.event_type()
    )
    specs = field_specs(event.source_type)
    wanted = [specs[name] for name in event.content if name in specs]
    if event.bsn_permitted:
        wanted.append(specs[BSN_FIELD])
    decision = decide(
        policy_input(
            subject=envelope.subject,
            fields=wanted,
            recipient=Recipient(
                partner=event.recipient,
                role=TeamRole(event.recipient_role),
                in_team=in_team,
                may_hold_bsn=bsn_authorised(event.recipient, rules.bsn_kinds),
            ),
            purpose=Purpose(event.purpose),
            facts=facts,
            now=rules.now,
        ),
        rules.policy,
    )
    permitted = tuple(
        name for name in event.content if decision.field_verdicts.get(name) is Verdict.PERMIT
    )
    removed_now = tuple(name for name in event.content if name not in permitted)
    # Some rules (a label partner's) do not ask for the team; a replay after the client
    # left the approach still sends nothing but a withdrawal.
    left = not in_team
    if left or decision.outcome is Outcome.DENY or not permitted:
        missing = (
            "the client has left the approach since"
            if left
            else "; ".join(m.code for m in decision.missing) or "no field permitted"
        )
        return Replanned(
            f"the policy permits nothing now ({missing})",
            Outcome.DENY.value,
            (),
            removed_now,
            None,
            _replay_entry(letter_id, envelope, event, decision, (), Action.WITHHOLD),
        )
    replayed = event.model_copy(
        update={
            "content": {name: event.content[name] for name in permitted},
            "content_categories": {name: event.content_categories[name] for name in permitted},
            "removed_fields": tuple(dict.fromkeys((*event.removed_fields, *removed_now))),
            "bsn_permitted": event.bsn_permitted
            and decision.field_verdicts.get(BSN_FIELD) is Verdict.PERMIT,
            "decision": DecisionSummary(
                outcome=decision.outcome,
                legal_bases=decision.legal_bases,
                rule_ids=decision.rule_ids,
                policy_version=decision.policy_version,
                released_by=decision.released_by,
            ),
        }
    )
    new_envelope = Envelope.for_event(
        replayed,
        subject=envelope.subject,
        source=envelope.source,
        correlation_id=envelope.correlationid,
        causation_id=envelope.causationid,
        event_id=str(uuid.uuid5(REPLAY_NAMESPACE, letter_id)),
        time=rules.now,
        origin_time=envelope.started,
    )
    gone = f"; removed now: {', '.join(removed_now)}" if removed_now else ""
    return Replanned(
        f"{decision.outcome.value} for {event.recipient} with {len(permitted)} field(s){gone}",
        decision.outcome.value,
        permitted,
        removed_now,
        Outgoing(replayed, new_envelope),
        _replay_entry(letter_id, envelope, replayed, decision, permitted, Action.DISCLOSE),
    )


def _replay_entry(
    letter_id: str,
    envelope: Envelope,
    event: NotificationDelivery,
    decision: Decision,
    permitted: tuple[str, ...],
    action: str,
) -> AuditEntry:
    """The replay's decision, audited against the source event like the first one."""
    disclosed = action == Action.DISCLOSE
    entry = AuditEntry.about(
        envelope,
        action=action,
        object=f"replay of dead letter {letter_id}: "
        + object_text(event.source_type, event.categories_present()),
        outcome=decision.outcome.value if disclosed else Outcome.DENY.value,
        recipient=event.recipient,
        recipient_role=event.recipient_role,
        flow=event.flow.value,
        purpose=event.purpose,
        legal_bases=decision.legal_bases if disclosed else (),
        rule_ids=decision.rule_ids,
        policy_version=decision.policy_version,
        consent_id=decision.consent_id,
        disclosed_fields=permitted,
        removed_fields=decision.removed_fields,
        missing=tuple(m.code for m in decision.missing),
        delivery_id=event.idempotency_key,
    )
    return replace(
        entry,
        event_id=envelope.causationid or envelope.id,
        event_type=event.source_type,
        record_id=str(uuid.uuid5(RECORD_IDS, f"replay|{letter_id}")),
    )
