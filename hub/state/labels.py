"""The label lifecycle at the label partners (flows B and C): what was asked of each
partner, and what the partner answered.

    router stages a set or withdrawal   → pending   (the delivery record is kept)
    outbound connector: partner says ok → set | withdrawn   (the record is dropped)
    outbound connector gives up         → failed, with the reason
    housekeeping: the partner is back   → pending again, the same delivery re-sent
    the policy permitted nothing        → failed, with the missing condition

Each partner knows the client by a ``reference`` the hub makes once per client and
partner (the police subscription id, the Iris melding id, the crisis Flag identifier),
so a signal that names it can be traced back to the client without a BSN.
"""

from __future__ import annotations

import datetime as dt
import json
import secrets
import uuid
from collections.abc import Collection, Sequence
from dataclasses import dataclass
from enum import StrEnum

from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession

from hub.core.record import KafkaRecord
from hub.schemas.labels import LabelState
from hub.state.tables import LabelStatus

REFERENCE_PREFIX = "lla-"
RESEND_NAMESPACE = uuid.UUID("7c1f6a0e-2b8d-4c31-9a57-3e0d5b9f4a22")
DONE = {LabelState.SET, LabelState.WITHDRAWN}


class LabelAction(StrEnum):
    SET = "set"
    WITHDRAW = "withdraw"


@dataclass(frozen=True)
class LabelView:
    subject: str
    partner: str
    state: LabelState
    action: LabelAction
    reference: str
    detail: str | None
    attempts: int
    resends: int
    requested_at: dt.datetime
    updated_at: dt.datetime

    def incomplete_after(self, now: dt.datetime, seconds: float) -> bool:
        """Still not where it was asked to be, ``seconds`` after it was asked."""
        late = (now - self.requested_at).total_seconds() >= seconds
        return self.state not in DONE and late


def _view(row: LabelStatus) -> LabelView:
    return LabelView(
        subject=row.subject,
        partner=row.partner,
        state=LabelState(row.state),
        action=LabelAction(row.action),
        reference=row.reference,
        detail=row.detail,
        attempts=row.attempts,
        resends=row.resends,
        requested_at=row.requested_at,
        updated_at=row.updated_at,
    )


async def references_among(
    session: AsyncSession, subjects: Collection[str]
) -> dict[str, dict[str, str]]:
    """Each partner's handle for each of ``subjects``: made once (:func:`new_reference`),
    kept across set and withdrawal. One query."""
    wanted = list(subjects)
    found: dict[str, dict[str, str]] = {s: {} for s in wanted}
    for row in await session.scalars(select(LabelStatus).where(LabelStatus.subject.in_(wanted))):
        found[row.subject][row.partner] = row.reference
    return found


def new_reference() -> str:
    """A new handle for a partner that has none for this client: random, so it says
    nothing of the client."""
    return REFERENCE_PREFIX + secrets.token_hex(16)


async def request(
    session: AsyncSession,
    *,
    subject: str,
    partner: str,
    action: LabelAction,
    reference: str,
    delivery_id: str | None,
    record: KafkaRecord | None,
    now: dt.datetime,
    denied: str | None = None,
) -> None:
    """Record what the router asked of ``partner``; ``denied`` is why nothing could go."""
    row = _row(subject, partner, reference, now)
    row.state = (LabelState.FAILED if denied else LabelState.PENDING).value
    row.action, row.delivery_id, row.detail = action.value, delivery_id, denied
    if record is not None:
        row.topic, row.key, row.value = record.topic, record.key, record.value
        row.headers = json.dumps(record.headers, sort_keys=True)
    await session.merge(row)


async def adopt(
    session: AsyncSession, *, subject: str, partner: str, reference: str, now: dt.datetime
) -> None:
    """Record a label ``partner`` already holds under ``reference``: one set before the
    hub kept track, or for a test that starts from a partner with labels."""
    row = _row(subject, partner, reference, now)
    row.state, row.action = LabelState.SET.value, LabelAction.SET.value
    await session.merge(row)


def _row(subject: str, partner: str, reference: str, now: dt.datetime) -> LabelStatus:
    """A fresh row: no delivery, no attempts, nothing kept."""
    return LabelStatus(
        subject=subject,
        partner=partner,
        reference=reference,
        delivery_id=None,
        detail=None,
        attempts=0,
        resends=0,
        requested_at=now,
        updated_at=now,
        topic=None,
        key=None,
        value=None,
        headers=None,
    )


async def _current(session: AsyncSession, delivery_id: str) -> LabelStatus | None:
    """The row whose latest request is ``delivery_id``; None for an older request."""
    rows = await session.scalars(select(LabelStatus).where(LabelStatus.delivery_id == delivery_id))
    return rows.first()


async def acknowledge(
    session: AsyncSession,
    delivery_id: str,
    *,
    delivered: bool,
    attempts: int,
    now: dt.datetime,
    retryable: bool = False,
    detail: str | None = None,
) -> bool:
    """The outbound connector's outcome for one label delivery; False when it answers a
    request that a later one replaced (a withdrawal overtook the set).

    A delivery that failed for a reason that may pass (the partner was down) keeps its
    record for a re-send; one the partner refused does not, and waits for a person.
    """
    row = await _current(session, delivery_id)
    if row is None:
        return False
    row.attempts += attempts
    row.updated_at = now
    if delivered:
        done = LabelState.SET if row.action == LabelAction.SET else LabelState.WITHDRAWN
        row.state, row.detail = done.value, None
        row.topic = row.key = row.value = row.headers = None
    else:
        row.state, row.detail = LabelState.FAILED.value, detail
        if not retryable:
            row.topic = row.key = row.value = row.headers = None
    return True


async def note_attempt(
    session: AsyncSession, delivery_id: str, *, attempt: int, detail: str, now: dt.datetime
) -> None:
    """A try that failed and will be retried: the label stays pending, with the reason."""
    row = await _current(session, delivery_id)
    if row is not None and row.state == LabelState.PENDING:
        row.detail = f"attempt {attempt} failed: {detail}"
        row.updated_at = now


async def resolve(session: AsyncSession, partner: str, reference: str) -> str | None:
    """The subject ``partner`` holds a label for under ``reference``; None when that
    label was never set or has been withdrawn."""
    row = await session.scalar(
        select(LabelStatus).where(
            LabelStatus.partner == partner,
            LabelStatus.reference == reference,
            LabelStatus.action == LabelAction.SET.value,
        )
    )
    return row.subject if row is not None else None


async def status(session: AsyncSession, subjects: Sequence[str] | None = None) -> list[LabelView]:
    statement = select(LabelStatus).order_by(LabelStatus.subject, LabelStatus.partner)
    if subjects is not None:
        statement = statement.where(LabelStatus.subject.in_(list(subjects)))
    return [_view(row) for row in await session.scalars(statement)]


async def incomplete(session: AsyncSession, *, older_than: dt.datetime) -> int:
    """How many sets and withdrawals were asked before ``older_than`` and are still not
    acknowledged (the same rule as :meth:`LabelView.incomplete_after`)."""
    count = await session.scalar(
        select(func.count())
        .select_from(LabelStatus)
        .where(
            LabelStatus.state.not_in([s.value for s in DONE]),
            LabelStatus.requested_at <= older_than,
        )
    )
    return int(count or 0)


@dataclass(frozen=True)
class Resend:
    subject: str
    partner: str
    record: KafkaRecord


async def failed_deliveries(session: AsyncSession) -> list[Resend]:
    """Label deliveries the outbound connector gave up on, each as a fresh record: the
    same delivery (and idempotency key) under a new event id, so the connector takes it
    up again and the partner, should it have it already, sees a repeat."""
    rows = await session.scalars(
        select(LabelStatus).where(
            LabelStatus.state == LabelState.FAILED.value, LabelStatus.value.is_not(None)
        )
    )
    out = []
    for row in rows:
        if row.topic is None or row.key is None or row.value is None:
            continue
        headers = json.loads(row.headers or "{}")
        original = headers.get("ce_id", row.delivery_id)
        headers["ce_id"] = str(uuid.uuid5(RESEND_NAMESPACE, f"{original}|{row.resends + 1}"))
        out.append(
            Resend(row.subject, row.partner, KafkaRecord(row.topic, row.key, row.value, headers))
        )
    return out


async def resent(session: AsyncSession, subject: str, partner: str, now: dt.datetime) -> None:
    row = await session.get(LabelStatus, (subject, partner))
    if row is not None and row.state == LabelState.FAILED:
        row.state = LabelState.PENDING.value
        row.resends += 1
        row.detail = f"re-sent ({row.resends}) after {partner} answered its health check again"
        row.updated_at = now
