"""A property of the one routing path: for any sequence of case, consent, detention and
signal events about a few clients, routing them as one fetch has the outcome of routing
them one at a time (each a batch of one, through the same code): the same decisions
and audit records, the same deliveries with the same content, and the same label state.

The oracle is the event-at-a-time run, not a copy of the router: what a batch adds
(one transaction, the look-ups at once, one audit append, held clients within the
batch) must not change any outcome.
"""

from __future__ import annotations

import datetime as dt
import tempfile
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlalchemy import select

from hub.bus.codec import decode
from hub.routing.lookup import StaticCaseLookup
from hub.routing.router import Incoming, RouteResult
from hub.schemas.base import CanonicalEvent
from hub.schemas.case import (
    ClientExcluded,
    ClientIncluded,
    ClientMoved,
    ExclusionReason,
    TeamMember,
    TeamRole,
)
from hub.schemas.common import Facility
from hub.schemas.consent import ConsentRecorded, ConsentWithdrawn
from hub.schemas.deliveries import NotificationDelivery
from hub.schemas.detention import DetentionEnded
from hub.schemas.envelope import Envelope, partner_source
from hub.state.database import make_engine, migrate
from hub.state.tables import LabelStatus
from tests.data import (
    PROCESREGISSEUR,
    TEST_BSNS,
    client_included,
    crisis_contact,
    detention_started,
    fhir_consent,
    kedo_hit,
    pseudonymiser,
)
from tests.integration.test_router import NOW, Hub

SUBJECTS = [pseudonymiser().pseudonym(bsn) for bsn in TEST_BSNS[:3]]
"""The first has a KEDO case, the second is included by its ZVH, the third has neither."""
VUGHT = Facility(code="PI-VUG", name="PI Vught")
LABELLED_TEAM = (
    *client_included().team,
    TeamMember(partner="politie", role=TeamRole.POLITIE),
    TeamMember(partner="reclassering", role=TeamRole.RECLASSERING),
)


def _event(kind: str, n: int, who: int) -> tuple[CanonicalEvent, str]:
    """Event ``kind`` (the n-th of the sequence) and its sender."""
    started = detention_started(
        source_event_id=f"INJUS-{n}", facility=VUGHT if n % 3 == 0 else detention_started().facility
    )
    events: dict[str, tuple[CanonicalEvent, str]] = {
        "include": (client_included(team=LABELLED_TEAM), "zvh:amsterdam"),
        "exclude": (
            ClientExcluded(
                zvh="zvh:amsterdam",
                reason=ExclusionReason.STABLE_TWO_YEARS,
                excluded_on=dt.date(2028, 1, 1),
            ),
            "zvh:amsterdam",
        ),
        "move": (
            ClientMoved(
                from_zvh="zvh:amsterdam",
                to_zvh="zvh:utrecht",
                moved_on=dt.date(2027, 1, 1),
                procesregisseur=PROCESREGISSEUR,
            ),
            "zvh:amsterdam",
        ),
        "consent": (
            ConsentRecorded(
                consent=fhir_consent(f"c-{who}", actor="llz:fivoor", patient=SUBJECTS[who])
            ),
            "zvh:amsterdam",
        ),
        "withdraw": (ConsentWithdrawn(consent_id=f"c-{who}", withdrawn_at=NOW), "zvh:amsterdam"),
        "start": (started, "dji"),
        "end": (
            DetentionEnded(
                **detention_started().model_dump(exclude={"start_date", "source_event_id"}),
                source_event_id=f"INJUS-E{n}",
                end_date=dt.date(2026, 12, 1),
                release_municipality="GM0363",
            ),
            "dji",
        ),
        "crisis": (crisis_contact(), "crisis:amsterdam"),
    }
    return events[kind]


KINDS = ["include", "exclude", "move", "consent", "withdraw", "start", "end", "crisis"]
SEQUENCES = st.lists(
    st.tuples(st.sampled_from(KINDS), st.integers(0, len(SUBJECTS) - 1), st.booleans()),
    min_size=1,
    max_size=10,
)


def _incoming(sequence: Sequence[tuple[str, int, bool]]) -> list[Incoming]:
    """The events, each once, and some twice (a redelivery within the fetch). A ZVH's
    event comes from the ZVH that has the client (after a move, the new one), as the
    router refuses one from another ZVH."""
    items: list[Incoming] = []
    holder: dict[int, str] = {}
    for n, (kind, who, again) in enumerate(sequence):
        event, sender = _event(kind, n, who)
        if sender.startswith("zvh:"):
            sender = holder.get(who, sender)
            if isinstance(event, ClientIncluded):
                holder[who] = event.zvh
            elif isinstance(event, ClientMoved) and who in holder:
                holder[who] = event.to_zvh
        envelope = Envelope.for_event(
            event,
            subject=SUBJECTS[who],
            source=partner_source(sender),
            event_id=f"e{n}",
            time=NOW,
        )
        items.append(Incoming(envelope, event))
        if again:
            items.append(items[-1])
    return items


async def _outcome(
    directory: Path, name: str, items: list[Incoming], *, one_at_a_time: bool
) -> dict[str, Any]:
    engine = make_engine(f"sqlite+aiosqlite:///{directory}/{name}.db")
    await migrate(engine)
    try:
        hub = Hub(engine, StaticCaseLookup({SUBJECTS[0]: kedo_hit()}))
        results: list[RouteResult] = []
        if one_at_a_time:
            for item in items:
                results += await hub.router.route_batch([item])
        else:
            results = await hub.router.route_batch(items)
        await hub.router.flush()
        deliveries = []
        for record in hub.sent:
            envelope, delivery = decode(record.headers, record.value)
            assert isinstance(delivery, NotificationDelivery)
            deliveries.append(
                (
                    envelope.causationid,
                    delivery.recipient,
                    delivery.flow.value,
                    delivery.content,
                    delivery.removed_fields,
                    delivery.bsn_permitted,
                    delivery.correction,
                    delivery.idempotency_key,
                )
            )
        audit = [
            (
                r["event_id"],
                r["action"],
                r["outcome"],
                r["recipient"],
                r["object"],
                r["disclosed_fields"],
                r["removed_fields"],
                r["delivery_id"],
            )
            for r in await hub.records()
        ]
        async with hub.sessions() as session:
            rows = await session.scalars(select(LabelStatus))
            label_state = sorted((r.subject, r.partner, r.state, r.action) for r in rows)
        return {
            "results": [(r.duplicate, r.parked, r.staged, len(r.audit_seqs)) for r in results],
            "audit": audit,
            "deliveries": deliveries,
            "labels": label_state,
        }
    finally:
        await engine.dispose()


@settings(
    max_examples=20,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(sequence=SEQUENCES)
async def test_a_fetch_routes_as_its_events_one_at_a_time(
    sequence: list[tuple[str, int, bool]],
) -> None:
    items = _incoming(sequence)
    with tempfile.TemporaryDirectory() as directory:
        batch = await _outcome(Path(directory), "batch", items, one_at_a_time=False)
        single = await _outcome(Path(directory), "single", items, one_at_a_time=True)
    assert batch == single
    assert any(not duplicate for duplicate, *_ in batch["results"]), "something was decided"
