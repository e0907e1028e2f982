"""A national-sized state for the memory figure: many included clients, each with a
case, a levensloopteam and a consent, written straight into the hub's database.

One client goes through the hub's own code (the ZVH connector's translation, then
``cases.apply`` and ``consents.record_consent``); the others are copies of its rows
under their own pseudonyms, which is what the hub itself would have written.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from typing import cast

from sqlalchemy import Table, select

from hub.connectors.base import InboundMessage
from hub.connectors.zvh.events import ZvhEvents
from hub.identity.pseudonym import Pseudonymiser
from hub.schemas.case import ClientIncluded
from hub.schemas.consent import ConsentRecorded
from hub.simulators.population import consent, inclusion, person
from hub.state import cases, consents
from hub.state.database import make_engine, sessionmaker
from hub.state.tables import Base, CaseState, ConsentRecord, TeamMembership

CHUNK = 5_000


async def populate(database_url: str, names: Pseudonymiser, bsns: Sequence[str]) -> int:
    """Give every client in ``bsns`` a case, a team and a consent; returns the row count."""
    found = person(bsns[0])
    assert found is not None
    zvh = ZvhEvents.from_config({})
    messages = [
        inclusion(found, "BENCH-INCL"),
        {
            "schemaVersie": "1",
            "bsn": found.bsn,
            "zvh": found.zvh,
            "id": "BENCH-CONSENT",
            "soort": "TOESTEMMING",
            "consent": consent("bench-consent", found.llz, found.bsn),
        },
    ]
    included, consented = (
        zvh.translate(InboundMessage(json.dumps(m).encode(), "application/json"))[0].event
        for m in messages
    )
    if not isinstance(included, ClientIncluded) or not isinstance(consented, ConsentRecorded):
        raise TypeError("the ZVH connector no longer makes an inclusion and a consent of these")
    engine = make_engine(database_url)
    sessions = sessionmaker(engine)
    template = names.pseudonym(bsns[0])
    subjects = [names.pseudonym(bsn) for bsn in bsns[1:]]
    written = 0
    try:
        async with sessions.begin() as session:
            await cases.apply(session, template, included, "bench-inclusion")
            bound = consented.for_subject(subject=template, bsn=bsns[0])
            await consents.record_consent(session, template, bound, "bench-consent")
        tables: tuple[type[Base], ...] = (CaseState, TeamMembership, ConsentRecord)
        for table in tables:
            columns = table.__table__.columns
            async with sessions() as session:
                rows = [
                    {c.name: getattr(row, c.key) for c in columns}
                    for row in await session.scalars(
                        select(table).where(columns["subject"] == template)
                    )
                ]
            copies = []
            for n, subject in enumerate(subjects, start=1):
                for row in rows:
                    copy = {**row, "subject": subject}
                    if "consent_id" in copy:
                        copy["consent_id"] = f"bench-consent-{n}"
                        copy["resource"] = str(copy["resource"]).replace(template, subject)
                    copies.append(copy)
            for start in range(0, len(copies), CHUNK):
                async with sessions.begin() as session:
                    # Core, not the ORM's bulk insert: two thirds of the time for 800,000 rows.
                    await session.execute(
                        cast(Table, table.__table__).insert(), copies[start : start + CHUNK]
                    )
            written += len(copies) + len(rows)
    finally:
        await engine.dispose()
    return written
