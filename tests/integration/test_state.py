"""The state store on SQLite and on the local PostgreSQL: idempotency and case state."""

from __future__ import annotations

import datetime as dt

from sqlalchemy.ext.asyncio import AsyncEngine

from hub.routing.case_state import apply_case_event
from hub.schemas.case import ClientExcluded, ClientMoved, ExclusionReason
from hub.state import idempotency
from hub.state.cases import load_case
from hub.state.database import current_revision, sessionmaker
from tests.data import PROCESREGISSEUR, TEST_BSNS, client_included, pseudonymiser

SUBJECT = pseudonymiser().pseudonym(TEST_BSNS[1])


async def test_migrations_reach_head(engine: AsyncEngine) -> None:
    assert await current_revision(engine) == "0001"


async def test_redelivered_event_id_is_detected(engine: AsyncEngine) -> None:
    sessions = sessionmaker(engine)
    async with sessions.begin() as session:
        assert await idempotency.claim(session, "router", "evt-1") is True
    async with sessions.begin() as session:
        assert await idempotency.claim(session, "router", "evt-1") is False
        assert await idempotency.claim(session, "other-consumer", "evt-1") is True
        assert await idempotency.was_processed(session, "router", "evt-1")


async def test_a_rolled_back_claim_leaves_no_trace(engine: AsyncEngine) -> None:
    sessions = sessionmaker(engine)
    async with sessions() as session:
        await idempotency.claim(session, "router", "evt-2")
        await session.rollback()
    async with sessions.begin() as session:
        assert await idempotency.claim(session, "router", "evt-2") is True


async def test_case_lifecycle_include_move_exclude(engine: AsyncEngine) -> None:
    sessions = sessionmaker(engine)
    async with sessions.begin() as session:
        assert await apply_case_event(session, SUBJECT, "e1", client_included())
    async with sessions.begin() as session:
        assert not await apply_case_event(session, SUBJECT, "e1", client_included())
    moved = ClientMoved(
        from_zvh="zvh:amsterdam",
        to_zvh="zvh:utrecht",
        moved_on=dt.date(2026, 6, 1),
        procesregisseur=PROCESREGISSEUR,
    )
    async with sessions.begin() as session:
        await apply_case_event(session, SUBJECT, "e2", moved)
    async with sessions() as session:
        case = await load_case(session, SUBJECT)
    assert case is not None
    assert case.zvh == "zvh:utrecht"
    assert case.is_member("zvh:utrecht")
    assert not case.is_member("zvh:amsterdam")
    excluded = ClientExcluded(
        zvh="zvh:utrecht", reason=ExclusionReason.STABLE_TWO_YEARS, excluded_on=dt.date(2028, 6, 1)
    )
    async with sessions.begin() as session:
        await apply_case_event(session, SUBJECT, "e3", excluded)
    async with sessions() as session:
        closed = await load_case(session, SUBJECT)
    assert closed is not None
    assert not closed.included
    assert closed.team == ()
