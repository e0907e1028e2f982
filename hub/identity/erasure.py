"""Erasing a client's data by crypto-shredding: their data keys are destroyed, so every
sealed copy of their records (on Kafka, in dead letters, in
backups) can no longer be read; the BSN behind their pseudonym goes too.

Used for an erasure request (``hub subject erase``), for the six months after release
(flow E: the ``detention`` scope only), at the end of the Levensloopaanpak retention,
and a short while after the last event about a person in no case
(``hub.state.activity``). The audit trail records that data was erased, why and by
whom, never the erased content, and its hash chain stays whole.
"""

from __future__ import annotations

import datetime as dt
import uuid

from sqlalchemy import delete
from sqlalchemy.ext.asyncio import AsyncSession

from hub.identity.keyring import Keyring
from hub.state import activity, audit, cases
from hub.state.audit import AuditEntry, AuditOutcome
from hub.state.tables import CLIENT_STATE, IdentityVaultEntry, PseudonymAlias

ERASED = AuditOutcome.ERASED
RETENTION = "urn:ketenhub:hub:retention"
"""Who erases on the retention clocks, in the audit trail."""


async def erase_subject(
    session: AsyncSession,
    keyring: Keyring,
    subject: str,
    *,
    reason: str,
    by: str,
    now: dt.datetime,
    scope: str | None = None,
) -> int:
    """Shred the client's data keys (one scope, or all with the BSN link) and audit it,
    in ``session``'s transaction; returns how many keys were destroyed."""
    destroyed = await keyring.erase(session, subject, reason=reason, now=now, scope=scope)
    if scope is None:
        await session.execute(
            delete(IdentityVaultEntry).where(IdentityVaultEntry.subject == subject)
        )
    what = f"{scope or 'all'} data erased ({destroyed} key(s) destroyed): {reason}"
    await audit.append(
        session,
        [
            AuditEntry(
                event_id=f"erasure-{uuid.uuid4()}",
                event_type="nl.ketenhub.erasure",
                event_time=now,
                action="erase",
                sender=by,
                subject=subject,
                object=what[:500],
                outcome=ERASED,
                correlation_id=f"erasure-{subject}",
            )
        ],
    )
    return destroyed


async def erase_closed_cases(
    session: AsyncSession, keyring: Keyring, *, now: dt.datetime, retention: dt.timedelta
) -> list[str]:
    """The end of the Levensloopaanpak retention: a case closed longer than
    ``retention`` ago loses its state (case, team, consents, titles, detention, labels)
    and every data key; the audit trail keeps that it happened. Returns whose."""
    due = await cases.closed_before(session, now - retention)
    for subject in due:
        reason = "end of the Levensloopaanpak retention after closure"
        await _forget(session, keyring, subject, reason, now)
    return due


async def erase_no_case(
    session: AsyncSession, keyring: Keyring, *, now: dt.datetime, retention: dt.timedelta
) -> list[str]:
    """The retention for people in no case: a subject the hub keeps no case of, whose
    last event came longer than ``retention`` ago and who has nothing waiting, loses
    the BSN link, every data key and what state there is (a consent, a title, the
    pseudonym aliases); the audit trail keeps that it happened. A subject the hub holds
    something of without a clock gets one, starting now. Returns whose."""
    await activity.adopt(session, now)
    due = await activity.no_case_before(session, now - retention)
    for subject in due:
        await _forget(session, keyring, subject, "retention for a person in no case", now)
    return due


async def _forget(
    session: AsyncSession, keyring: Keyring, subject: str, reason: str, now: dt.datetime
) -> None:
    """Everything the hub keeps of ``subject`` under their pseudonym goes, the keys are
    shredded and the erasure audited: one path for every clock that ends a client."""
    for table in CLIENT_STATE:
        column = table.__table__.c.subject
        await session.execute(delete(table).where(column == subject))
    await session.execute(delete(PseudonymAlias).where(PseudonymAlias.current == subject))
    await erase_subject(session, keyring, subject, reason=reason, by=RETENTION, now=now)
