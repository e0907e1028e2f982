"""Per-client data keys for the sealed payloads on the bus, and their erasure.

Every client has a data key per scope (``detention`` for what DJI and the PIs tell, and
``client`` for the rest), a random AES-256 key stored wrapped by the master key with
the master key's id. The payload of every record about the client travels on Kafka
sealed under it (``hub.bus.sealing``). Erasing the key (crypto-shredding) makes every
copy of those payloads unreadable: on Kafka, in dead letters and in backups. A scope that
gets new data after its key was erased gets a new key; the old records stay unreadable.

Keys for reading are cached for a few seconds per process, so an erasure reaches every
hub process's readers within ``cache_s``; the key for new data is always read from the
store, so no process seals new data under a key erased elsewhere.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import os
import time
import uuid
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from sqlalchemy import Row, bindparam, delete, insert, select, update
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from hub.core.errors import ConfigurationError
from hub.identity.keyfiles import KeySet, KeySource, StaticKeys, key_source
from hub.settings import HubSettings
from hub.state.tables import DataKeyRecord, table

NONCE = 12
CACHE_LIMIT = 50_000
"""Keys kept in memory at most; past it the expired ones are dropped."""
DETENTION, CLIENT = "detention", "client"


_KEYS = table(DataKeyRecord)
_CURRENT_OF = (
    select(_KEYS.c.key_id, _KEYS.c.subject, _KEYS.c.scope, _KEYS.c.master_key_id, _KEYS.c.wrapped)
    .where(_KEYS.c.subject.in_(bindparam("subjects", expanding=True)), _KEYS.c.wrapped.is_not(None))
    .order_by(_KEYS.c.created_at)
)
"""The keys of a batch's subjects: every intake reads it, so it is built once."""
WrappedKey = DataKeyRecord | Row[*tuple[Any, ...]]
"""A stored key as the ORM loads it or as a Core query reads its columns."""


@dataclass(frozen=True)
class DataKey:
    key_id: str
    subject: str
    scope: str
    secret: bytes


class MasterKeys:
    """The active master key and the retired ones still needed to unwrap; over a key
    directory it follows a live rotation (``hub keys rotate``)."""

    def __init__(
        self,
        active_id: str | None = None,
        keys: Mapping[str, bytes] | None = None,
        *,
        source: KeySource | None = None,
    ):
        if source is None:
            if active_id is None or keys is None or active_id not in keys:
                raise ConfigurationError("the active master key is missing", field="crypto.key_id")
            source = StaticKeys(KeySet(active_id, keys))
        self.source = source
        if any(len(k) != 32 for k in source.current().keys.values()):
            raise ConfigurationError("master keys are 32 bytes (64 hex)", field="crypto.key")

    def current(self) -> KeySet:
        return self.source.current()


def _aad(key_id: str, scope: str) -> bytes:
    """What a wrapped key is bound to. Not the subject: it changes when the pseudonym key
    rotates, and the key id is unique already."""
    return f"{key_id}|{scope}".encode()


def _legacy_aad(key_id: str, subject: str, scope: str) -> bytes:
    """How keys wrapped before migration 0010 were bound (re-wrapped when they move)."""
    return f"{key_id}|{subject}|{scope}".encode()


class Keyring:
    def __init__(
        self,
        sessions: async_sessionmaker[AsyncSession],
        masters: MasterKeys,
        *,
        cache_s: float = 5.0,
    ):
        self._sessions = sessions
        self._masters = masters
        self._cache_s = cache_s
        self._by_id: dict[str, tuple[DataKey | None, float]] = {}

    @property
    def masters(self) -> MasterKeys:
        return self._masters

    def _wrap(self, key: DataKey) -> tuple[str, bytes]:
        """The key wrapped under the active master key, with that key's id."""
        masters = self._masters.current()
        nonce = os.urandom(NONCE)
        aad = _aad(key.key_id, key.scope)
        return masters.active_id, nonce + AESGCM(masters.active).encrypt(nonce, key.secret, aad)

    def _unwrap(self, row: WrappedKey) -> DataKey | None:
        opened = self._open(row)
        return None if opened is None else DataKey(row.key_id, row.subject, row.scope, opened[0])

    def _open(self, row: WrappedKey) -> tuple[bytes, bool] | None:
        """The secret, and whether it was wrapped the legacy way; None when erased."""
        if row.wrapped is None:
            return None
        master = self._masters.current().keys.get(row.master_key_id)
        if master is None:
            raise ConfigurationError(
                f"master key {row.master_key_id!r} is needed and not configured",
                field="crypto.previous",
            )
        nonce, sealed = row.wrapped[:NONCE], row.wrapped[NONCE:]
        for aad, legacy in (
            (_aad(row.key_id, row.scope), False),
            (_legacy_aad(row.key_id, row.subject, row.scope), True),
        ):
            with contextlib.suppress(InvalidTag):
                return AESGCM(master).decrypt(nonce, sealed, aad), legacy
        raise ConfigurationError(
            f"master key {row.master_key_id!r} does not open data key {row.key_id}",
            field="crypto.key",
        )

    async def current(self, subject: str, scope: str) -> DataKey:
        """The key new data of ``subject`` in ``scope`` is sealed under, in a transaction
        of its own (see :meth:`current_in`)."""
        async with self._sessions.begin() as session:
            return (await self.current_in(session, [(subject, scope)]))[(subject, scope)]

    async def current_in(
        self, session: AsyncSession, wanted: Iterable[tuple[str, str]]
    ) -> dict[tuple[str, str], DataKey]:
        """The keys new data of each (subject, scope) in ``wanted`` is sealed under, read
        in ``session`` with one query; a missing one is made there, the first time and
        anew after an erasure. Never from the cache: a key erased in another process must
        not seal new data. A key made here exists once ``session`` commits, so what it
        seals may leave the hub only after that commit (the stages publish after it)."""
        pairs = set(wanted)
        if not pairs:
            return {}
        rows = await session.execute(
            _CURRENT_OF, {"subjects": list({subject for subject, _ in pairs})}
        )
        newest = {(row.subject, row.scope): row for row in rows}  # the last one wins
        keys: dict[tuple[str, str], DataKey] = {}
        made: list[dict[str, object]] = []
        for subject, scope in pairs:
            row = newest.get((subject, scope))
            key = self._unwrap(row) if row is not None else None
            if key is None:
                key = DataKey(str(uuid.uuid4()), subject, scope, AESGCM.generate_key(256))
                master_id, wrapped = self._wrap(key)
                made.append(
                    {
                        "key_id": key.key_id,
                        "subject": subject,
                        "scope": scope,
                        "master_key_id": master_id,
                        "wrapped": wrapped,
                        "created_at": dt.datetime.now(dt.UTC),
                    }
                )
            self._remember(key.key_id, key)
            keys[(subject, scope)] = key
        if made:  # one statement, not the ORM's unit of work: this is every intake's path
            await session.execute(insert(table(DataKeyRecord)), made)
        return keys

    def _remember(self, key_id: str, key: DataKey | None) -> None:
        now = time.monotonic()
        if len(self._by_id) >= CACHE_LIMIT:
            self._by_id = {k: v for k, v in self._by_id.items() if v[1] > now}
        self._by_id[key_id] = (key, now + self._cache_s)

    async def find(self, key_ids: Iterable[str]) -> dict[str, DataKey | None]:
        """The keys by id; None for one that was erased (or never existed here)."""
        now = time.monotonic()
        found: dict[str, DataKey | None] = {}
        missing = []
        for key_id in set(key_ids):
            cached = self._by_id.get(key_id)
            if cached is not None and cached[1] > now:
                found[key_id] = cached[0]
            else:
                missing.append(key_id)
        if missing:
            async with self._sessions() as session:
                rows = await session.scalars(
                    select(DataKeyRecord).where(DataKeyRecord.key_id.in_(missing))
                )
                loaded = {row.key_id: self._unwrap(row) for row in rows}
            for key_id in missing:
                found[key_id] = loaded.get(key_id)
                self._remember(key_id, found[key_id])
        return found

    async def erase(
        self,
        session: AsyncSession,
        subject: str,
        *,
        reason: str,
        now: dt.datetime,
        scope: str | None = None,
    ) -> int:
        """Shred the client's data keys (of one scope, or all); returns how many."""
        statement = update(DataKeyRecord).where(
            DataKeyRecord.subject == subject, DataKeyRecord.wrapped.is_not(None)
        )
        if scope is not None:
            statement = statement.where(DataKeyRecord.scope == scope)
        result = await session.execute(
            statement.values(wrapped=None, erased_at=now, erase_reason=reason[:500])
        )
        self._by_id = {
            k: v for k, v in self._by_id.items() if v[0] is None or v[0].subject != subject
        }
        return int(result.rowcount)  # type: ignore[attr-defined]

    async def move(self, session: AsyncSession, old: str, new: str) -> int:
        """Give ``old``'s data keys to ``new`` (a pseudonym-key rotation); records sealed
        before still open. Only the subject changes, so a concurrent re-wrap under a new
        master key cannot be undone by it."""
        rows = list(
            await session.scalars(select(DataKeyRecord).where(DataKeyRecord.subject == old))
        )
        for row in rows:
            opened = self._open(row)
            if opened is not None and opened[1]:
                key = DataKey(row.key_id, new, row.scope, opened[0])
                row.master_key_id, row.wrapped = self._wrap(key)
        await session.execute(
            update(DataKeyRecord).where(DataKeyRecord.subject == old).values(subject=new)
        )
        self._by_id = {k: v for k, v in self._by_id.items() if v[0] is None or v[0].subject != old}
        return len(rows)

    async def rewrap(self) -> int:
        """Wrap every data key under the active master key: the step of a master-key
        rotation after which the old master key can be retired. Returns how many moved."""
        moved = 0
        async with self._sessions.begin() as session:
            rows = await session.scalars(
                select(DataKeyRecord).where(
                    DataKeyRecord.wrapped.is_not(None),
                    DataKeyRecord.master_key_id != self._masters.current().active_id,
                )
            )
            for row in rows:
                key = self._unwrap(row)
                if key is None:
                    continue
                row.master_key_id, row.wrapped = self._wrap(key)
                moved += 1
        return moved


async def prune_erased(session: AsyncSession, erased_before: dt.datetime) -> int:
    """Drop the rows of keys shredded before ``erased_before``: they hold no secret, but
    a pseudonym and the reason an operator gave; a reader finds no key either way, and
    the audit trail keeps that the erasure happened. Returns how many went."""
    result = await session.execute(
        delete(DataKeyRecord).where(
            DataKeyRecord.wrapped.is_(None), DataKeyRecord.erased_at < erased_before
        )
    )
    return int(result.rowcount)  # type: ignore[attr-defined]


def master_keys_from_settings(settings: HubSettings, *, create_key: bool) -> MasterKeys:
    """The master keys; only embedded mode may create the key file on first start."""
    conf = settings.crypto
    try:
        source = key_source(
            "master",
            section="crypto",
            key_id=conf.key_id,
            key=conf.key,
            key_file=conf.key_file,
            key_dir=conf.key_dir or settings.data_dir,
            previous=conf.previous,
            create=create_key,
        )
    except ValueError as error:
        raise ConfigurationError(str(error), field="crypto.key") from None
    return MasterKeys(source=source)
