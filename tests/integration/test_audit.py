"""The hash-chained audit trail: any UPDATE, DELETE or reordering is caught by
``hub audit verify``, on SQLite and on PostgreSQL."""

from __future__ import annotations

import asyncio
import datetime as dt
import json

import pytest
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncEngine
from typer.testing import CliRunner

from hub.cli import app
from hub.state import audit
from hub.state.audit import Action, AuditEntry
from hub.state.database import sessionmaker
from tests.data import TEST_BSNS, TEST_KEY, pseudonymiser

SUBJECT = pseudonymiser().pseudonym(TEST_BSNS[1])
RECORDS = 6
KEY = TEST_KEY.hex()


def _entry(n: int) -> AuditEntry:
    return AuditEntry(
        event_id=f"evt-{n}",
        event_type="nl.ketenhub.signal.crisis-contact.v1",
        event_time=dt.datetime(2026, 11, 23, 12, n, tzinfo=dt.UTC),
        action=Action.DISCLOSE,
        sender="urn:ketenhub:partner:crisis:amsterdam",
        subject=SUBJECT,
        object="nl.ketenhub.signal.crisis-contact.v1 [justice,medical]",
        outcome="PERMIT_REDACTED",
        correlation_id=f"evt-{n}",
        recipient="llz:fivoor",
        recipient_role="levensloopcoordinator",
        flow="F",
        purpose="levensloopaanpak",
        legal_bases=("wgs-samenwerkingsverband",),
        rule_ids=("wgs-samenwerkingsverband",),
        policy_version="sha256:0123456789abcdef",
        disclosed_fields=("police_involved",),
        removed_fields=("assessment",),
        missing=("geen-grondslag-medisch",),
    )


async def _filled(engine: AsyncEngine) -> None:
    sessions = sessionmaker(engine)
    async with sessions.begin() as session:
        await audit.append(session, [_entry(1), _entry(2)])
    for n in range(3, RECORDS + 1):
        async with sessions.begin() as session:
            await audit.append(session, [_entry(n)])


async def _verify(engine: AsyncEngine) -> audit.ChainReport:
    async with sessionmaker(engine)() as session:
        return await audit.verify(session)


async def _cli(engine: AsyncEngine, *args: str) -> tuple[int, str, str]:
    url = engine.url.render_as_string(hide_password=False)
    result = await asyncio.to_thread(
        CliRunner().invoke,
        app,
        list(args),
        env={"HUB_DATABASE__URL": url, "HUB_PSEUDONYM__KEY_ID": "t1", "HUB_PSEUDONYM__KEY": KEY},
    )
    return result.exit_code, result.stdout, result.stderr


async def test_an_untouched_chain_verifies(engine: AsyncEngine) -> None:
    await _filled(engine)
    report = await _verify(engine)
    assert report.intact
    assert report.records == RECORDS
    code, output, _ = await _cli(engine, "audit", "verify")
    assert code == 0
    assert f"audit chain intact: {RECORDS} records" in output


TAMPERING = {
    "update": ["UPDATE audit_record SET outcome = 'PERMIT' WHERE seq = 3"],
    "update-with-new-hash": [
        "UPDATE audit_record SET outcome = 'PERMIT', hash = 'f' || substr(hash, 2) WHERE seq = 3"
    ],
    "delete": ["DELETE FROM audit_record WHERE seq = 3"],
    "delete-last": ["DELETE FROM audit_record WHERE seq = 6"],
    "reorder": [
        "UPDATE audit_record SET seq = 1000 WHERE seq = 3",
        "UPDATE audit_record SET seq = 3 WHERE seq = 4",
        "UPDATE audit_record SET seq = 4 WHERE seq = 1000",
    ],
}
FIRST_BROKEN = {
    "update": 3,
    "update-with-new-hash": 3,
    "delete": 4,
    "delete-last": 6,
    "reorder": 3,
}


@pytest.mark.parametrize("tampering", sorted(TAMPERING))
async def test_tampering_is_caught_and_the_first_broken_record_named(
    engine: AsyncEngine, tampering: str
) -> None:
    await _filled(engine)
    async with engine.begin() as connection:
        for statement in TAMPERING[tampering]:
            await connection.execute(text(statement))
    report = await _verify(engine)
    assert report.broken is not None
    assert report.broken.seq == FIRST_BROKEN[tampering]
    code, _, errors = await _cli(engine, "audit", "verify")
    assert code == 1
    assert f"audit chain broken at record {FIRST_BROKEN[tampering]}" in errors


async def test_concurrent_appenders_never_fork_the_chain(engine: AsyncEngine) -> None:
    sessions = sessionmaker(engine)

    async def append(n: int) -> None:
        async with sessions.begin() as session:
            await audit.append(session, [_entry(n % 50)])

    await asyncio.gather(*(append(n) for n in range(20)))
    report = await _verify(engine)
    assert report.intact
    assert report.records == 20


async def test_search_filters_and_prints_json_lines(engine: AsyncEngine) -> None:
    await _filled(engine)
    code, output, errors = await _cli(
        engine, "audit", "search", "--subject", TEST_BSNS[1], "--partner", "llz:fivoor"
    )
    assert code == 0, errors
    assert len(output.splitlines()) == RECORDS
    assert TEST_BSNS[1] not in output
    code, output, _ = await _cli(engine, "audit", "search", "--outcome", "DENY")
    assert (code, output) == (0, "")


async def test_report_by_bsn_lists_what_each_recipient_received(engine: AsyncEngine) -> None:
    await _filled(engine)
    code, output, errors = await _cli(engine, "audit", "report", TEST_BSNS[1])
    assert code == 0, errors
    report = json.loads(output)
    assert report["subject_pseudonyms"] == [SUBJECT]
    assert len(report["disclosures"]) == RECORDS
    first = report["disclosures"][0]
    assert first["recipient"] == "llz:fivoor"
    assert first["fields"] == ["police_involved"]
    assert first["withheld_fields"] == ["assessment"]
    assert first["legal_bases"] == ["wgs-samenwerkingsverband"]
    assert TEST_BSNS[1] not in output
    code, _, errors = await _cli(engine, "audit", "report", "12345")
    assert code == 2
    assert "neither a pseudonym nor a BSN" in errors
