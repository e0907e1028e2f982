"""What the sharing policy needs to know about a subject: consents, legal titles and
conflict-of-duties decisions, written from the ZVH's flow-H events.

A withdrawal marks the consent withdrawn in the same transaction that records it, so
the next message is decided without it (Mitz: withdrawal takes effect at once).
"""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import Collection
from dataclasses import dataclass
from typing import Any

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from hub.schemas.consent import (
    ConflictDecision,
    ConflictOfDutiesDecided,
    ConsentRecorded,
    ConsentWithdrawn,
    LegalTitle,
    LegalTitleRecorded,
    TitleKind,
)
from hub.state.tables import ConflictDecisionRecord, ConsentRecord, LegalTitleRecord


@dataclass(frozen=True)
class PolicyFacts:
    """A subject's consents (FHIR), titles and conflict-of-duties decisions, as recorded now."""

    consents: tuple[dict[str, Any], ...] = ()
    titles: tuple[LegalTitle, ...] = ()
    conflict_decisions: tuple[ConflictDecision, ...] = ()


async def record_consent(
    session: AsyncSession, subject: str, event: ConsentRecorded, event_id: str
) -> str:
    """Store (or replace) a consent; returns its id."""
    consent_id = str(event.consent["id"])
    await session.merge(
        ConsentRecord(
            consent_id=consent_id,
            subject=subject,
            resource=json.dumps(event.consent, sort_keys=True),
            recorded_at=dt.datetime.now(dt.UTC),
            withdrawn_at=None,
            event_id=event_id,
        )
    )
    return consent_id


async def withdraw_consent(session: AsyncSession, subject: str, event: ConsentWithdrawn) -> bool:
    """False when the subject has no such consent (the withdrawal is still audited)."""
    row = await session.get(ConsentRecord, event.consent_id)
    if row is None or row.subject != subject:
        return False
    row.withdrawn_at = event.withdrawn_at
    return True


async def record_title(
    session: AsyncSession, subject: str, event: LegalTitleRecorded, event_id: str
) -> None:
    await session.merge(
        LegalTitleRecord(
            title_id=event.title_id,
            subject=subject,
            kind=event.kind.value,
            issued_by=event.issued_by.value,
            includes_levensloopaanpak=event.includes_levensloopaanpak,
            valid_from=event.valid_from,
            valid_until=event.valid_until,
            event_id=event_id,
        )
    )


async def record_conflict_decision(
    session: AsyncSession, subject: str, event: ConflictOfDutiesDecided, event_id: str
) -> None:
    await session.merge(
        ConflictDecisionRecord(
            decision_id=event.decision_id,
            subject=subject,
            decided_by=event.decided_by.name,
            recipient=event.recipient,
            decided_at=event.decided_at,
            valid_until=event.valid_until,
            event_id=event_id,
        )
    )


async def load_policy_facts(session: AsyncSession, subject: str, now: dt.datetime) -> PolicyFacts:
    """The subject's facts that have not been withdrawn by ``now``; validity is the policy's job."""
    return (await policy_facts_among(session, [subject], now))[subject]


async def policy_facts_among(
    session: AsyncSession, subjects: Collection[str], now: dt.datetime
) -> dict[str, PolicyFacts]:
    """:func:`load_policy_facts` for every one of ``subjects``: one query per table."""
    wanted = list(subjects)
    consents: dict[str, list[dict[str, Any]]] = {s: [] for s in wanted}
    for row in await session.scalars(
        select(ConsentRecord).where(ConsentRecord.subject.in_(wanted))
    ):
        if row.withdrawn_at is None or row.withdrawn_at > now:
            consents[row.subject].append(json.loads(row.resource))
    titles: dict[str, list[LegalTitle]] = {s: [] for s in wanted}
    for t in await session.scalars(
        select(LegalTitleRecord).where(LegalTitleRecord.subject.in_(wanted))
    ):
        titles[t.subject].append(
            LegalTitle(
                title_id=t.title_id,
                kind=TitleKind(t.kind),
                includes_levensloopaanpak=t.includes_levensloopaanpak,
                valid_from=t.valid_from,
                valid_until=t.valid_until,
            )
        )
    decisions: dict[str, list[ConflictDecision]] = {s: [] for s in wanted}
    for d in await session.scalars(
        select(ConflictDecisionRecord).where(ConflictDecisionRecord.subject.in_(wanted))
    ):
        decisions[d.subject].append(
            ConflictDecision(
                decision_id=d.decision_id,
                decided_by=d.decided_by,
                recipient=d.recipient,
                decided_at=d.decided_at,
                valid_until=d.valid_until,
            )
        )
    return {
        s: PolicyFacts(
            consents=tuple(consents[s]),
            titles=tuple(titles[s]),
            conflict_decisions=tuple(decisions[s]),
        )
        for s in wanted
    }
