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
from collections.abc import Callable, Sequence

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from sqlalchemy.ext.asyncio import AsyncSession

from hub.core.bsn import normalise_bsn
from hub.identity.pseudonym import Pseudonymiser
from hub.state.tables import IdentityVaultEntry, PseudonymAlias

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
        await session.merge(
            IdentityVaultEntry(
                subject=subject, sealed=self.seal(subject, bsn), recorded_at=dt.datetime.now(dt.UTC)
            )
        )

    async def reveal(self, session: AsyncSession, subject: str) -> str | None:
        """The BSN behind ``subject`` (or behind the pseudonym it became when the key
        rotated), or None when the hub never saw it (or it was erased)."""
        entry = await session.get(IdentityVaultEntry, subject)
        if entry is None:
            alias = await session.get(PseudonymAlias, subject)
            if alias is None:
                return None
            subject, entry = alias.current, await session.get(IdentityVaultEntry, alias.current)
        return None if entry is None else self.open(subject, entry.sealed)
