"""Exponential backoff with full jitter (AWS architecture blog, "Exponential Backoff and
Jitter"): retries of many deliveries spread out instead of arriving together."""

from __future__ import annotations

import random
from dataclasses import dataclass, field


@dataclass(frozen=True)
class Backoff:
    max_attempts: int = 5
    initial_s: float = 0.5
    max_s: float = 30.0
    multiplier: float = 2.0
    rng: random.Random = field(default_factory=random.Random, compare=False, repr=False)

    def pause(self, attempt: int) -> float:
        """Seconds to wait after failed ``attempt`` (1-based): uniform in [0, cap]."""
        cap = min(self.max_s, self.initial_s * self.multiplier ** (attempt - 1))
        return self.rng.uniform(0, cap)
