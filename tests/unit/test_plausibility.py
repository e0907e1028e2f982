"""The plausibility check in time (``hub.schemas.plausibility``): a fact may not lie
ahead of the clock beyond the tolerance, a plan may; every date field has chosen."""

from __future__ import annotations

import datetime as dt
import types
from collections.abc import Iterator
from typing import Any, Union, get_args, get_origin

import pytest
from pydantic import AwareDatetime, BaseModel, Field

from hub.schemas.base import CanonicalEvent
from hub.schemas.plausibility import (
    TIMING_KEY,
    Timing,
    latest_date,
    timing_of,
    too_far_ahead,
)
from hub.schemas.registry import EVENT_MODELS
from hub.settings import PlausibilitySettings
from tests.data import crisis_contact, detention_started

NOON = dt.datetime(2026, 12, 1, 12, tzinfo=dt.UTC)
"""13:00 in Amsterdam: the same calendar day in both zones."""
TODAY = dt.date(2026, 12, 1)
DEFAULT = PlausibilitySettings()
DAY = dt.timedelta(days=1)
MINUTE = dt.timedelta(minutes=1)

DECISIONS: dict[str, dict[str, Timing]] = {
    "DetentionStarted": {
        "birth_date": Timing.FACT,
        "expected_end_date": Timing.MAY_LIE_AHEAD,
        "start_date": Timing.FACT,
    },
    "DetentionTransferred": {
        "birth_date": Timing.FACT,
        "expected_end_date": Timing.MAY_LIE_AHEAD,
        "transfer_date": Timing.FACT,
    },
    "DetentionLeave": {
        "birth_date": Timing.FACT,
        "expected_end_date": Timing.MAY_LIE_AHEAD,
        "leave_start": Timing.FACT,
        "leave_end": Timing.MAY_LIE_AHEAD,
    },
    "DetentionEnded": {
        "birth_date": Timing.FACT,
        "expected_end_date": Timing.MAY_LIE_AHEAD,
        "end_date": Timing.FACT,
    },
    "KedoLookupResult": {"included_since": Timing.FACT, "looked_up_at": Timing.FACT},
    "ClientIncluded": {"included_since": Timing.FACT},
    "ClientExcluded": {"excluded_on": Timing.MAY_LIE_AHEAD},
    "CaseDisputed": {"included_since": Timing.FACT, "excluded_on": Timing.MAY_LIE_AHEAD},
    "ClientMoved": {"moved_on": Timing.MAY_LIE_AHEAD},
    "ConsentRecorded": {},
    "ConsentWithdrawn": {"withdrawn_at": Timing.FACT},
    "LegalTitleRecorded": {"valid_from": Timing.MAY_LIE_AHEAD, "valid_until": Timing.MAY_LIE_AHEAD},
    "ConflictOfDutiesDecided": {"decided_at": Timing.FACT, "valid_until": Timing.MAY_LIE_AHEAD},
    "PoliceEncounter": {"occurred_at": Timing.FACT},
    "ProbationSignal": {"occurred_at": Timing.FACT},
    "CrisisContact": {"occurred_at": Timing.FACT},
    "LabelSet": {"valid_from": Timing.FACT, "valid_until": Timing.MAY_LIE_AHEAD},
    "LabelWithdrawn": {"withdrawn_on": Timing.MAY_LIE_AHEAD},
    "LabelAcknowledged": {},
    "NotificationDelivery": {},
}
"""The decision per field, kept as data: what the schemas declare must be this."""


def _types(annotation: Any) -> Iterator[Any]:
    """Every type an annotation names: ``tuple[Member, ...] | None`` gives Member too."""
    yield annotation
    if get_origin(annotation) in (Union, types.UnionType) or get_args(annotation):
        for argument in get_args(annotation):
            yield from _types(argument)


def _date_fields(model: type[BaseModel], prefix: str = "") -> Iterator[tuple[str, Any]]:
    """(dotted path, FieldInfo) of every date or datetime field, nested models included."""
    for name, info in model.model_fields.items():
        named = list(_types(info.annotation))
        if any(t in (dt.date, dt.datetime, AwareDatetime) for t in named):
            yield f"{prefix}{name}", info
        for nested in named:
            if isinstance(nested, type) and issubclass(nested, BaseModel):
                yield from _date_fields(nested, f"{prefix}{name}.")


@pytest.mark.parametrize("model", EVENT_MODELS, ids=lambda m: m.__name__)
def test_every_date_field_of_every_event_has_chosen_fact_or_may_lie_ahead(
    model: type[CanonicalEvent],
) -> None:
    """A new date field without a choice fails here, so none skips the check silently."""
    undecided = [path for path, info in _date_fields(model) if timing_of(info) is None]
    assert not undecided, f"{model.__name__}: declare with fact() or may_lie_ahead(): {undecided}"


@pytest.mark.parametrize("model", EVENT_MODELS, ids=lambda m: m.__name__)
def test_the_choices_are_the_decision_table(model: type[CanonicalEvent]) -> None:
    declared = {path: timing_of(info) for path, info in _date_fields(model)}
    assert declared == DECISIONS[model.__name__]


def test_the_choice_is_in_the_exported_json_schema() -> None:
    schema = detention_started().model_json_schema()["properties"]
    assert schema["start_date"][TIMING_KEY] == "fact"
    assert schema["expected_end_date"][TIMING_KEY] == "may-lie-ahead"


def _refused(event: BaseModel, now: dt.datetime = NOON, **tolerance: Any) -> list[str]:
    return [f.field for f in too_far_ahead(event, now, PlausibilitySettings(**tolerance))]


DATE_TABLE = [
    # field, offset from today (Amsterdam), refused
    ("start_date", -30 * DAY, False),
    ("start_date", 0 * DAY, False),
    ("start_date", 1 * DAY, False),
    ("start_date", 2 * DAY, True),
    ("start_date", 365 * DAY, True),
    ("birth_date", -9000 * DAY, False),
    ("birth_date", 1 * DAY, False),
    ("birth_date", 2 * DAY, True),
    ("expected_end_date", 2 * DAY, False),
    ("expected_end_date", 365 * DAY, False),
]


@pytest.mark.parametrize(("field", "offset", "refused"), DATE_TABLE)
def test_a_date_is_refused_only_as_a_fact_after_tomorrow(
    field: str, offset: dt.timedelta, refused: bool
) -> None:
    event = detention_started(**{field: TODAY + offset})
    assert _refused(event) == ([field] if refused else [])


MOMENT_TABLE = [
    # offset from now, refused
    (-dt.timedelta(hours=1), False),
    (0 * MINUTE, False),
    (10 * MINUTE, False),
    (15 * MINUTE, False),
    (16 * MINUTE, True),
    (dt.timedelta(hours=1), True),
    (7 * DAY, True),
]


@pytest.mark.parametrize(("offset", "refused"), MOMENT_TABLE)
def test_a_moment_is_refused_beyond_the_clock_skew(offset: dt.timedelta, refused: bool) -> None:
    event = crisis_contact(occurred_at=NOON + offset)
    assert _refused(event) == (["occurred_at"] if refused else [])


def test_today_is_amsterdams_day_not_utcs() -> None:
    """At 23:30 UTC it is already 00:30 the next day in Amsterdam (winter time): a START
    dated the day after that is tomorrow there, though it is two days ahead in UTC."""
    late = dt.datetime(2026, 12, 1, 23, 30, tzinfo=dt.UTC)
    assert latest_date(late, DEFAULT) == dt.date(2026, 12, 3)
    assert _refused(detention_started(start_date=dt.date(2026, 12, 3)), late) == []
    assert _refused(detention_started(start_date=dt.date(2026, 12, 4)), late) == ["start_date"]
    in_summer = dt.datetime(2026, 7, 1, 22, 30, tzinfo=dt.UTC)  # 00:30 on 2 July there
    assert latest_date(in_summer, DEFAULT) == dt.date(2026, 7, 3)
    before_midnight = dt.datetime(2026, 12, 1, 22, 30, tzinfo=dt.UTC)  # 23:30 there
    assert latest_date(before_midnight, DEFAULT) == dt.date(2026, 12, 2)


def test_the_zone_is_a_setting() -> None:
    late = dt.datetime(2026, 12, 1, 23, 30, tzinfo=dt.UTC)
    assert latest_date(late, PlausibilitySettings(timezone="UTC")) == dt.date(2026, 12, 2)
    with pytest.raises(ValueError, match="unknown time zone"):
        PlausibilitySettings(timezone="Europe/Atlantis")


def test_a_moment_without_a_zone_is_read_as_amsterdam_time() -> None:
    """13:10 without a zone is 12:10 UTC in December: 10 minutes ahead of noon UTC, so
    taken; read as UTC it would be 70 minutes ahead."""
    assert _refused(crisis_contact(occurred_at=dt.datetime(2026, 12, 1, 13, 10))) == []
    late = crisis_contact(occurred_at=dt.datetime(2026, 12, 1, 13, 30))
    assert _refused(late) == ["occurred_at"]


def test_the_tolerance_is_configurable() -> None:
    tomorrow = detention_started(start_date=TODAY + DAY)
    assert _refused(tomorrow, days_ahead=0) == ["start_date"]
    assert _refused(detention_started(start_date=TODAY + 3 * DAY), days_ahead=3) == []
    soon = crisis_contact(occurred_at=NOON + MINUTE)
    assert _refused(soon, minutes_ahead=0) == ["occurred_at"]


def test_every_fact_ahead_is_found() -> None:
    event = detention_started(start_date=TODAY + 9 * DAY, birth_date=TODAY + 9 * DAY)
    assert sorted(_refused(event)) == ["birth_date", "start_date"]


class _Stay(BaseModel):
    since: dt.date = Field(json_schema_extra={TIMING_KEY: Timing.FACT.value})
    until: dt.date = Field(json_schema_extra={TIMING_KEY: Timing.MAY_LIE_AHEAD.value})


class _History(BaseModel):
    current: _Stay
    earlier: tuple[_Stay, ...]


def test_nested_models_are_checked_with_their_place() -> None:
    ahead, past = TODAY + 5 * DAY, TODAY - 5 * DAY
    history = _History(
        current=_Stay(since=past, until=ahead),
        earlier=(_Stay(since=past, until=past), _Stay(since=ahead, until=ahead)),
    )
    assert _refused(history) == ["earlier.1.since"]
