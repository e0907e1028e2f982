"""Case state per subject: the ZVH, the status and the levensloopteam.

The router reads it to decide who may receive a signal; the case projector writes it
from the ZVH's inclusion, exclusion and move events. An exclusion takes effect on its
date, a calendar day in Europe/Amsterdam: one dated ahead is recorded at once, and the
case (with its team) stays open until that day.
"""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import Collection
from dataclasses import dataclass, field

from sqlalchemy import delete, select
from sqlalchemy.ext.asyncio import AsyncSession

from hub.core.calendar import local_day
from hub.schemas.base import CanonicalEvent
from hub.schemas.case import ClientExcluded, ClientIncluded, ClientMoved, TeamMember, TeamRole
from hub.schemas.common import Contact
from hub.schemas.partners import role_refusal
from hub.state.tables import CaseState, TeamMembership

INCLUDED = "included"
EXCLUDED = "excluded"


@dataclass(frozen=True)
class Case:
    subject: str
    status: str
    zvh: str
    municipality: str | None
    included_since: dt.date | None
    team: tuple[TeamMember, ...]
    contacts: dict[TeamRole, Contact] = field(default_factory=dict)
    excluded_on: dt.date | None = None
    """The day a recorded exclusion takes effect; the case is open before it."""

    @property
    def included(self) -> bool:
        """No exclusion is on record (whatever its date)."""
        return self.status == INCLUDED

    def open_on(self, day: dt.date) -> bool:
        """The client is in the approach on ``day``: included, or excluded from a later day."""
        return self.included or (self.excluded_on is not None and day < self.excluded_on)

    def closed_on(self, day: dt.date) -> bool:
        """An exclusion is on record and in effect on ``day``."""
        return self.status == EXCLUDED and not self.open_on(day)

    def is_member(self, partner: str) -> bool:
        return any(m.partner == partner for m in self.team)


def _contacts_json(contacts: dict[TeamRole, Contact]) -> str:
    return json.dumps(
        {role.value: c.model_dump(mode="json") for role, c in contacts.items()}, sort_keys=True
    )


def _contacts(text: str | None) -> dict[TeamRole, Contact]:
    raw = json.loads(text) if text else {}
    return {TeamRole(role): Contact.model_validate(c) for role, c in raw.items()}


async def apply_inclusion(
    session: AsyncSession, subject: str, event: ClientIncluded, event_id: str
) -> None:
    await session.merge(
        CaseState(
            subject=subject,
            status=INCLUDED,
            zvh=event.zvh,
            municipality=event.municipality,
            included_since=event.included_since,
            excluded_on=None,
            contacts=_contacts_json(
                {
                    TeamRole.LEVENSLOOPCOORDINATOR: event.llc,
                    TeamRole.CASUSREGISSEUR: event.casusregisseur,
                    TeamRole.PROCESREGISSEUR: event.procesregisseur,
                }
            ),
            updated_at=dt.datetime.now(dt.UTC),
            last_event_id=event_id,
        )
    )
    await session.execute(delete(TeamMembership).where(TeamMembership.subject == subject))
    for member in dict.fromkeys(event.team):
        session.add(
            TeamMembership(
                subject=subject,
                partner=member.partner,
                role=member.role.value,
                since=event.included_since,
            )
        )


async def _stamped(session: AsyncSession, subject: str, event_id: str) -> CaseState | None:
    """The subject's case row, marked as changed by ``event_id``; None without a case."""
    state = await session.get(CaseState, subject)
    if state is not None:
        state.updated_at = dt.datetime.now(dt.UTC)
        state.last_event_id = event_id
    return state


async def apply_exclusion(
    session: AsyncSession, subject: str, event: ClientExcluded, event_id: str, today: dt.date
) -> None:
    """The exclusion is on record at once; the team dissolves on its date (today, or when
    the router routes it again on that day), and nothing is sent to its members after."""
    state = await _stamped(session, subject, event_id)
    if state is None:
        return
    state.status = EXCLUDED
    state.excluded_on = event.excluded_on
    if event.excluded_on <= today:
        await session.execute(delete(TeamMembership).where(TeamMembership.subject == subject))


async def apply_move(
    session: AsyncSession, subject: str, event: ClientMoved, event_id: str
) -> None:
    """Process direction moves to the new ZVH, which replaces the old one in the team."""
    state = await _stamped(session, subject, event_id)
    if state is None:
        return
    state.zvh = event.to_zvh
    contacts = _contacts(state.contacts)
    contacts[TeamRole.PROCESREGISSEUR] = event.procesregisseur
    state.contacts = _contacts_json(contacts)
    await session.execute(
        delete(TeamMembership).where(
            TeamMembership.subject == subject, TeamMembership.partner == event.from_zvh
        )
    )
    await session.merge(
        TeamMembership(
            subject=subject,
            partner=event.to_zvh,
            role=TeamRole.PROCESREGISSEUR.value,
            since=event.moved_on,
        )
    )


async def load_case(session: AsyncSession, subject: str) -> Case | None:
    return (await cases_among(session, [subject])).get(subject)


async def cases_among(session: AsyncSession, subjects: Collection[str]) -> dict[str, Case]:
    """The case of each of ``subjects`` that has one: one query per table."""
    wanted = list(subjects)
    states = await session.scalars(select(CaseState).where(CaseState.subject.in_(wanted)))
    members: dict[str, list[TeamMembership]] = {s: [] for s in wanted}
    for row in await session.scalars(
        select(TeamMembership).where(TeamMembership.subject.in_(wanted))
    ):
        members[row.subject].append(row)
    return {
        state.subject: Case(
            subject=state.subject,
            status=state.status,
            zvh=state.zvh,
            municipality=state.municipality,
            included_since=state.included_since,
            team=tuple(
                # Checked here, once: a row kept before the rule of roles by kind is no
                # member; the rest were validated when they were written.
                TeamMember.model_construct(partner=r.partner, role=TeamRole(r.role))
                for r in sorted(members[state.subject], key=lambda r: (r.role, r.partner))
                if role_refusal(r.partner, TeamRole(r.role)) is None
            ),
            contacts=_contacts(state.contacts),
            excluded_on=state.excluded_on,
        )
        for state in states
    }


async def apply(
    session: AsyncSession,
    subject: str,
    event: CanonicalEvent,
    event_id: str,
    *,
    today: dt.date | None = None,
) -> None:
    """Apply a case event in the caller's transaction (the caller claims the event id).
    ``today`` is the router's day (Europe/Amsterdam); the machine's day by default."""
    if isinstance(event, ClientIncluded):
        await apply_inclusion(session, subject, event, event_id)
    elif isinstance(event, ClientExcluded):
        day = today or local_day(dt.datetime.now(dt.UTC))
        await apply_exclusion(session, subject, event, event_id, day)
    elif isinstance(event, ClientMoved):
        await apply_move(session, subject, event, event_id)


async def closed_before(session: AsyncSession, moment: dt.datetime) -> list[str]:
    """The clients whose case was closed (excluded) before ``moment``."""
    return list(
        await session.scalars(
            select(CaseState.subject).where(
                CaseState.status == EXCLUDED, CaseState.updated_at < moment
            )
        )
    )
