"""Detention data the hub keeps for an included client: where the client is held, which
stay that is, and when it must be erased. Bjsg art. 11a bis: at the latest six months
after release.

A *stay* is one uninterrupted detention of one person, from START to EINDE. Injus gives
it no id: its eventId names one message (a START sent again has a new one), the SKN
names the person in the criminal chain, and the PI and the start date are what a
correction may change. So the hub names a stay by the id of the event that opened it:
stable across repeats and corrections, and free of justice content, so the audit may
carry it. Which stay a START belongs to is :func:`hub.routing.stays.classify_start`'s
decision, made from the :class:`Stay` this module reads.

Only clients in a case get a record; the hub keeps nothing of a detention that had no
case. The erasure job is :func:`erase_due`, driven by a clock the caller passes in.
"""

from __future__ import annotations

import calendar
import datetime as dt
from collections.abc import Collection
from dataclasses import dataclass
from typing import Any

from sqlalchemy import bindparam, delete, func, insert, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from hub.schemas.detention import (
    DetentionEnded,
    DetentionEvent,
    DetentionLeave,
    DetentionStarted,
    DetentionTransferred,
)
from hub.state.tables import DetentionRecord, table

RETENTION_MONTHS = 6

_RECORDS = table(DetentionRecord)
_STAYS = select(
    _RECORDS.c.subject,
    _RECORDS.c.stay_key,
    _RECORDS.c.released_on,
    _RECORDS.c.start_event_id,
    _RECORDS.c.start_digest,
).where(_RECORDS.c.subject.in_(bindparam("subjects", expanding=True)))
_NEW_RECORD = insert(_RECORDS)
"""Built once, as the hot path's other statements (see hub.state.idempotency)."""


def months_after(day: dt.date, months: int) -> dt.date:
    """The same day ``months`` later, or the month's last day when it has no such day."""
    index = day.month - 1 + months
    year, month = day.year + index // 12, index % 12 + 1
    return dt.date(year, month, min(day.day, calendar.monthrange(year, month)[1]))


def _first_day(event: DetentionEvent) -> dt.date:
    if isinstance(event, DetentionStarted):
        return event.start_date
    if isinstance(event, DetentionTransferred):
        return event.transfer_date
    if isinstance(event, DetentionLeave):
        return event.leave_start
    assert isinstance(event, DetentionEnded)
    return event.end_date


@dataclass(frozen=True)
class Stay:
    """A subject's stay as its record stood before an event: all a START's classification
    reads, so that deciding needs no database."""

    key: str
    released_on: dt.date | None
    start_event_id: str | None
    """The START (or correction) partners last had of this stay; None: none yet."""
    start_digest: str | None
    """Its content digest; None when not known."""


async def stay_of(session: AsyncSession, subject: str) -> Stay | None:
    """The subject's last known stay, or None when the hub keeps no detention of them."""
    return (await stays_among(session, [subject])).get(subject)


async def stays_among(session: AsyncSession, subjects: Collection[str]) -> dict[str, Stay]:
    """The last known stay of each of ``subjects`` that has one: one query, of columns
    (no ORM objects, so a later read in the same transaction sees :func:`record`'s
    writes)."""
    rows = await session.execute(_STAYS, {"subjects": list(subjects)})
    return {
        subject: Stay(
            key=key, released_on=released_on, start_event_id=start_event_id, start_digest=digest
        )
        for subject, key, released_on, start_event_id, digest in rows
    }


async def record(
    session: AsyncSession,
    subject: str,
    event: DetentionEvent,
    event_id: str,
    *,
    current: Stay | None,
    stay_key: str | None = None,
    retention_months: int = RETENTION_MONTHS,
) -> None:
    """Keep where the client is and in which stay; a release schedules the erasure.

    ``current`` is the subject's stay as its record stands (:func:`stays_among`), None
    where there is no record: one write, no read. ``stay_key`` is the stay a START
    belongs to, as its classification said (None: a stay of its own). Only a new stay
    undoes a release: a late correction of a stay that has ended keeps its erasure date.
    Other events keep the record's stay, or open one where there is none, or where a
    transfer follows a release (a stay whose START the hub never saw).
    """
    key = current.key if current is not None else event_id
    if isinstance(event, DetentionStarted):
        opens = (stay_key or event_id) != key
    else:
        opens = isinstance(event, DetentionTransferred) and (
            current is not None and current.released_on is not None
        )
    changes: dict[str, Any] = {}
    if opens:
        changes.update(
            stay_key=stay_key or event_id,
            start_event_id=None,
            start_digest=None,
            released_on=None,
            erase_after=None,
        )
    changes.update(
        facility_code=event.facility.code,
        facility_name=event.facility.name,
        last_event_id=event_id,
    )
    if isinstance(event, DetentionStarted):
        changes.update(start_event_id=event_id, start_digest=event.content_digest())
    if isinstance(event, DetentionStarted | DetentionTransferred):
        changes["since"] = _first_day(event)
    if isinstance(event, DetentionEnded):
        changes.update(
            released_on=event.end_date,
            erase_after=months_after(event.end_date, retention_months),
        )
    if current is None:
        new = {
            "subject": subject,
            "since": _first_day(event),
            "stay_key": key,
            "start_event_id": None,
            "start_digest": None,
            "released_on": None,
            "erase_after": None,
        }
        await session.execute(_NEW_RECORD, {**new, **changes})
    else:
        await session.execute(
            update(_RECORDS).where(_RECORDS.c.subject == subject).values(**changes)
        )


async def erase_due(session: AsyncSession, today: dt.date) -> list[str]:
    """Erase every record whose erasure date has come; returns whose they were."""
    due = list(
        await session.scalars(
            select(DetentionRecord.subject).where(DetentionRecord.erase_after <= today)
        )
    )
    if due:
        await session.execute(delete(DetentionRecord).where(DetentionRecord.subject.in_(due)))
    return due


async def overdue(session: AsyncSession, today: dt.date) -> int:
    """How many records are past their erasure date: the retention pass erases them on
    it, so any left a day later mean the pass is not running (an alert)."""
    count = await session.scalar(
        select(func.count())
        .select_from(DetentionRecord)
        .where(DetentionRecord.erase_after < today - dt.timedelta(days=1))
    )
    return int(count or 0)
