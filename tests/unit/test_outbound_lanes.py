"""An outbound connector's plan for a fetch, without a database or a partner: duplicates,
lanes per client and partner in order, what must wait and why, and a re-send that takes
its lane's stop."""

from __future__ import annotations

from hub.connectors.runtime.lanes import Step, plan_fetch
from hub.connectors.testing.scenarios import sample_delivery
from hub.schemas.categories import DataCategory
from hub.schemas.deliveries import NotificationDelivery
from hub.schemas.detention import DetentionStarted
from hub.schemas.envelope import HUB_SOURCE, Envelope

A, B = "psn-t1-" + "a" * 40, "psn-t1-" + "b" * 40


def delivery(
    n: int, subject: str, recipient: str, key: str
) -> tuple[int, Envelope, NotificationDelivery]:
    event = sample_delivery(
        recipient, DetentionStarted, {"skn": "SKN1"}, {"skn": DataCategory.JUSTICE}, key=key
    )
    envelope = Envelope.for_event(event, subject=subject, source=HUB_SOURCE, event_id=f"d{n}")
    return n, envelope, event


FETCH = [
    delivery(0, A, "llz:fivoor", "k0"),
    delivery(1, A, "politie", "k1"),
    delivery(2, B, "llz:fivoor", "k2"),
    delivery(3, A, "llz:fivoor", "k3"),
    delivery(1, A, "politie", "k1"),  # the same record twice in one fetch
]


def test_lanes_keep_their_order_and_duplicates_are_found() -> None:
    plan = plan_fetch(FETCH, done={"d2"}, held={}, resent={})
    assert [(p.n, p.step) for p in plan.duplicates] == [(2, Step.DUPLICATE), (1, Step.DUPLICATE)]
    assert {lane: [p.n for p in steps] for lane, steps in plan.lanes.items()} == {
        (A, "llz:fivoor"): [0, 3],
        (A, "politie"): [1],
    }
    assert plan.waiting == {}


def test_a_lane_that_holds_something_waits_and_says_why() -> None:
    held: dict[tuple[str, str], str | None] = {(A, "llz:fivoor"): None, (B, "llz:fivoor"): "L-1"}
    plan = plan_fetch(FETCH, done=set(), held=held, resent={})
    assert plan.waiting == {
        (A, "llz:fivoor"): "behind an earlier delivery",
        (B, "llz:fivoor"): "held behind dead letter L-1",
    }
    assert (A, "politie") not in plan.waiting, "another partner's lane goes on"
    assert all(p.step is Step.ATTEMPT for steps in plan.lanes.values() for p in steps)


def test_a_re_send_takes_the_stop_of_its_own_dead_letter_only() -> None:
    held: dict[tuple[str, str], str | None] = {(A, "llz:fivoor"): "L-1"}
    plan = plan_fetch(FETCH, done=set(), held=held, resent={"k3": "L-1", "k2": "L-9"})
    steps = {p.n: p for lane in plan.lanes.values() for p in lane}
    assert (steps[3].step, steps[3].stop) == (Step.RESEND, "L-1")
    assert steps[0].step is Step.ATTEMPT, "another delivery of the stopped lane waits"
    assert steps[2].step is Step.ATTEMPT, "a dead letter that stops no lane of its own"
