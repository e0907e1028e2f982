"""Keys and the client's state, on SQLite and PostgreSQL.

A pseudonym-key rotation moves each client's state to their new pseudonym: the state,
the BSN link and the data keys follow; an alias leads from the old pseudonym (records
still on Kafka, the audit trail) to the new one, also after the old key is retired. At
the end of the retention a closed case is erased."""

from __future__ import annotations

import datetime as dt
import secrets
from pathlib import Path

import pytest
from sqlalchemy import func, select, update
from sqlalchemy.ext.asyncio import AsyncEngine

from hub.identity.erasure import ERASED, erase_closed_cases
from hub.identity.keyfiles import KeyDirectory
from hub.identity.keyring import CLIENT, Keyring, MasterKeys
from hub.identity.pseudonym import Pseudonymiser
from hub.identity.rekeying import Rekeyer, current_pseudonyms, with_history
from hub.identity.vault import IdentityVault
from hub.schemas.case import ClientExcluded, ExclusionReason
from hub.state import audit, cases
from hub.state.audit import AuditEntry
from hub.state.cases import load_case
from hub.state.database import sessionmaker
from hub.state.tables import CaseState, DataKeyRecord, PseudonymAlias
from tests.data import TEST_BSNS, client_included


def _entry(subject: str) -> AuditEntry:
    return AuditEntry(
        event_id=f"evt-{secrets.token_hex(4)}",
        event_type="nl.ketenhub.case.included",
        event_time=dt.datetime.now(dt.UTC),
        action="record",
        sender="zvh:amsterdam",
        subject=subject,
        object="case",
        outcome="RECORDED",
        correlation_id="c",
    )


async def test_a_client_moves_to_the_new_pseudonym_with_all_their_state(
    engine: AsyncEngine, tmp_path: Path
) -> None:
    sessions = sessionmaker(engine)
    directory = KeyDirectory(tmp_path, "pseudonym", default_id="k1", create=True, reload_s=0)
    pseudonymiser = Pseudonymiser(source=directory)
    vault = IdentityVault.for_pseudonymiser(pseudonymiser)
    keyring = Keyring(sessions, MasterKeys("m1", {"m1": secrets.token_bytes(32)}))
    rekeyer = Rekeyer(pseudonymiser, vault, keyring)
    first, second = TEST_BSNS[2], TEST_BSNS[3]
    old = {bsn: pseudonymiser.pseudonym(bsn) for bsn in (first, second)}
    for bsn, subject in old.items():
        async with sessions.begin() as session:
            await vault.remember(session, subject, bsn)
            await cases.apply(session, subject, client_included(), f"e-{subject}")
            await audit.append(session, [_entry(subject)])
    key = await keyring.current(old[first], CLIENT)
    async with sessions.begin() as session:
        assert await rekeyer.canonical(session, old[first]) == old[first]

    directory.rotate()
    new = pseudonymiser.pseudonym(first)
    assert new.startswith("psn-k2-")
    async with sessions.begin() as session:
        assert await rekeyer.canonical(session, old[first]) == new
    async with sessions() as session:
        assert await load_case(session, old[first]) is None
        moved = await load_case(session, new)
        assert moved is not None
        assert moved.included
        assert await vault.reveal(session, new) == first
        assert await vault.reveal(session, old[first]) == first
        assert await current_pseudonyms(session, [old[first], new]) == [new]
        assert set(await with_history(session, [new])) == {new, old[first]}
    found = (await keyring.find([key.key_id]))[key.key_id]
    assert found is not None
    assert found.secret == key.secret
    assert found.subject == new
    assert (await keyring.current(new, CLIENT)).key_id == key.key_id

    report = await rekeyer.rekey_all(sessions)
    assert report.moved == 1
    assert report.remaining == 0
    directory.retire("k1")
    assert set(pseudonymiser.keys) == {"k2"}
    async with sessions.begin() as session:
        assert await rekeyer.canonical(session, old[second]) == pseudonymiser.pseudonym(second)
        assert await rekeyer.canonical(session, old[first]) == new
    async with sessions() as session:
        left = await session.scalar(
            select(func.count()).select_from(CaseState).where(CaseState.subject.like("psn-k1-%"))
        )
        aliases = await session.scalar(select(func.count()).select_from(PseudonymAlias))
        query = audit.AuditQuery(subjects=await with_history(session, [new]))
        history = [record async for record in audit.search(session, query)]
    assert left == 0
    assert aliases == 2
    assert [record["subject"] for record in history] == [old[first]]


def test_a_key_directory_rotates_for_every_process_and_keeps_what_is_needed(
    tmp_path: Path,
) -> None:
    here = KeyDirectory(tmp_path, "master", default_id="m1", create=True, reload_s=0)
    elsewhere = KeyDirectory(tmp_path, "master", default_id="m1", create=False, reload_s=0)
    assert elsewhere.current().active == here.current().active
    rotated = here.rotate()
    assert rotated.active_id == "m2"
    assert elsewhere.current().active_id == "m2"
    assert set(elsewhere.current().keys) == {"m1", "m2"}
    assert (tmp_path / "master-m2.key").stat().st_mode & 0o077 == 0
    with pytest.raises(ValueError, match="is the active one"):
        here.retire("m2")
    here.retire("m1")
    assert set(elsewhere.current().keys) == {"m2"}


async def test_a_case_closed_longer_than_the_retention_is_erased_and_audited(
    engine: AsyncEngine,
) -> None:
    """The end of the Levensloopaanpak retention: the hub's state of the client goes and
    their keys are shredded; a case closed recently and an open case stay."""
    sessions = sessionmaker(engine)
    keyring = Keyring(sessions, MasterKeys("m1", {"m1": secrets.token_bytes(32)}))
    names = Pseudonymiser(active_key_id="r1", keys={"r1": secrets.token_bytes(32)})
    old, recent, open_case = (names.pseudonym(b) for b in TEST_BSNS[:3])
    now = dt.datetime.now(dt.UTC)
    closed = ClientExcluded(
        zvh="zvh:amsterdam", reason=ExclusionReason.STABLE_TWO_YEARS, excluded_on=now.date()
    )
    for subject in (old, recent, open_case):
        async with sessions.begin() as session:
            await cases.apply(session, subject, client_included(), f"in-{subject}")
            if subject != open_case:
                await cases.apply(session, subject, closed, f"out-{subject}")
    await keyring.current(old, CLIENT)
    async with sessions.begin() as session:
        await session.execute(
            update(CaseState)
            .where(CaseState.subject == old)
            .values(updated_at=now - dt.timedelta(days=1900))
        )
    async with sessions.begin() as session:
        erased = await erase_closed_cases(
            session, keyring, now=now, retention=dt.timedelta(days=1826)
        )
    assert erased == [old]
    async with sessions() as session:
        assert await load_case(session, old) is None
        assert await load_case(session, recent) is not None
        assert await load_case(session, open_case) is not None
        keys = await session.scalars(select(DataKeyRecord).where(DataKeyRecord.subject == old))
        assert [k.wrapped for k in keys] == [None]
        query = audit.AuditQuery(subjects=[old], outcome=ERASED)
        trail = [record async for record in audit.search(session, query)]
        assert len(trail) == 1
        assert "retention" in trail[0]["object"]
        assert (await audit.verify(session)).broken is None
