"""The state store on SQLite and on the local PostgreSQL: idempotency and case state."""

from __future__ import annotations

import datetime as dt
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any, NamedTuple

import pytest
from sqlalchemy import event, insert
from sqlalchemy.ext.asyncio import AsyncEngine

from hub.routing.lookup import LocalCaseLookup
from hub.routing.stays import StartKind, classify_start
from hub.schemas.case import (
    ClientExcluded,
    ClientMoved,
    ExclusionReason,
    KedoLookupResult,
    TeamRole,
)
from hub.schemas.common import Facility
from hub.schemas.detention import (
    DetentionEnded,
    DetentionEvent,
    DetentionLeave,
    DetentionTransferred,
)
from hub.state import cases, detentions, idempotency
from hub.state.cases import load_case
from hub.state.database import current_revision, make_engine, migrate, sessionmaker
from hub.state.tables import DetentionRecord, TeamMembership
from tests.backends import fresh_database
from tests.data import PROCESREGISSEUR, TEST_BSNS, client_included, detention_started, pseudonymiser

SUBJECT = pseudonymiser().pseudonym(TEST_BSNS[1])


async def test_migrations_reach_head(engine: AsyncEngine) -> None:
    assert await current_revision(engine) == "0021"


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
async def before_stay_key(
    request: pytest.FixtureRequest, tmp_path: Path
) -> AsyncIterator[AsyncEngine]:
    """A store at revision 0012, the last one without a stay key."""
    if request.param == "sqlite":
        url = f"sqlite+aiosqlite:///{tmp_path}/hub.db"
    else:
        url = await fresh_database(request.getfixturevalue("postgres_admin_url"))
    db = make_engine(url)
    await migrate(db, "0012")
    yield db
    await db.dispose()


async def test_a_record_kept_before_the_stay_key_gets_a_correction_never_a_second_start(
    before_stay_key: AsyncEngine,
) -> None:
    async with before_stay_key.begin() as connection:
        await connection.execute(
            insert(DetentionRecord).values(
                subject=SUBJECT,
                facility_code="PI-AMS",
                facility_name="PI Amsterdam",
                since=dt.date(2026, 11, 20),
                last_event_id="old-1",
            )
        )
    await migrate(before_stay_key)
    async with sessionmaker(before_stay_key)() as session:
        stay = await detentions.stay_of(session, SUBJECT)
    assert stay == detentions.Stay(
        key="old-1", released_on=None, start_event_id="old-1", start_digest=None
    )
    assert classify_start(stay, detention_started(), "new-1").kind is StartKind.CORRECTION


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


async def test_a_member_kept_in_a_role_its_kind_cannot_hold_is_no_member(
    engine: AsyncEngine,
) -> None:
    """A membership stored before the rule of roles by kind (a care provider as the
    police) is left out of the team when the case is read, never addressed."""
    sessions = sessionmaker(engine)
    async with sessions.begin() as session:
        await cases.apply(session, SUBJECT, client_included(), "e1")
        session.add(
            TeamMembership(
                subject=SUBJECT, partner="llz:ok", role="politie", since=dt.date(2026, 3, 1)
            )
        )
    async with sessions() as session:
        case = await load_case(session, SUBJECT)
    assert case is not None
    assert not case.is_member("llz:ok")
    assert case.is_member("llz:fivoor")


async def test_the_local_look_up_answers_a_batch_from_the_case_state(
    engine: AsyncEngine,
) -> None:
    """Without a KEDO connector the router asks the hub's own case state: an open case
    is found with its LLC, a closed one and an unknown client are not, all in one read."""
    sessions = sessionmaker(engine)
    closed = "pseudonym-closed"
    async with sessions.begin() as session:
        await cases.apply(session, SUBJECT, client_included(), "e1")
        await cases.apply(session, closed, client_included(), "e2")
        gone = ClientExcluded(
            zvh="zvh:amsterdam",
            reason=ExclusionReason.STABLE_TWO_YEARS,
            excluded_on=dt.date(2026, 6, 1),
        )
        await cases.apply(session, closed, gone, "e3", today=dt.date(2026, 6, 1))
    statements: list[str] = []

    def count(*args: Any) -> None:
        statements.append(args[2])

    event.listen(engine.sync_engine, "before_cursor_execute", count)
    answers = await LocalCaseLookup(sessions).lookup_all([SUBJECT, closed, "pseudonym-unknown"])
    event.remove(engine.sync_engine, "before_cursor_execute", count)
    found = answers[SUBJECT]
    assert isinstance(found, KedoLookupResult)
    assert found.found
    assert found.zvh == "zvh:amsterdam"
    assert found.llc is not None
    assert found.llc.partner == "llz:fivoor"
    for unknown in (closed, "pseudonym-unknown"):
        answer = answers[unknown]
        assert isinstance(answer, KedoLookupResult)
        assert not answer.found, unknown
    assert len(statements) == 2, "the cases and their teams, each read once for the batch"


async def test_case_lifecycle_include_move_exclude(engine: AsyncEngine) -> None:
    sessions = sessionmaker(engine)
    async with sessions.begin() as session:
        await cases.apply(session, SUBJECT, client_included(), "e1")
    moved = ClientMoved(
        from_zvh="zvh:amsterdam",
        to_zvh="zvh:utrecht",
        moved_on=dt.date(2026, 6, 1),
        procesregisseur=PROCESREGISSEUR,
    )
    async with sessions.begin() as session:
        await cases.apply(session, SUBJECT, moved, "e2")
    async with sessions() as session:
        case = await load_case(session, SUBJECT)
    assert case is not None
    assert case.zvh == "zvh:utrecht"
    assert case.is_member("zvh:utrecht")
    assert not case.is_member("zvh:amsterdam")
    assert case.contacts[TeamRole.PROCESREGISSEUR] == PROCESREGISSEUR
    assert case.contacts[TeamRole.LEVENSLOOPCOORDINATOR].partner == "llz:fivoor"
    ahead = ClientExcluded(
        zvh="zvh:utrecht", reason=ExclusionReason.STABLE_TWO_YEARS, excluded_on=dt.date(2028, 6, 1)
    )
    async with sessions.begin() as session:
        await cases.apply(session, SUBJECT, ahead, "e3", today=dt.date(2028, 5, 31))
    async with sessions() as session:
        closing = await load_case(session, SUBJECT)
    assert closing is not None
    assert not closing.included, "the exclusion is on record"
    assert closing.open_on(dt.date(2028, 5, 31)), "and the case open until its day"
    assert closing.closed_on(dt.date(2028, 6, 1))
    assert closing.is_member("zvh:utrecht"), "the team stays until then"
    async with sessions.begin() as session:
        await cases.apply(session, SUBJECT, ahead, "e3-due", today=dt.date(2028, 6, 1))
    async with sessions() as session:
        closed = await load_case(session, SUBJECT)
    assert closed is not None
    assert closed.excluded_on == dt.date(2028, 6, 1)
    assert closed.team == ()


async def test_migrations_match_the_table_definitions(engine: AsyncEngine) -> None:
    """A column added to tables.py without a migration (or the reverse) fails here."""
    from alembic.autogenerate import compare_metadata
    from alembic.runtime.migration import MigrationContext

    from hub.state.tables import Base

    async with engine.connect() as connection:
        differences = await connection.run_sync(
            lambda sync: compare_metadata(MigrationContext.configure(sync), Base.metadata)
        )
    assert differences == []


AMS, VUG = Facility(code="PI-AMS", name="PI Amsterdam"), Facility(code="PI-VUG", name="PI Vught")
COMMON: dict[str, Any] = {"source_event_id": "INJUS-1", "municipality": "GM0363"}


def _day(month: int, day: int) -> dt.date:
    return dt.date(2026, month, day)


class Step(NamedTuple):
    why: str
    event_id: str
    event: DetentionEvent
    stay_key: str | None
    expected: tuple[Any, ...]
    """(stay_key, since, released_on, erase_after, start_event_id, facility, last_event_id)"""


STEPS = [
    Step(
        "a START opens the record",
        "e1",
        detention_started(facility=AMS, start_date=_day(3, 1)),
        None,
        ("e1", _day(3, 1), None, None, "e1", "PI-AMS", "e1"),
    ),
    Step(
        "a transfer moves it and its since, in the same stay",
        "e2",
        DetentionTransferred(
            **COMMON, facility=VUG, previous_facility=AMS, transfer_date=_day(4, 1)
        ),
        None,
        ("e1", _day(4, 1), None, None, "e1", "PI-VUG", "e2"),
    ),
    Step(
        "a leave keeps the since",
        "e3",
        DetentionLeave(**COMMON, facility=VUG, leave_start=_day(4, 15)),
        None,
        ("e1", _day(4, 1), None, None, "e1", "PI-VUG", "e3"),
    ),
    Step(
        "a release schedules the erasure six months on",
        "e4",
        DetentionEnded(**COMMON, facility=VUG, end_date=_day(5, 10), release_municipality="GM0363"),
        None,
        ("e1", _day(4, 1), _day(5, 10), _day(11, 10), "e1", "PI-VUG", "e4"),
    ),
    Step(
        "a late correction of the ended stay keeps its erasure date",
        "e5",
        detention_started(facility=VUG, start_date=_day(3, 2)),
        "e1",
        ("e1", _day(3, 2), _day(5, 10), _day(11, 10), "e5", "PI-VUG", "e5"),
    ),
    Step(
        "a transfer after the release opens a stay whose START the hub never saw",
        "e6",
        DetentionTransferred(
            **COMMON, facility=AMS, previous_facility=VUG, transfer_date=_day(6, 1)
        ),
        None,
        ("e6", _day(6, 1), None, None, None, "PI-AMS", "e6"),
    ),
    Step(
        "a START of a stay of its own opens a new one",
        "e7",
        detention_started(facility=VUG, start_date=_day(7, 1)),
        None,
        ("e7", _day(7, 1), None, None, "e7", "PI-VUG", "e7"),
    ),
]


async def _kept(engine: AsyncEngine, subject: str) -> tuple[Any, ...]:
    async with sessionmaker(engine)() as session:
        row = await session.get(DetentionRecord, subject)
        assert row is not None
        return (
            row.stay_key,
            row.since,
            row.released_on,
            row.erase_after,
            row.start_event_id,
            row.facility_code,
            row.last_event_id,
        )


async def test_a_detention_record_follows_its_stays_step_by_step(engine: AsyncEngine) -> None:
    """A decision table of one client's detention, each step on the record the steps
    before it left, read back from the store."""
    for step in STEPS:
        async with sessionmaker(engine).begin() as session:
            current = await detentions.stay_of(session, SUBJECT)
            await detentions.record(
                session,
                SUBJECT,
                step.event,
                step.event_id,
                current=current,
                stay_key=step.stay_key,
            )
        assert await _kept(engine, SUBJECT) == step.expected, step.why


async def test_a_first_event_other_than_a_start_opens_a_stay_of_its_own(
    engine: AsyncEngine,
) -> None:
    leave = DetentionLeave(**COMMON, facility=AMS, leave_start=_day(4, 15))
    async with sessionmaker(engine).begin() as session:
        await detentions.record(session, SUBJECT, leave, "e1", current=None)
    assert await _kept(engine, SUBJECT) == ("e1", _day(4, 15), None, None, None, "PI-AMS", "e1")
