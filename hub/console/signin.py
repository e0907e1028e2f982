"""Signing in with a console account, for the console's login form and the management
API alike: throttled per account and per source address, the password checked off the
event loop (a few at once), a refusal and a lockout written to the audit trail (never
the password), a session started on success."""

from __future__ import annotations

import datetime as dt
import math
import uuid
from dataclasses import dataclass

import anyio
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from hub.clock import Clock
from hub.console import accounts, throttle
from hub.console import sessions as console_sessions
from hub.console.accounts import Viewer
from hub.core.errors import TooManyRequests
from hub.logs import get_logger
from hub.settings import ConsoleSettings
from hub.state import audit

log = get_logger(__name__)


@dataclass(frozen=True)
class SignedIn:
    viewer: Viewer
    token: str


@dataclass(frozen=True)
class Refused:
    """Wrong name or password."""


@dataclass(frozen=True)
class LockedOut:
    retry_after_s: int


class SignIn:
    def __init__(
        self,
        sessions: async_sessionmaker[AsyncSession],
        settings: ConsoleSettings,
        clock: Clock,
    ):
        self._sessions = sessions
        self._settings = settings
        self._clock = clock
        self.lifetime = console_sessions.Lifetime(
            max_age=dt.timedelta(seconds=settings.session_max_age_s),
            idle=dt.timedelta(seconds=settings.session_idle_s),
        )
        self._limits = throttle.Limits(
            account_failures=settings.login_max_failures,
            source_failures=settings.login_source_max_failures,
            window=dt.timedelta(seconds=settings.login_window_s),
            lockout=dt.timedelta(seconds=settings.lockout_s),
        )
        self._hashes = anyio.CapacityLimiter(settings.max_concurrent_hashes)

    async def attempt(
        self, username: str, password: str, source: str
    ) -> SignedIn | Refused | LockedOut:
        """One login from ``source``; raises TooManyRequests while many are checked."""
        if self._hashes.statistics().tasks_waiting >= 8 * self._settings.max_concurrent_hashes:
            raise TooManyRequests("the console is checking many logins; try again shortly")
        wanted = throttle.keys(username, source, self._limits)
        now = self._clock.now()
        async with self._sessions.begin() as session:
            account = await accounts.account(session, username)
            locked_until = await throttle.admit(session, wanted, self._limits, now)
            known = account.username if account is not None else None
        if locked_until is not None:  # the lockout is audited once, not every knock on it
            return LockedOut(max(1, math.ceil((locked_until - now).total_seconds())))
        viewer = await accounts.verify(account, password, self._hashes)
        now = self._clock.now()
        async with self._sessions.begin() as session:
            if viewer is None:
                locks = await throttle.failed(session, wanted, self._limits, now)
                entries = [_login_audit(known, source, now)]
                entries += [_login_audit(known, source, now, locked=key.kind) for key in locks]
                await audit.append(session, entries)
            else:
                await throttle.succeeded(session, wanted, now)
                await console_sessions.prune(session, self.lifetime, now)
                await throttle.prune(session, self._limits, now)
                token = await console_sessions.start(session, viewer, now)
        if viewer is None:
            log.warning("console_login_failed", account=known or "(unknown)", source=source)
            for key in locks:
                log.warning(
                    "console_login_locked",
                    locked=key.kind,
                    account=known or "(unknown)",
                    source=source,
                    lockout_s=self._settings.lockout_s,
                )
            return Refused()
        log.info("console_login", account=viewer.name, source=source)
        return SignedIn(viewer, token)

    async def end(self, token: str) -> None:
        """Revoke the session of ``token`` (a logout)."""
        async with self._sessions.begin() as session:
            await console_sessions.end(session, token)

    async def viewer(self, token: str) -> Viewer | None:
        """The viewer of a live session, touched; None for none."""
        async with self._sessions.begin() as session:
            return await console_sessions.find(session, token, self.lifetime, self._clock.now())


def _login_audit(
    account: str | None, source: str, now: dt.datetime, *, locked: str | None = None
) -> audit.AuditEntry:
    """The audit record of a refused login (``locked`` None) or of the lockout it
    caused (``locked``: "source" or "account"): a known account by name (an operator or
    partner user id), an unknown one not (typed text is never recorded)."""
    name = account or "(unknown)"
    if locked is None:
        kind, what = "login", f"console login from {source}: wrong password"
        outcome = audit.AuditOutcome.LOGIN_FAILED
    else:
        locks = f"source address {source}" if locked == "source" else f"account {name}"
        kind, what = "lockout", f"{locks} locked out after failed logins from {source}"
        outcome = audit.AuditOutcome.LOCKED_OUT
    return audit.AuditEntry(
        event_id=f"console-{kind}-{uuid.uuid4()}",
        event_type=f"nl.ketenhub.console.{kind}",
        event_time=now,
        action="login",
        sender=f"urn:ketenhub:console:{name}",
        subject=f"console-account:{name}",
        object=what,
        outcome=outcome,
        correlation_id=f"console-{name}",
    )
