"""The order a fetch is routed in: each client's events on a topic in the order the hub
accepted them, not the order the broker brought them.

The two differ only when a broker is lost: its replacement can get a client's next
event from the webhook before the relay sends it again the one the old broker took
with it. Routed as fetched, a START behind a lost END is judged a repeat of the stay
and its notice never sent. So an event is routed after every event of its client
accepted before it on the same topic that the router does not have yet, those later in
the fetch and those the broker has not brought (read from the accepted events the store
keeps). Within a topic a partition keeps a client's order, so this changes nothing while
no broker is lost; across topics the hub never promised an order, and does not impose
one here.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

Pending = tuple[int, str, str]
"""An accepted event the router does not have yet: (seq, event id, lane), the lane being
the client on one topic."""


@dataclass(frozen=True)
class RoutingOrder:
    steps: list[int | str]
    """A position in the fetch, or the id of an event the broker has not brought."""
    ahead: dict[int, tuple[str, ...]]
    """Per position: the events routed just before it because they were accepted
    before it, so their deliveries are sent first."""


def accepted_order(fetched: Sequence[tuple[str, str]], pending: Sequence[Pending]) -> RoutingOrder:
    """The order to route ``fetched`` ((event id, lane), as the broker brought them) in,
    given ``pending`` in the order accepted. An event without a pending row (a
    repeat, a replay, one dated ahead) keeps its place."""
    accepted_at = {event_id: seq for seq, event_id, _ in pending}
    earlier: dict[str, list[tuple[int, str]]] = {}
    for seq, event_id, subject in pending:
        earlier.setdefault(subject, []).append((seq, event_id))
    waiting: dict[str, list[int]] = {}
    for position, (event_id, _) in enumerate(fetched):
        waiting.setdefault(event_id, []).append(position)
    steps: list[int | str] = []
    ahead: dict[int, tuple[str, ...]] = {}
    placed: set[int] = set()
    routed: set[str] = set()
    for position, (event_id, subject) in enumerate(fetched):
        if position in placed:
            continue
        own = accepted_at.get(event_id)
        before: list[str] = []
        for seq, other in earlier.get(subject, []):
            if own is None or seq >= own:
                break
            if other in routed:
                continue
            later = [p for p in waiting.get(other, []) if p not in placed]
            steps.append(later[0] if later else other)
            placed.update(later[:1])
            routed.add(other)
            before.append(other)
        steps.append(position)
        placed.add(position)
        routed.add(event_id)
        if before:
            ahead[position] = tuple(before)
    return RoutingOrder(steps, ahead)
