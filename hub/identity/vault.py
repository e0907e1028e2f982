"""Pseudonym → BSN, for the edges that may hold the BSN.

An inbound connector's runtime records each subject's BSN here as it pseudonymises
it; an outbound runtime opens it only for a delivery whose decision permitted the BSN.
The BSN is sealed with AES-256-GCM under a key derived from the pseudonym key, and the
pseudonym is the associated data, so a sealed value cannot be moved to another subject.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import os
from collections.abc import Callable, Iterable, Sequence
from functools import cache
from typing import Any

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from sqlalchemy import bindparam, select
from sqlalchemy.ext.asyncio import AsyncSession

from hub.core.bsn import normalise_bsn
from hub.identity.pseudonym import Pseudonymiser
from hub.state.database import dialect_of, upsert_insert_of
from hub.state.tables import IdentityVaultEntry, PseudonymAlias, table

_VAULT = table(IdentityVaultEntry)
_SEALED = select(_VAULT.c.subject, _VAULT.c.sealed).where(
    _VAULT.c.subject.in_(bindparam("subjects", expanding=True))
)


@cache
def _remember(dialect: str) -> Any:
    """Record or replace a subject's sealed BSN; built once (see hub.state.idempotency)."""
    insert = upsert_insert_of(dialect)(_VAULT)
    return insert.on_conflict_do_update(
        index_elements=["subject"],
        set_={"sealed": insert.excluded.sealed, "recorded_at": insert.excluded.recorded_at},
    )


_NONCE = 12


def _aead(key: bytes) -> AESGCM:
    return AESGCM(hashlib.sha256(b"ketenhub identity vault\0" + key).digest())


class IdentityVault:
    """Seals under the active pseudonym key; opens under any known one (key rotation).

    Over a pseudonymiser it follows a live rotation of its keys."""

    def __init__(self, keys: Sequence[bytes] | Callable[[], Sequence[bytes]]):
        self._keys = keys if callable(keys) else (lambda fixed=list(keys): fixed)
        if not self._keys():
            raise ValueError("the identity vault needs at least one key")
        self._aeads: dict[bytes, AESGCM] = {}

    @classmethod
    def for_pseudonymiser(cls, pseudonymiser: Pseudonymiser) -> IdentityVault:
        def keys() -> list[bytes]:
            keys = pseudonymiser.key_set()
            return [keys.active, *(k for kid, k in keys.keys.items() if kid != keys.active_id)]

        return cls(keys)

    @property
    def _sealers(self) -> list[AESGCM]:
        keys = self._keys()
        for key in keys:
            if key not in self._aeads:
                self._aeads[key] = _aead(key)
        return [self._aeads[key] for key in keys]

    def seal(self, subject: str, bsn: str) -> bytes:
        nonce = os.urandom(_NONCE)
        sealed = self._sealers[0].encrypt(nonce, normalise_bsn(bsn).encode(), subject.encode())
        return nonce + sealed

    def open(self, subject: str, sealed: bytes) -> str | None:
        for sealer in self._sealers:
            try:
                plain = sealer.decrypt(sealed[:_NONCE], sealed[_NONCE:], subject.encode())
            except InvalidTag:
                continue
            return plain.decode()
        return None

    async def remember(self, session: AsyncSession, subject: str, bsn: str) -> None:
        """Record (or replace) the sealed BSN behind ``subject``: one statement."""
        values = {
            "subject": subject,
            "sealed": self.seal(subject, bsn),
            "recorded_at": dt.datetime.now(dt.UTC),
        }
        await session.execute(_remember(dialect_of(session)), values)

    async def reveal(self, session: AsyncSession, subject: str) -> str | None:
        """The BSN behind ``subject`` (see :meth:`reveal_all`)."""
        return (await self.reveal_all(session, [subject])).get(subject)

    async def reveal_all(self, session: AsyncSession, subjects: Iterable[str]) -> dict[str, str]:
        """The BSN behind each of ``subjects`` (or behind the pseudonym it became when the
        key rotated), read with one query (two when a subject's pseudonym moved); a subject
        the hub never saw (or whose BSN was erased) is not in the answer."""
        wanted = set(subjects)
        if not wanted:
            return {}
        entries = {
            subject: sealed
            for subject, sealed in await session.execute(_SEALED, {"subjects": list(wanted)})
        }
        missing = wanted - entries.keys()
        moved = (
            {
                alias.subject: alias.current
                for alias in await session.scalars(
                    select(PseudonymAlias).where(PseudonymAlias.subject.in_(missing))
                )
            }
            if missing
            else {}
        )
        if moved:
            entries |= {
                subject: sealed
                for subject, sealed in await session.execute(
                    _SEALED, {"subjects": list(set(moved.values()))}
                )
            }
        found: dict[str, str] = {}
        for subject in wanted:
            current = moved.get(subject, subject)
            sealed = entries.get(current)
            bsn = None if sealed is None else self.open(current, sealed)
            if bsn is not None:
                found[subject] = bsn
        return found
