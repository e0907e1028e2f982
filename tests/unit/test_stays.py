"""One business key per stay: the START classification as a decision table, no database."""

from __future__ import annotations

import datetime as dt
from typing import Any, NamedTuple

import pytest

from hub.routing.stays import StartKind, classify_start
from hub.schemas.common import Facility
from hub.state.detentions import Stay
from tests.data import TEST_NAMES, detention_started

STARTED = detention_started()
SAID = STARTED.content_digest()
EVENT = "event-2"
OPEN = Stay(key="stay-1", released_on=None, start_event_id="event-1", start_digest=SAID)


def released(on: dt.date) -> Stay:
    return Stay(key="stay-1", released_on=on, start_event_id="event-1", start_digest=SAID)


class Row(NamedTuple):
    why: str
    stay: Stay | None
    changes: dict[str, Any]
    kind: StartKind
    key: str
    earlier: str | None


TABLE = [
    Row("no stay on record", None, {}, StartKind.START, EVENT, None),
    Row("the same START again", OPEN, {}, StartKind.DUPLICATE, "stay-1", "event-1"),
    Row(
        "only Injus' eventId differs",
        OPEN,
        {"source_event_id": "INJUS-0002"},
        StartKind.DUPLICATE,
        "stay-1",
        "event-1",
    ),
    Row(
        "another PI",
        OPEN,
        {"facility": Facility(code="PI-VUG", name="PI Vught")},
        StartKind.CORRECTION,
        "stay-1",
        "event-1",
    ),
    Row(
        "another start date",
        OPEN,
        {"start_date": dt.date(2026, 11, 19)},
        StartKind.CORRECTION,
        "stay-1",
        "event-1",
    ),
    Row(
        "a corrected name",
        OPEN,
        {"person_name": TEST_NAMES[1]},
        StartKind.CORRECTION,
        "stay-1",
        "event-1",
    ),
    Row(
        "released before the start: a new stay",
        released(dt.date(2026, 11, 1)),
        {},
        StartKind.START,
        EVENT,
        None,
    ),
    Row(
        "released on the start date: a new stay",
        released(dt.date(2026, 11, 20)),
        {},
        StartKind.START,
        EVENT,
        None,
    ),
    Row(
        "a late copy of a stay since ended",
        released(dt.date(2026, 12, 1)),
        {},
        StartKind.DUPLICATE,
        "stay-1",
        "event-1",
    ),
    Row(
        "a late correction of a stay since ended",
        released(dt.date(2026, 12, 1)),
        {"detention_title": "gevangenisstraf"},
        StartKind.CORRECTION,
        "stay-1",
        "event-1",
    ),
    Row(
        "a stay known from a transfer, its START not yet notified",
        Stay(key="stay-1", released_on=None, start_event_id=None, start_digest=None),
        {},
        StartKind.START,
        "stay-1",
        None,
    ),
    Row(
        "a record older than the stay key: what partners had is unknown",
        Stay(key="stay-1", released_on=None, start_event_id="event-1", start_digest=None),
        {},
        StartKind.CORRECTION,
        "stay-1",
        "event-1",
    ),
]


@pytest.mark.parametrize("row", TABLE, ids=[row.why for row in TABLE])
def test_a_start_is_classified_against_its_stay(row: Row) -> None:
    event = STARTED.model_copy(update=row.changes)
    got = classify_start(row.stay, event, EVENT)
    assert (got.kind, got.stay_key, got.earlier_event_id) == (row.kind, row.key, row.earlier)
    assert got.sends is (row.kind is not StartKind.DUPLICATE)


@pytest.mark.parametrize("row", TABLE, ids=[row.why for row in TABLE])
def test_the_audit_text_names_the_stay_and_events_and_nothing_the_start_said(row: Row) -> None:
    event = STARTED.model_copy(update=row.changes)
    text = classify_start(row.stay, event, EVENT).describe()
    assert row.key in text
    assert row.earlier is None or row.earlier in text
    said = (
        event.facility.code,
        event.facility.name,
        event.start_date.isoformat(),
        event.person_name,
        event.skn,
        event.source_event_id,
        event.municipality,
    )
    assert not [value for value in said if value and value in text]


def test_the_digest_is_of_the_content_and_not_of_the_message() -> None:
    again = detention_started(source_event_id="INJUS-0099")
    assert again.content_digest() == SAID
    assert detention_started(expected_end_date=dt.date(2027, 2, 20)).content_digest() != SAID


def test_a_repeat_from_a_newer_hub_is_a_repeat_here() -> None:
    """A field a newer hub added is kept and forwarded but never disclosed by this one:
    a START that differs only there tells no partner anything new, so it is no
    correction."""
    newer = STARTED.model_validate({**STARTED.model_dump(mode="json"), "ward": "B-2"})
    assert newer.model_extra == {"ward": "B-2"}, "kept"
    assert newer.content_digest() == SAID
