"""What the sharing policy needs to know about a subject: consents, legal titles and
conflict-of-duties decisions, written from the ZVH's flow-H events.

A withdrawal marks the consent withdrawn in the same transaction that records it, so
the next message is decided without it (Mitz: withdrawal takes effect at once, or at
the moment it names). An id is one client's: the same id for two clients names two
consents (titles, decisions), so one ZVH's choice of id never touches another client.
"""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import Collection
from dataclasses import dataclass

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from hub.core.errors import ContractError
from hub.schemas.consent import (
    ConflictDecision,
    ConflictOfDutiesDecided,
    ConsentRecorded,
    ConsentWithdrawn,
    LegalTitle,
    LegalTitleRecorded,
    TitleKind,
)
from hub.schemas.consent_profile import ConsentRule, ProfileError, read_consent
from hub.schemas.fhir import PSEUDONYM_SYSTEM
from hub.state.tables import ConflictDecisionRecord, ConsentRecord, LegalTitleRecord


@dataclass(frozen=True)
class PolicyFacts:
    """A subject's consents (read in the profile), titles and conflict-of-duties
    decisions, as recorded now; ``unreadable`` names stored consents the profile refuses."""

    consents: tuple[ConsentRule, ...] = ()
    titles: tuple[LegalTitle, ...] = ()
    conflict_decisions: tuple[ConflictDecision, ...] = ()
    unreadable: tuple[str, ...] = ()


async def record_consent(
    session: AsyncSession, subject: str, event: ConsentRecorded, event_id: str
) -> str:
    """Store (or replace) a consent bound to ``subject``; returns its id. A consent whose
    patient is another client is refused."""
    try:
        rule = read_consent(event.consent)
    except ProfileError as error:
        raise ContractError(error.reason, field=f"consent.{error.path}") from None
    if not rule.about(subject):
        raise ContractError("the Consent is about another client", field="consent.patient")
    consent_id = rule.consent_id
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
    row = await session.get(ConsentRecord, (subject, event.consent_id))
    if row is None:
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
            releases=json.dumps(list(event.releases)),
            reason=event.reason,
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
    consents: dict[str, list[ConsentRule]] = {s: [] for s in wanted}
    unreadable: dict[str, list[str]] = {s: [] for s in wanted}
    for row in await session.scalars(
        select(ConsentRecord).where(ConsentRecord.subject.in_(wanted))
    ):
        if row.withdrawn_at is None or row.withdrawn_at > now:
            rule = _stored_consent(row)
            if rule is None:
                unreadable[row.subject].append(row.consent_id)
            else:
                consents[row.subject].append(rule)
    titles: dict[str, list[LegalTitle]] = {s: [] for s in wanted}
    for t in await session.scalars(
        select(LegalTitleRecord).where(LegalTitleRecord.subject.in_(wanted))
    ):
        titles[t.subject].append(
            LegalTitle(
                subject=t.subject,
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
        released = tuple(json.loads(d.releases))
        if not released:
            continue
        decisions[d.subject].append(
            ConflictDecision(
                subject=d.subject,
                decision_id=d.decision_id,
                decided_by=d.decided_by,
                recipient=d.recipient,
                releases=released,
                reason=d.reason or "(recorded before reasons were kept)",
                decided_at=d.decided_at,
                valid_until=d.valid_until,
            )
        )
    return {
        s: PolicyFacts(
            consents=tuple(consents[s]),
            titles=tuple(titles[s]),
            conflict_decisions=tuple(decisions[s]),
            unreadable=tuple(unreadable[s]),
        )
        for s in wanted
    }


def _stored_consent(row: ConsentRecord) -> ConsentRule | None:
    """A stored consent read in the profile; one kept before consents named their patient
    is the row's client's. None when the profile refuses it (it then blocks every consent
    of the client, as it might have been an objection)."""
    resource = json.loads(row.resource)
    if isinstance(resource, dict) and "patient" not in resource:
        resource["patient"] = {"identifier": {"system": PSEUDONYM_SYSTEM, "value": row.subject}}
    try:
        rule = read_consent(resource)
    except ProfileError:
        return None
    return rule if rule.about(row.subject) else None
