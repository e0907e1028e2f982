"""Server-side console sessions: the cookie holds a random token, the database its
SHA-256. Logout deletes the row, so a copied cookie dies with it; a session also ends
after ``max_age`` (absolute) or ``idle`` without a request. Every hub process sharing the
database sees the same sessions."""

from __future__ import annotations

import datetime as dt
import hashlib
import hmac
import secrets
from dataclasses import dataclass

from sqlalchemy import delete, or_
from sqlalchemy.ext.asyncio import AsyncSession

from hub.console.accounts import Role, Viewer
from hub.state.tables import ConsoleSession

TOUCH_EVERY = dt.timedelta(minutes=1)
"""How often a used session's last-seen time is written: idle expiry is this precise."""


@dataclass(frozen=True)
class Lifetime:
    max_age: dt.timedelta
    idle: dt.timedelta


def _hash(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def csrf_token(token: str) -> str:
    """The session's CSRF token: derived from the session token (a page can carry it, a
    cross-site page cannot know it), so it needs no storage of its own."""
    return hmac.new(token.encode(), b"ketenhub-console-csrf", hashlib.sha256).hexdigest()


async def start(session: AsyncSession, viewer: Viewer, now: dt.datetime) -> str:
    """A new session for ``viewer``; the token for the cookie (never stored)."""
    token = secrets.token_urlsafe(32)
    session.add(
        ConsoleSession(
            token_hash=_hash(token),
            username=viewer.name,
            role=viewer.role.value,
            partner=viewer.partner,
            created_at=now,
            seen_at=now,
        )
    )
    return token


async def find(
    session: AsyncSession, token: str, lifetime: Lifetime, now: dt.datetime
) -> Viewer | None:
    """The session's viewer while it lives (and it counts as used now); None otherwise."""
    row = await session.get(ConsoleSession, _hash(token))
    if row is None:
        return None
    if row.created_at + lifetime.max_age <= now or row.seen_at + lifetime.idle <= now:
        await session.delete(row)
        return None
    if now - row.seen_at >= TOUCH_EVERY:  # not a write for every page (flows refreshes)
        row.seen_at = now
    return Viewer(name=row.username, role=Role(row.role), partner=row.partner)


async def end(session: AsyncSession, token: str) -> None:
    await session.execute(delete(ConsoleSession).where(ConsoleSession.token_hash == _hash(token)))


async def prune(session: AsyncSession, lifetime: Lifetime, now: dt.datetime) -> None:
    """Delete the sessions that expired (they would be refused anyway)."""
    await session.execute(
        delete(ConsoleSession).where(
            or_(
                ConsoleSession.created_at <= now - lifetime.max_age,
                ConsoleSession.seen_at <= now - lifetime.idle,
            )
        )
    )
