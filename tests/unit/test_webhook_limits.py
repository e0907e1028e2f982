"""The limits before authentication: keyed on the client address (an IPv6 client by its
/64), a rate and an in-flight cap per address, a cap over all addresses, and bounded
memory whatever the number of addresses."""

from __future__ import annotations

import contextlib
from functools import partial

import pytest

from hub.connectors.runtime.limits import SourceLimits
from hub.core.addresses import source_key
from hub.core.errors import TooManyRequests
from hub.settings import HttpSettings


class Clock:
    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now


def _limits(clock: Clock) -> SourceLimits:
    http = HttpSettings()
    return SourceLimits(
        rate_per_s=http.webhook_source_rate_per_s,
        burst=http.webhook_source_burst,
        max_in_flight=http.webhook_source_max_in_flight,
        max_unauthenticated=http.webhook_max_unauthenticated,
        clock=clock,
    )


def test_an_ipv6_client_is_limited_by_its_64_and_a_mapped_ipv4_as_itself() -> None:
    assert source_key("2001:db8:1:2:aaaa::1") == source_key("2001:db8:1:2:ffff::9")
    assert source_key("2001:db8:1:2::1") == "2001:db8:1:2::/64"
    assert source_key("2001:db8:1:3::1") != source_key("2001:db8:1:2::1")
    assert source_key("::ffff:192.0.2.7") == "192.0.2.7"
    assert source_key("192.0.2.7") == "192.0.2.7"
    assert source_key(None) == "unknown"


def test_one_address_spends_only_its_own_burst() -> None:
    clock = Clock()
    limits = _limits(clock)
    for _ in range(200):
        with limits.admit("192.0.2.1"):
            pass
    with pytest.raises(TooManyRequests, match="from this address"), limits.admit("192.0.2.1"):
        pass
    with limits.admit("192.0.2.2"):
        pass
    clock.now += 0.01  # one token back at 100 a second
    with limits.admit("192.0.2.1"):
        pass


def test_requests_in_progress_are_capped_per_address_and_over_all() -> None:
    """Per address a hard cap; over all addresses the oldest waiting request is cut off
    to make room, so a crowd of stalled bodies cannot keep a new request out."""
    limits = _limits(Clock())
    cut: list[str] = []
    with contextlib.ExitStack() as held:
        for n in range(16):
            held.enter_context(limits.admit("192.0.2.1", cut=partial(cut.append, f"a{n}")))
        with pytest.raises(TooManyRequests, match="at once from this address"):
            held.enter_context(limits.admit("192.0.2.1"))
        for n in range(256 - 16):
            held.enter_context(limits.admit(f"198.51.100.{n}", cut=partial(cut.append, "b")))
        assert cut == []
        held.enter_context(limits.admit("203.0.113.1"))
        assert cut == ["a0"], "the longest waiting is cut, not the newcomer"
        held.enter_context(limits.admit("203.0.113.2"))
        assert cut == ["a0", "a1"]
        assert len(limits._waiting) == 256
        assert limits._in_flight["192.0.2.1"] == 14, "a cut request frees its address's place"
    assert limits._in_flight == {}
    assert limits._waiting == {}
    with limits.admit("192.0.2.1"):
        pass


def test_memory_stays_bounded_by_the_number_of_buckets_kept() -> None:
    limits = _limits(Clock())
    for n in range(limits.max_sources + 500):
        with limits.admit(f"10.{n // 65536}.{n // 256 % 256}.{n % 256}"):
            pass
    assert len(limits._buckets) == limits.max_sources
    assert limits._in_flight == {}
