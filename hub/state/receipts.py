"""Delivery receipts: the last stage of a flow, as the console's trace shows it."""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from dataclasses import dataclass

from sqlalchemy import delete, insert, select
from sqlalchemy.ext.asyncio import AsyncSession

from hub.state.tables import DeliveryReceipt


@dataclass(frozen=True)
class Receipt:
    delivery_id: str
    correlation_id: str
    connector: str
    recipient: str
    flow: str
    outcome: str
    attempts: int
    seconds: float
    detail: str | None
    finished_at: dt.datetime
    trace_id: str | None = None
    """The OpenTelemetry trace the delivery ran in, for the console's trace page."""


async def record(session: AsyncSession, written: Sequence[Receipt]) -> None:
    """Write ``written`` with one statement (the ORM inserted a row at a time, to read
    back each row's number)."""
    if written:
        await session.execute(insert(DeliveryReceipt), [r.__dict__ for r in written])


async def for_flows(session: AsyncSession, correlation_ids: Sequence[str]) -> list[Receipt]:
    rows = await session.scalars(
        select(DeliveryReceipt)
        .where(DeliveryReceipt.correlation_id.in_(list(correlation_ids)))
        .order_by(DeliveryReceipt.seq)
    )
    return [_receipt(r) for r in rows]


async def since(session: AsyncSession, moment: dt.datetime) -> list[Receipt]:
    rows = await session.scalars(
        select(DeliveryReceipt)
        .where(DeliveryReceipt.finished_at >= moment)
        .order_by(DeliveryReceipt.seq)
    )
    return [_receipt(r) for r in rows]


def _receipt(row: DeliveryReceipt) -> Receipt:
    return Receipt(
        delivery_id=row.delivery_id,
        correlation_id=row.correlation_id,
        connector=row.connector,
        recipient=row.recipient,
        flow=row.flow,
        outcome=row.outcome,
        attempts=row.attempts,
        seconds=row.seconds,
        detail=row.detail,
        finished_at=row.finished_at,
        trace_id=row.trace_id,
    )


async def prune(session: AsyncSession, finished_before: dt.datetime) -> int:
    """Drop the receipts of deliveries finished before ``finished_before``; returns how
    many. The audit trail, not the receipts, is the record of what was shared."""
    result = await session.execute(
        delete(DeliveryReceipt).where(DeliveryReceipt.finished_at < finished_before)
    )
    return int(result.rowcount)  # type: ignore[attr-defined]
