"""Calendar days as the Netherlands counts them.

A validity day (a title's last day, a consent's start date, the day a law came into
force, an exclusion date) is a day in Europe/Amsterdam, never a UTC date: the same
moment written with +00:00 or +02:00 must fall on the same day.
"""

from __future__ import annotations

import datetime as dt
from zoneinfo import ZoneInfo

AMSTERDAM = ZoneInfo("Europe/Amsterdam")


def local_day(moment: dt.datetime) -> dt.date:
    """The Dutch calendar day of an aware moment; a naive one is refused."""
    if moment.tzinfo is None or moment.utcoffset() is None:
        raise ValueError("a moment without a time zone has no calendar day")
    return moment.astimezone(AMSTERDAM).date()


def day_start(day: dt.date) -> dt.datetime:
    """The first moment of ``day`` in Amsterdam."""
    return dt.datetime.combine(day, dt.time.min, tzinfo=AMSTERDAM)


def day_end(day: dt.date) -> dt.datetime:
    """The last moment of ``day`` in Amsterdam."""
    return dt.datetime.combine(day, dt.time.max, tzinfo=AMSTERDAM)
