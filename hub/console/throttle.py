"""Login throttling per account and per source address, shared through the database.

Each attempt is counted *before* its password is checked (a burst of parallel guesses
cannot slip past the limit), and given back when it succeeds. When an account reaches
``account_failures`` failures in the window, or a source address ``source_failures``,
that key is locked for ``lockout``: no password is checked for it, the right one
included, until the lockout ends.

The trade-off: a per-account lock lets anyone lock a known account for ``lockout``. The
per-source limit bounds that: one address locks at most ``source_failures //
account_failures`` accounts per window before it is locked itself, every lockout is
written to the audit trail and logged, and a lockout always ends by itself.
"""

from __future__ import annotations

import datetime as dt
import hashlib
from collections.abc import Sequence
from dataclasses import dataclass

from sqlalchemy import delete, select
from sqlalchemy.ext.asyncio import AsyncSession

from hub.state.database import upsert_insert
from hub.state.tables import ConsoleThrottle


@dataclass(frozen=True)
class Limits:
    account_failures: int
    source_failures: int
    window: dt.timedelta
    lockout: dt.timedelta


@dataclass(frozen=True)
class Key:
    """A throttled key: an account (by the hash of its name: typed names are never stored)
    or a source address, and how many failures lock it."""

    kind: str
    value: str
    limit: int

    @property
    def id(self) -> str:
        return f"{self.kind}:{self.value}"


def keys(username: str, source: str, limits: Limits) -> tuple[Key, Key]:
    account = hashlib.sha256(username.encode("utf-8", "replace")).hexdigest()
    return Key("account", account, limits.account_failures), Key(
        "source", source[:250], limits.source_failures
    )


async def _row(session: AsyncSession, key: Key, now: dt.datetime) -> ConsoleThrottle:
    insert = upsert_insert(session)
    await session.execute(
        insert(ConsoleThrottle)
        .values(key=key.id, failures=0, window_start=now, locked_until=None)
        .on_conflict_do_nothing(index_elements=["key"])
    )
    found = await session.execute(
        select(ConsoleThrottle).where(ConsoleThrottle.key == key.id).with_for_update()
    )
    return found.scalar_one()


async def admit(
    session: AsyncSession, wanted: Sequence[Key], limits: Limits, now: dt.datetime
) -> dt.datetime | None:
    """Count an attempt on every key; None when it may go on, else until when one of the
    keys is locked (nothing is counted then)."""
    rows = [await _row(session, key, now) for key in wanted]
    for row in rows:
        if row.locked_until is not None and row.locked_until <= now:
            row.locked_until = None
            row.failures = 0
            row.window_start = now
        elif row.window_start + limits.window <= now:
            row.failures = 0
            row.window_start = now
    locked = [row.locked_until for row in rows if row.locked_until is not None]
    if locked:
        return max(locked)
    full = [row for row, key in zip(rows, wanted, strict=True) if row.failures >= key.limit]
    if full:  # parallel attempts reached the limit; the lock follows their failure
        return now + limits.lockout
    for row in rows:
        row.failures += 1
    return None


async def failed(
    session: AsyncSession, wanted: Sequence[Key], limits: Limits, now: dt.datetime
) -> list[Key]:
    """The counted attempt failed: the keys this failure locks (each one once)."""
    locked = []
    for key in wanted:
        row = await _row(session, key, now)
        if row.locked_until is None and row.failures >= key.limit:
            row.locked_until = now + limits.lockout
            locked.append(key)
    return locked


async def succeeded(session: AsyncSession, wanted: Sequence[Key], now: dt.datetime) -> None:
    """The counted attempt was right: the account starts afresh; the source gets this
    attempt back (its other failures stand, so one good account cannot wash them)."""
    for key in wanted:
        row = await _row(session, key, now)
        row.failures = 0 if key.kind == "account" else max(0, row.failures - 1)


async def prune(session: AsyncSession, limits: Limits, now: dt.datetime) -> None:
    """Forget keys whose window and lockout are both over."""
    await session.execute(
        delete(ConsoleThrottle).where(
            ConsoleThrottle.window_start <= now - limits.window,
            (ConsoleThrottle.locked_until.is_(None)) | (ConsoleThrottle.locked_until <= now),
        )
    )
