"""What an outbound connector does with a fetch, decided before any partner is called:
a pure function of the fetch and of what the store says (what was handled before, which
lanes hold something, which dead letters a re-send would settle). No I/O.

Each delivery ends in one step: a duplicate (handled before, or twice in the fetch), a
re-send that takes its lane's stop (a label offered again), or an attempt, in its
lane's order, with the reason it must wait if its lane holds something already. The
runtime carries the steps out; an attempt that fails makes the rest of its lane wait.
"""

from __future__ import annotations

from collections.abc import Collection, Mapping, Sequence
from dataclasses import dataclass, field
from enum import StrEnum

from hub.schemas.deliveries import NotificationDelivery
from hub.schemas.envelope import Envelope

LaneKey = tuple[str, str]
"""A lane of one outbound connector: (client, partner)."""


class Step(StrEnum):
    DUPLICATE = "duplicate"
    RESEND = "resend"
    ATTEMPT = "attempt"


@dataclass(frozen=True)
class Planned:
    """One delivery of the fetch (``n``, its place in it) and what to do with it."""

    n: int
    envelope: Envelope
    event: NotificationDelivery
    step: Step
    stop: str | None = None
    """For a re-send: the dead letter whose stop it takes."""


@dataclass(frozen=True)
class FetchPlan:
    duplicates: list[Planned] = field(default_factory=list)
    lanes: dict[LaneKey, list[Planned]] = field(default_factory=dict)
    waiting: dict[LaneKey, str] = field(default_factory=dict)
    """Why a lane's first attempt must wait: it holds something already."""


def plan_fetch(
    opened: Sequence[tuple[int, Envelope, NotificationDelivery]],
    done: Collection[str],
    held: Mapping[LaneKey, str | None],
    resent: Mapping[str, str],
) -> FetchPlan:
    """The steps for the deliveries of one fetch. ``done``: delivery ids handled before;
    ``held``: the lanes that hold something, with the dead letter that stops each (or
    None); ``resent``: the open dead letter of each delivery key that has one."""
    plan = FetchPlan()
    seen: set[str] = set()
    for n, envelope, event in opened:
        if envelope.id in done or envelope.id in seen:
            plan.duplicates.append(Planned(n, envelope, event, Step.DUPLICATE))
            continue
        seen.add(envelope.id)
        lane = (envelope.subject, event.recipient)
        stop = resent.get(event.idempotency_key)
        if stop is not None and held.get(lane) == stop:
            step = Planned(n, envelope, event, Step.RESEND, stop)
        else:
            step = Planned(n, envelope, event, Step.ATTEMPT)
        plan.lanes.setdefault(lane, []).append(step)
    for lane in plan.lanes:
        if lane in held:
            stop = held[lane]
            plan.waiting[lane] = (
                "behind an earlier delivery" if stop is None else f"held behind dead letter {stop}"
            )
    return plan
