"""The order a fetch is routed in (``hub.routing.order``): worked cases, then the
properties that must hold for any fetch and any accepted events still waiting."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from hub.routing.order import Pending, RoutingOrder, accepted_order


@pytest.mark.parametrize(
    ("fetched", "pending", "steps", "ahead"),
    [
        pytest.param(
            [("start-2", "x")],
            [(2, "end-1", "x"), (3, "start-2", "x")],
            ["end-1", 0],
            {0: ("end-1",)},
            id="the END the broker lost goes first",
        ),
        pytest.param(
            [("start-2", "x"), ("end-1", "x")],
            [(2, "end-1", "x"), (3, "start-2", "x")],
            [1, 0],
            {0: ("end-1",)},
            id="fetched out of order: the END later in the fetch goes first",
        ),
        pytest.param(
            [("a-2", "a"), ("b-2", "b")],
            [(1, "b-1", "b"), (2, "a-2", "a"), (3, "b-2", "b")],
            [0, "b-1", 1],
            {1: ("b-1",)},
            id="another client's missing event waits for that client's turn",
        ),
        pytest.param(
            [("start-1", "x")],
            [(1, "start-1", "x"), (2, "end-1", "x")],
            [0],
            {},
            id="what was accepted after is not brought",
        ),
        pytest.param(
            [("replay", "x"), ("start-2", "x")],
            [(2, "end-1", "x"), (3, "start-2", "x")],
            [0, "end-1", 1],
            {1: ("end-1",)},
            id="an event with no accepted row keeps its place",
        ),
        pytest.param(
            [("start-1", "x"), ("start-1", "x")],
            [(1, "start-1", "x")],
            [0, 1],
            {},
            id="a record fetched twice is routed twice (the claim makes it a repeat)",
        ),
    ],
)
def test_worked_cases(
    fetched: list[tuple[str, str]],
    pending: list[Pending],
    steps: list[int | str],
    ahead: dict[int, tuple[str, ...]],
) -> None:
    assert accepted_order(fetched, pending) == RoutingOrder(steps, ahead)


@st.composite
def fetches(draw: st.DrawFn) -> tuple[list[tuple[str, str]], list[Pending]]:
    """Accepted events of a few clients, some of them waiting (not yet routed); the fetch
    brings some of the waiting ones in any order, and some records with no row."""
    subjects = draw(st.lists(st.sampled_from("abc"), min_size=1, max_size=12))
    events = [(seq, f"{subject}-{seq}", subject) for seq, subject in enumerate(subjects, 1)]
    waiting = [e for e in events if draw(st.booleans())]
    brought = draw(st.permutations(waiting)).copy()
    brought = brought[: draw(st.integers(0, len(brought)))]
    fetched = [(event_id, subject) for _, event_id, subject in brought]
    for extra in draw(st.lists(st.tuples(st.sampled_from("abc"), st.integers(0, 3)), max_size=3)):
        subject, at = extra
        fetched.insert(min(at, len(fetched)), (f"replay-{subject}-{at}", subject))
    return fetched, waiting


@given(fetches())
def test_every_fetched_record_is_routed_once_and_only_missing_earlier_events_are_brought(
    case: tuple[list[tuple[str, str]], list[Pending]],
) -> None:
    fetched, pending = case
    steps = accepted_order(fetched, pending).steps
    positions = [step for step in steps if isinstance(step, int)]
    assert sorted(positions) == list(range(len(fetched)))
    brought = [step for step in steps if isinstance(step, str)]
    assert len(brought) == len(set(brought))
    fetched_ids = {event_id for event_id, _ in fetched}
    seq_of = {event_id: (seq, subject) for seq, event_id, subject in pending}
    for event_id in brought:
        assert event_id not in fetched_ids
        seq, subject = seq_of[event_id]
        assert any(subject == s and seq < seq_of[e][0] for e, s in fetched if e in seq_of), (
            "brought only because a later event of its client was fetched"
        )


@given(fetches())
def test_each_clients_accepted_events_are_routed_in_the_order_accepted(
    case: tuple[list[tuple[str, str]], list[Pending]],
) -> None:
    fetched, pending = case
    steps = accepted_order(fetched, pending).steps
    seq_of = {event_id: (seq, subject) for seq, event_id, subject in pending}
    ids = [step if isinstance(step, str) else fetched[step][0] for step in steps]
    for subject in "abc":
        seqs = [seq_of[e][0] for e in ids if e in seq_of and seq_of[e][1] == subject]
        assert seqs == sorted(seqs)
    for event_id in ids:
        if event_id in seq_of:
            seq, subject = seq_of[event_id]
            earlier = {e for e, (s, subj) in seq_of.items() if subj == subject and s < seq}
            assert earlier <= set(ids[: ids.index(event_id)]), "every earlier one before it"
    unaccepted = [
        step for step in steps if isinstance(step, int) and fetched[step][0] not in seq_of
    ]
    assert unaccepted == sorted(unaccepted), "the rest keep the fetch's order"


@given(fetches())
def test_sending_each_events_ahead_then_itself_sends_in_the_order_routed(
    case: tuple[list[tuple[str, str]], list[Pending]],
) -> None:
    """The consumer flushes, per fetched record, what was routed ahead of it and then
    the record, first time seen: that must be the order routed, so no client's
    deliveries overtake."""
    fetched, pending = case
    order = accepted_order(fetched, pending)
    sent = dict.fromkeys(
        event_id
        for position, (own, _) in enumerate(fetched)
        for event_id in (*order.ahead.get(position, ()), own)
    )
    routed = dict.fromkeys(
        step if isinstance(step, str) else fetched[step][0] for step in order.steps
    )
    assert list(sent) == list(routed)
