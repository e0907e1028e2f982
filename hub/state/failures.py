"""The error history a retried or dead-lettered record carries: every attempt, when, and
the error tree's own words (ids and statuses, never content)."""

from __future__ import annotations

import datetime as dt
import json
from dataclasses import asdict, dataclass
from typing import Any

from hub.core.errors import HubError


@dataclass(frozen=True)
class Failure:
    attempt: int
    at: str
    error: str
    detail: str

    @classmethod
    def of(cls, attempt: int, error: HubError, now: dt.datetime) -> Failure:
        return cls(attempt=attempt, at=now.isoformat(), error=error.slug, detail=str(error)[:500])


def dump(failures: list[Failure]) -> str:
    return json.dumps([asdict(f) for f in failures])


def load(text: str) -> list[Failure]:
    items: list[dict[str, Any]] = json.loads(text or "[]")
    return [Failure(**item) for item in items]
