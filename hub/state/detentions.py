"""Detention data the hub keeps for an included client: where the client is held, and
when that must be erased. Bjsg art. 11a bis: at the latest six months after release.

Only clients in a case get a record; the hub keeps nothing of a detention that had no
case. The erasure job is :func:`erase_due`, driven by a clock the caller passes in.
"""

from __future__ import annotations

import calendar
import datetime as dt

from sqlalchemy import delete, select
from sqlalchemy.ext.asyncio import AsyncSession

from hub.schemas.detention import (
    DetentionEnded,
    DetentionEvent,
    DetentionLeave,
    DetentionStarted,
    DetentionTransferred,
)
from hub.state.tables import DetentionRecord

RETENTION_MONTHS = 6


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


async def record(
    session: AsyncSession,
    subject: str,
    event: DetentionEvent,
    event_id: str,
    *,
    retention_months: int = RETENTION_MONTHS,
) -> None:
    """Keep where the client is; a release schedules the erasure."""
    row = await session.get(DetentionRecord, subject)
    if row is None:
        row = DetentionRecord(subject=subject, since=_first_day(event))
        session.add(row)
    row.facility_code = event.facility.code
    row.facility_name = event.facility.name
    row.last_event_id = event_id
    if isinstance(event, DetentionStarted | DetentionTransferred):
        row.since = _first_day(event)
        row.released_on = None
        row.erase_after = None
    if isinstance(event, DetentionEnded):
        row.released_on = event.end_date
        row.erase_after = months_after(event.end_date, retention_months)


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
