"""A benchmark run cut short by its bounded wait reports what arrived, and cannot show a
better percentile than it had: what never arrived counts at the cut-off."""

from __future__ import annotations

from hub.benchmark.latency import LoadResult


def test_what_never_arrived_counts_at_the_cut_off_as_a_lower_bound() -> None:
    sent = {"a": 0.0, "b": 0.0, "c": 0.0}
    arrived = {"a": 0.1}
    result = LoadResult.of("run", 50.0, list(sent), sent, arrived, 0.0, gave_up=60.0)
    assert result.sent == 3
    assert result.arrived == 1, "only real arrivals count as arrived"
    assert sorted(result.latencies_ms) == [100.0, 60_000.0, 60_000.0]
    assert result.p99_ms == 60_000.0
    assert result.p50_ms == 60_000.0


def test_without_a_cut_off_only_what_arrived_has_a_latency() -> None:
    sent = {"a": 0.0, "b": 0.0}
    result = LoadResult.of("run", None, list(sent), sent, {"a": 0.25}, 0.0)
    assert result.latencies_ms == (250.0,)
    assert result.seconds == 0.25
