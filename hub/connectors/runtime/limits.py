"""Per-partner limits at the webhook: a token bucket for the rate, and a cap on requests
in flight. A partner above either gets 429 problem+json with ``Retry-After``, before
its body is read or anything is published, so one partner's burst cannot starve the
others or the hub."""

from __future__ import annotations

import contextlib
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field

from hub.core.errors import TooManyRequests


@dataclass
class TokenBucket:
    """``rate_per_s`` requests a second on average, ``burst`` at once."""

    rate_per_s: float
    burst: int
    clock: Callable[[], float] = time.monotonic
    _tokens: float = field(init=False)
    _at: float = field(init=False)

    def __post_init__(self) -> None:
        self._tokens = float(self.burst)
        self._at = self.clock()

    def take(self) -> float:
        """Take one token; 0 when taken, else the seconds until one is there."""
        now = self.clock()
        self._tokens = min(self.burst, self._tokens + (now - self._at) * self.rate_per_s)
        self._at = now
        if self._tokens >= 1:
            self._tokens -= 1
            return 0.0
        return (1 - self._tokens) / self.rate_per_s


@dataclass
class PartnerLimits:
    connector: str
    rate_per_s: float
    burst: int
    max_in_flight: int
    clock: Callable[[], float] = time.monotonic
    _bucket: TokenBucket = field(init=False)
    _in_flight: int = field(default=0, init=False)

    def __post_init__(self) -> None:
        self._bucket = TokenBucket(self.rate_per_s, self.burst, self.clock)

    @contextlib.contextmanager
    def admit(self) -> Iterator[None]:
        """Hold a place for one request, or raise TooManyRequests."""
        if self._in_flight >= self.max_in_flight:
            raise TooManyRequests(
                f"{self.connector}: more than {self.max_in_flight} requests at once",
                retry_after_s=1.0,
            )
        wait = self._bucket.take()
        if wait > 0:
            raise TooManyRequests(
                f"{self.connector}: above {self.rate_per_s:g} requests a second "
                f"(burst {self.burst})",
                retry_after_s=wait,
            )
        self._in_flight += 1
        try:
            yield
        finally:
            self._in_flight -= 1
