"""The retention clock for people in no case.

When Injus reports a person who has no Levensloopaanpak case, the router decides
NO_CASE; the hub still holds their BSN link (the identity vault), their data keys and
perhaps a consent or title. Nothing entitles the hub to keep that: it goes a short while
(``HUB_ROUTING__NO_CASE_RETENTION_DAYS``) after the last event about them.

*In no case* means: the hub keeps no case of the subject (no case state, so never
included, or a case the ZVH never opened), no levensloopteam, no detention record (the
hub keeps one only for a client whose case the look-up found) and no label at a
partner. A closed case is not "no case": it has its own, longer clock
(``erase_closed_cases``). Nothing still waiting may lose its keys: a subject with an
accepted event the router has not settled, held-back work, or an open dead letter is
not due, whatever the clock says.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Collection

from sqlalchemy import exists, select, union
from sqlalchemy.ext.asyncio import AsyncSession

from hub.state.database import upsert_insert
from hub.state.letter_states import LetterState
from hub.state.tables import (
    AcceptedEvent,
    CaseState,
    DataKeyRecord,
    DeadLetterRecord,
    DetentionRecord,
    HeldItem,
    IdentityVaultEntry,
    LabelStatus,
    SubjectActivity,
    TeamMembership,
)


async def seen(session: AsyncSession, subjects: Collection[str], now: dt.datetime) -> None:
    """An event about each of ``subjects`` arrived at ``now``: their clock starts again."""
    if not subjects:
        return
    insert = upsert_insert(session)
    statement = insert(SubjectActivity).values(
        [{"subject": s, "last_event_at": now} for s in sorted(subjects)]
    )
    await session.execute(
        statement.on_conflict_do_update(
            index_elements=["subject"], set_={"last_event_at": statement.excluded.last_event_at}
        )
    )


async def follow(session: AsyncSession, old: str, new: str) -> None:
    """Before a client's state moves from ``old`` to ``new`` (a pseudonym-key rotation):
    a clock :func:`adopt` started under ``new`` already (a message under the new
    pseudonym came first) gives way to the moving one, which takes the later time."""
    there = await session.get(SubjectActivity, new)
    moving = await session.get(SubjectActivity, old)
    if there is None or moving is None:
        return
    moving.last_event_at = max(moving.last_event_at, there.last_event_at)
    await session.delete(there)
    await session.flush()


async def adopt(session: AsyncSession, now: dt.datetime) -> int:
    """Start the clock at ``now`` for every subject the hub holds a BSN or a live data
    key of and has no clock for (kept before the clock existed, or a key made for a
    message that was then refused); returns how many."""
    held = union(
        select(IdentityVaultEntry.subject),
        select(DataKeyRecord.subject).where(DataKeyRecord.wrapped.is_not(None)),
    ).subquery()
    clockless = list(
        await session.scalars(
            select(held.c.subject).where(~exists().where(SubjectActivity.subject == held.c.subject))
        )
    )
    await seen(session, clockless, now)
    return len(clockless)


async def no_case_before(session: AsyncSession, moment: dt.datetime) -> list[str]:
    """The subjects in no case whose last event came before ``moment`` and who have
    nothing waiting: those whose data the retention clock erases."""
    subject = SubjectActivity.subject
    rows = await session.scalars(
        select(subject)
        .where(
            SubjectActivity.last_event_at < moment,
            ~exists().where(CaseState.subject == subject),
            ~exists().where(TeamMembership.subject == subject),
            ~exists().where(DetentionRecord.subject == subject),
            ~exists().where(LabelStatus.subject == subject),
            ~exists().where(HeldItem.subject == subject),
            ~exists().where(AcceptedEvent.subject == subject),
            ~exists().where(
                DeadLetterRecord.subject == subject,
                DeadLetterRecord.state == LetterState.OPEN.value,
            ),
        )
        .order_by(subject)
    )
    return list(rows)
