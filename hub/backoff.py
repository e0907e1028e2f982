"""Exponential backoff with full jitter (AWS architecture blog, "Exponential Backoff and
Jitter"): retries of many deliveries spread out instead of arriving together."""

from __future__ import annotations

import random
from dataclasses import dataclass, field


@dataclass(frozen=True)
class Backoff:
    max_attempts: int | None = None
    """None: no count; the caller bounds the retries by time."""
    initial_s: float = 0.5
    max_s: float = 300.0
    multiplier: float = 2.0
    rng: random.Random = field(default_factory=random.Random, compare=False, repr=False)

    def allows(self, attempt: int) -> bool:
        """Whether failed ``attempt`` (1-based) may be followed by another."""
        return self.max_attempts is None or attempt < self.max_attempts

    def pause(self, attempt: int) -> float:
        """Seconds to wait after failed ``attempt`` (1-based): uniform in [0, cap]."""
        cap = min(self.max_s, self.initial_s * self.multiplier ** (attempt - 1))
        return self.rng.uniform(0, cap)
