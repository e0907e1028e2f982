"""The webhook-ids this process accepted within the replay window, so a replayed request
is refused from memory before it takes any of the partner's allowance or a state read.

It is only the first check: the claim in the accepting transaction decides, so an id
accepted by another process, before a restart, or dropped from a full memory is still
refused (409), and the partner's rate token is given back (``PartnerLimits``).
"""

from __future__ import annotations

import time
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass, field

MAX_REMEMBERED = 100_000
"""Ids kept at most, the oldest dropped first: the partner's rate bounds them anyway
(50 a second for a 300-second window is 15,000, or 30,000 over twice the window)."""


@dataclass
class RecentIds:
    """Ids accepted in the last ``keep_s`` seconds: twice the replay window, since a
    timestamp may lie up to one window ahead of the clock."""

    keep_s: float
    clock: Callable[[], float] = time.monotonic
    limit: int = MAX_REMEMBERED
    _until: OrderedDict[str, float] = field(default_factory=OrderedDict, init=False)

    def __contains__(self, message_id: str) -> bool:
        self._forget_expired()
        return message_id in self._until

    def add(self, message_id: str) -> None:
        self._until[message_id] = self.clock() + self.keep_s
        self._until.move_to_end(message_id)
        while len(self._until) > self.limit:
            self._until.popitem(last=False)

    def _forget_expired(self) -> None:
        now = self.clock()
        while self._until:
            oldest, until = next(iter(self._until.items()))
            if until > now:
                return
            del self._until[oldest]
