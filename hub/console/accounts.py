"""Local console accounts for the embedded mode, with argon2 password hashes.

A role decides what an account sees. Production puts an OIDC provider in front: its
token's claims map onto the same :class:`Viewer` (name, role, partner), so the pages and
their checks stay as they are.
"""

from __future__ import annotations

import datetime as dt
import re
import secrets
from dataclasses import dataclass
from enum import StrEnum

import anyio
import anyio.to_thread
from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from hub.core.errors import ContractError
from hub.schemas.partners import partner_kind
from hub.state.tables import ConsoleAccount

_hasher = PasswordHasher()
MIN_PASSWORD = 12
USERNAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9._@-]{0,63}")
MAX_PASSWORD = 200
"""The login form takes no longer password: argon2's cost is not the caller's to choose."""


class Role(StrEnum):
    OPERATOR = "operator"
    """Metadata only: ids, pseudonyms, partners, outcomes, timings."""
    PRIVACY_OFFICER = "privacy-officer"
    """Also the audit details and the per-person disclosure report (each view audited)."""
    PARTNER = "partner"
    """Only its own partner's flows, deliveries and connectors."""


@dataclass(frozen=True)
class Viewer:
    name: str
    role: Role
    partner: str | None = None

    def may_see_audit_details(self) -> bool:
        return self.role is Role.PRIVACY_OFFICER

    def may_replay(self) -> bool:
        """Operators and privacy officers replay dead letters; a partner only sees its own."""
        return self.role is not Role.PARTNER

    def sees_partner(self, *partners: str | None) -> bool:
        """Whether a row between these partners is this viewer's to see."""
        return self.role is not Role.PARTNER or self.partner in partners


async def create(
    session: AsyncSession, username: str, password: str, role: Role, partner: str | None = None
) -> None:
    if not USERNAME.fullmatch(username):
        raise ContractError(
            "a login name has 1 to 64 letters, digits, '.', '_', '@' or '-', and begins "
            "with a letter or digit (it is shown as api:<name> on what the account settles)",
            field="username",
        )
    if not MIN_PASSWORD <= len(password) <= MAX_PASSWORD:
        raise ContractError(
            f"a password has {MIN_PASSWORD} to {MAX_PASSWORD} characters", field="password"
        )
    if (role is Role.PARTNER) != (partner is not None):
        raise ContractError("a partner account, and only that, names its partner", field="partner")
    if partner is not None:
        try:
            partner_kind(partner)
        except ValueError as error:
            raise ContractError(str(error), field="partner") from None
    if await session.get(ConsoleAccount, username) is not None:
        raise ContractError(f"account {username!r} exists already", field="username")
    session.add(
        ConsoleAccount(
            username=username,
            password_hash=_hasher.hash(password),
            role=role.value,
            partner=partner,
            created_at=dt.datetime.now(dt.UTC),
        )
    )


DEMO_USER = "demo"


async def demo_login(session: AsyncSession) -> str | None:
    """For the embedded demo (``hub up --simulators``) on a store without accounts: an
    operator account ``demo`` with a new random password, which is returned. None when
    accounts exist already (the demo never adds to a real set of accounts)."""
    if await session.scalar(select(ConsoleAccount.username).limit(1)) is not None:
        return None
    password = secrets.token_urlsafe(12)
    await create(session, DEMO_USER, password, Role.OPERATOR)
    return password


async def account(session: AsyncSession, username: str) -> ConsoleAccount | None:
    return await session.get(ConsoleAccount, username)


async def verify(
    account: ConsoleAccount | None, password: str, limiter: anyio.CapacityLimiter
) -> Viewer | None:
    """The account's viewer when the password holds; None otherwise, in about the same
    time either way (a missing account is checked against a dummy hash). argon2 runs in a
    worker thread, at most ``limiter``'s tokens at once: the event loop keeps serving."""
    stored = account.password_hash if account is not None else _DUMMY
    if not await anyio.to_thread.run_sync(_matches, stored, password, limiter=limiter):
        return None
    return _viewer(account)


def _matches(stored: str, password: str) -> bool:
    try:
        return _hasher.verify(stored, password)
    except (VerificationError, InvalidHashError):
        return False


def _viewer(account: ConsoleAccount | None) -> Viewer | None:
    if account is None:
        return None
    return Viewer(name=account.username, role=Role(account.role), partner=account.partner)


_DUMMY = _hasher.hash("not-a-password-anyone-has")
