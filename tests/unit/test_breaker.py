"""The circuit breaker's half-open trial: one at a time, settled by its attempt, and
given back when the attempt never reached the partner."""

from __future__ import annotations

import pytest

from hub.breaker import BreakerState, CircuitBreaker


class Clock:
    now = 0.0

    def __call__(self) -> float:
        return self.now


def half_open() -> CircuitBreaker:
    clock = Clock()
    breaker = CircuitBreaker(failures=1, open_s=30.0, clock=clock)
    breaker.failed()
    clock.now = 30.0
    assert breaker.state is BreakerState.HALF_OPEN
    return breaker


def test_one_trial_at_a_time_and_a_failed_trial_opens_again() -> None:
    breaker = half_open()
    with breaker.attempt() as first:
        with breaker.attempt() as second:
            assert (first, second) == (True, False)
        breaker.failed()
    assert breaker.state is BreakerState.OPEN


def test_a_trial_that_made_no_call_is_given_back_even_on_an_error() -> None:
    breaker = half_open()
    with breaker.attempt() as allowed:
        assert allowed  # then the delivery turns out to be a repeat: no call

    def before_the_call() -> None:
        with breaker.attempt() as allowed:
            assert allowed
            raise RuntimeError("the store went away before the call")

    with pytest.raises(RuntimeError):
        before_the_call()
    with breaker.attempt() as allowed:
        assert allowed, "the trial is still there to take"
        breaker.succeeded()
    assert breaker.state is BreakerState.CLOSED
