"""Plausibility in time: a date that states a fact may not lie in the future.

Every date and datetime of a canonical event says which it is, in its JSON Schema
(``x-timing``), declared with :func:`fact` or :func:`may_lie_ahead` in place of
``categorised``:

- a **fact** (a detention began, a person was born, the police met the client) cannot
  have happened after now; a partner that sends one a week ahead sent a typing error or
  a plan, and the hub must not tell the chain it happened;
- a date that **may lie ahead** is a plan, an expectation or the end of a validity
  (an expected release, a planned exclusion, the last day of a legal title).

:func:`too_far_ahead` is the pure check: the inbound runtime runs it once per event
with its injected clock and the :class:`~hub.settings.PlausibilitySettings` tolerance,
and refuses the message naming the field. A test requires every date field of every
registered event to have made the choice, so a new one cannot skip it.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator
from dataclasses import dataclass
from enum import StrEnum
from typing import Any
from zoneinfo import ZoneInfo

from pydantic import BaseModel
from pydantic.fields import FieldInfo

from hub.schemas.categories import DataCategory, categorised
from hub.settings import PlausibilitySettings

TIMING_KEY = "x-timing"


class Timing(StrEnum):
    FACT = "fact"
    """States what has happened: at most the tolerance after now."""
    MAY_LIE_AHEAD = "may-lie-ahead"
    """A plan, an expectation or the end of a validity: any date."""


def _timed(timing: Timing, category: DataCategory, description: str, **kwargs: Any) -> Any:
    info: FieldInfo = categorised(category, description=description, **kwargs)
    if not isinstance(info.json_schema_extra, dict):
        raise TypeError("categorised() no longer keeps its markers in a dict")
    info.json_schema_extra[TIMING_KEY] = timing.value
    return info


def fact(category: DataCategory, *, description: str, **kwargs: Any) -> Any:
    """``categorised(...)`` for a date or moment of something that has happened.

    Example::

        start_date: dt.date = fact(DataCategory.JUSTICE, description="Date of entry.")
    """
    return _timed(Timing.FACT, category, description, **kwargs)


def may_lie_ahead(category: DataCategory, *, description: str, **kwargs: Any) -> Any:
    """``categorised(...)`` for a date that may lie in the future; say why in ``description``."""
    return _timed(Timing.MAY_LIE_AHEAD, category, description, **kwargs)


def timing_of(info: FieldInfo) -> Timing | None:
    extra = info.json_schema_extra
    value = extra.get(TIMING_KEY) if isinstance(extra, dict) else None
    return Timing(value) if isinstance(value, str) else None


@dataclass(frozen=True)
class TooFarAhead:
    """A fact dated after the latest the tolerance allows; ``path`` is the field's place
    in the event (``("start_date",)``, ``("team", 0, "since")``)."""

    path: tuple[str | int, ...]
    latest: dt.date | dt.datetime

    @property
    def field(self) -> str:
        return ".".join(str(p) for p in self.path)


def latest_date(now: dt.datetime, tolerance: PlausibilitySettings) -> dt.date:
    """The last day a fact may carry: today where the partners are, plus the tolerance.
    The calendar day is Amsterdam's, not UTC's: at 00:30 in Amsterdam it is already the
    next day, though UTC still says the day before."""
    return now.astimezone(ZoneInfo(tolerance.timezone)).date() + dt.timedelta(
        days=tolerance.days_ahead
    )


def latest_moment(now: dt.datetime, tolerance: PlausibilitySettings) -> dt.datetime:
    """The last moment a fact may carry: now plus the allowed clock skew."""
    return now + dt.timedelta(minutes=tolerance.minutes_ahead)


def too_far_ahead(
    event: BaseModel, now: dt.datetime, tolerance: PlausibilitySettings
) -> list[TooFarAhead]:
    """Every fact in ``event`` (nested models included) dated after what ``tolerance``
    allows at ``now``. A moment without a zone is read as the tolerance's local time,
    which is what a Dutch partner means by it."""
    day, moment = latest_date(now, tolerance), latest_moment(now, tolerance)
    zone = ZoneInfo(tolerance.timezone)
    found = []
    for path, value in _facts(event, ()):
        if isinstance(value, dt.datetime):
            aware = value if value.tzinfo is not None else value.replace(tzinfo=zone)
            if aware > moment:
                found.append(TooFarAhead(path, moment))
        elif value > day:
            found.append(TooFarAhead(path, day))
    return found


def _facts(
    model: BaseModel, path: tuple[str | int, ...]
) -> Iterator[tuple[tuple[str | int, ...], dt.date]]:
    """The date values of ``model`` declared facts, and every nested model's, by path."""
    for name, info in type(model).model_fields.items():
        value = getattr(model, name)
        here = (*path, name)
        if isinstance(value, dt.date):
            if timing_of(info) is Timing.FACT:
                yield here, value
        elif isinstance(value, BaseModel):
            yield from _facts(value, here)
        elif isinstance(value, tuple | list):
            for n, item in enumerate(value):
                if isinstance(item, BaseModel):
                    yield from _facts(item, (*here, n))
