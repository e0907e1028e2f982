"""A circuit breaker per partner (Nygard, *Release It!*): after ``failures`` failed
attempts in a row the partner is left alone for ``open_s``; then one trial attempt
decides whether it is back (closed) or still down (open again).

While open, deliveries go straight to the retry queue without an attempt, so a dead
partner is not hammered and no attempt of any delivery's budget is spent on it.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from enum import StrEnum


class BreakerState(StrEnum):
    CLOSED = "closed"
    OPEN = "open"
    HALF_OPEN = "half-open"


@dataclass
class CircuitBreaker:
    failures: int = 5
    open_s: float = 30.0
    clock: Callable[[], float] = time.monotonic
    _failed: int = field(default=0, init=False)
    _opened_at: float | None = field(default=None, init=False)
    _trial: bool = field(default=False, init=False)

    @property
    def state(self) -> BreakerState:
        if self._opened_at is None:
            return BreakerState.CLOSED
        if self.clock() - self._opened_at >= self.open_s:
            return BreakerState.HALF_OPEN
        return BreakerState.OPEN

    def allows(self) -> bool:
        """May an attempt go now? In half-open, only one trial at a time."""
        state = self.state
        if state is BreakerState.CLOSED:
            return True
        if state is BreakerState.HALF_OPEN and not self._trial:
            self._trial = True
            return True
        return False

    @contextmanager
    def attempt(self) -> Iterator[bool]:
        """:meth:`allows`, for an attempt that may end before it reaches the partner (a
        repeat, an erased delivery, an error on the way): a half-open trial it took and
        did not settle is given back, so the breaker does not wait for ever on a trial
        that never comes (it kept every later delivery to the partner queued)."""
        trial = self.state is BreakerState.HALF_OPEN
        allowed = self.allows()
        try:
            yield allowed
        finally:
            if trial and allowed:
                self._trial = False

    def retry_in(self) -> float:
        """Seconds until the breaker lets a trial through (0 when it would now)."""
        if self._opened_at is None:
            return 0.0
        return max(0.0, self.open_s - (self.clock() - self._opened_at))

    def succeeded(self) -> None:
        self._failed, self._opened_at, self._trial = 0, None, False

    def trip(self) -> None:
        """Open now, whatever the count: the partner answered too slowly for a fetch's
        budget (hub.connectors.runtime.outbound), which one more call would not mend."""
        self._opened_at, self._trial = self.clock(), False

    def failed(self) -> None:
        self._failed += 1
        if self._trial or self._failed >= self.failures:
            self._opened_at = self.clock()
        self._trial = False


@dataclass
class Breakers:
    """One breaker per partner, made on first use."""

    failures: int = 5
    open_s: float = 30.0
    clock: Callable[[], float] = time.monotonic
    _by_partner: dict[str, CircuitBreaker] = field(default_factory=dict, init=False)

    def __getitem__(self, partner: str) -> CircuitBreaker:
        found = self._by_partner.get(partner)
        if found is None:
            found = CircuitBreaker(self.failures, self.open_s, self.clock)
            self._by_partner[partner] = found
        return found

    def states(self) -> dict[str, BreakerState]:
        return {partner: breaker.state for partner, breaker in self._by_partner.items()}
