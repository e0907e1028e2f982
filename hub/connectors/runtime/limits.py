"""Limits at the webhook, in two stages.

Before authentication, per source (the client address; an IPv6 client by its /64): a
token bucket for the rate and a cap on requests in flight; and a cap on unauthenticated
requests in flight over all sources, which bounds memory. When that cap is full, the
request that has waited longest for its body is cut off to make room, never the new one:
a partner sends its body at once and is authenticated in milliseconds, so a crowd of
stalled bodies from many addresses cannot keep it out. Someone who cannot sign spends
only their own address's allowance, never a partner's.

After authentication, per partner: a token bucket for the rate, and a cap on requests in
flight, so one partner's burst cannot starve the others or the hub. A request refused as
a replay gives its token back.

Above any of them the sender gets 429 problem+json with ``Retry-After`` and nothing is
published."""

from __future__ import annotations

import contextlib
import itertools
import time
from collections import OrderedDict
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field

from hub.core.errors import ReplayedRequest, TooManyRequests


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

    def give_back(self) -> None:
        """Return a token taken for a request that turned out not to count."""
        self._tokens = min(float(self.burst), self._tokens + 1)


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
        except ReplayedRequest:  # refused by its claim: a replay spends no allowance
            self._bucket.give_back()
            raise
        finally:
            self._in_flight -= 1


@dataclass
class SourceLimits:
    """The limits before authentication, per source and over all sources. At most
    ``max_sources`` buckets are kept (the least recently seen go first), so a flood from
    many addresses costs bounded memory."""

    rate_per_s: float
    burst: int
    max_in_flight: int
    max_unauthenticated: int
    max_sources: int = 10_000
    clock: Callable[[], float] = time.monotonic
    _buckets: OrderedDict[str, TokenBucket] = field(default_factory=OrderedDict, init=False)
    _in_flight: dict[str, int] = field(default_factory=dict, init=False)
    _waiting: OrderedDict[int, tuple[str, Callable[[], None]]] = field(
        default_factory=OrderedDict, init=False
    )
    _numbers: Iterator[int] = field(default_factory=itertools.count, init=False)

    @contextlib.contextmanager
    def admit(self, source: str, cut: Callable[[], None] = lambda: None) -> Iterator[None]:
        """Hold a place for one unauthenticated request from ``source``, or raise
        TooManyRequests. With every place over all sources taken, the oldest request is
        cut off (``cut``, given when it was admitted, ends its wait) and loses its place."""
        if self._in_flight.get(source, 0) >= self.max_in_flight:
            raise TooManyRequests(
                f"more than {self.max_in_flight} unauthenticated requests at once from "
                "this address",
                retry_after_s=1.0,
            )
        wait = self._bucket(source).take()
        if wait > 0:
            raise TooManyRequests(
                f"above {self.rate_per_s:g} requests a second from this address "
                f"(burst {self.burst})",
                retry_after_s=wait,
            )
        if len(self._waiting) >= self.max_unauthenticated:
            _, (oldest, cut_oldest) = self._waiting.popitem(last=False)
            self._release(oldest)
            cut_oldest()
        number = next(self._numbers)
        self._waiting[number] = (source, cut)
        self._in_flight[source] = self._in_flight.get(source, 0) + 1
        try:
            yield
        finally:
            if self._waiting.pop(number, None) is not None:
                self._release(source)

    def _release(self, source: str) -> None:
        left = self._in_flight[source] - 1
        if left:
            self._in_flight[source] = left
        else:
            del self._in_flight[source]

    def _bucket(self, source: str) -> TokenBucket:
        bucket = self._buckets.pop(source, None)
        if bucket is None:
            bucket = TokenBucket(self.rate_per_s, self.burst, self.clock)
            while len(self._buckets) >= self.max_sources:
                self._buckets.popitem(last=False)
        self._buckets[source] = bucket
        return bucket
