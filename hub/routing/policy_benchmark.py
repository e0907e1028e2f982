"""How fast the sharing policy decides: the figures behind the 20,000 field decisions a
second target. A script to run (``hub policy bench``), never a timed test.

Three figures, each on one core:

- ``cedar_uncached``: Cedar itself, every question asked anew through cedarpy;
- ``decide_per_field``: the whole decision (``decide``: FHIR consent resolution, titles,
  per-field policy, explanation) over realistic messages, counted per field;
- ``decide_per_recipient``: the same, counted per recipient decision;
- ``decide_cold_per_field``: ``decide`` on a fresh policy whose answer cache is empty,
  so the first sight of each condition combination pays the Cedar call.

The policy caches Cedar's answer per (category, conditions): there are at most 40,960
distinct questions, so a running router soon pays only the look-up.
"""

from __future__ import annotations

import datetime as dt
import random
import time
from dataclasses import dataclass
from typing import Any

from hub.routing.cedar_policy import CedarPolicy
from hub.routing.conditions import every_combination
from hub.routing.decision import DecisionInput, FieldSpec, Purpose, Recipient, decide
from hub.schemas.categories import DataCategory
from hub.schemas.fhir import PARTNER_SYSTEM, PSEUDONYM_SYSTEM
from hub.schemas.roles import TeamRole

SUBJECT = "psn-bench-" + "0" * 40

_PARTNERS = (
    ("llz:fivoor", "levensloopcoordinator"),
    ("gemeente:GM0363", "casusregisseur"),
    ("zvh:amsterdam", "procesregisseur"),
    ("pi:pi-ams", "pi-backoffice"),
    ("politie", "politie"),
    ("crisis:amsterdam", "crisisdienst"),
)
_CATEGORIES = tuple(DataCategory)


@dataclass(frozen=True)
class BenchResult:
    name: str
    operations: int
    seconds: float

    @property
    def per_second(self) -> float:
        return self.operations / self.seconds if self.seconds else float("inf")

    def as_dict(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "operations": self.operations,
            "seconds": round(self.seconds, 4),
            "per_second": round(self.per_second),
        }


def _consent(rng: random.Random, n: int) -> dict[str, Any]:
    partner = rng.choice(_PARTNERS)[0]
    return {
        "resourceType": "Consent",
        "id": f"c{n}",
        "status": "active",
        "scope": {"coding": [{"code": "patient-privacy"}]},
        "category": [{"coding": [{"code": "medical"}]}],
        "patient": {"identifier": {"system": PSEUDONYM_SYSTEM, "value": SUBJECT}},
        "provision": {
            "type": rng.choice(("permit", "deny")),
            "period": {"start": "2026-01-01"},
            "actor": [
                {
                    "role": {"coding": [{"code": "IRCP"}]},
                    "reference": {"identifier": {"system": PARTNER_SYSTEM, "value": partner}},
                }
            ],
            "class": [{"code": "medical"}],
        },
    }


def _roles(category: DataCategory, i: int) -> tuple[TeamRole, ...] | None:
    """Every medical field names its roles; some only the LLC, so relevance bites."""
    if category is not DataCategory.MEDICAL:
        return None
    if i % 7 == 3:
        return (TeamRole.LEVENSLOOPCOORDINATOR,)
    return tuple(TeamRole)


def sample_inputs(count: int, *, seed: int = 7, fields: int = 10) -> list[DecisionInput]:
    """Messages of ``fields`` fields over every category, to varied recipients."""
    rng = random.Random(seed)
    now = dt.datetime(2026, 11, 23, 12, tzinfo=dt.UTC)
    out = []
    for _ in range(count):
        partner, role = rng.choice(_PARTNERS)
        out.append(
            DecisionInput(
                subject=SUBJECT,
                fields=tuple(
                    FieldSpec(
                        name=f"f{i}",
                        category=_CATEGORIES[i % len(_CATEGORIES)],
                        relevant_roles=_roles(_CATEGORIES[i % len(_CATEGORIES)], i),
                    )
                    for i in range(fields)
                ),
                recipient=Recipient(
                    partner=partner,
                    role=role,
                    in_team=rng.random() < 0.8,
                    may_hold_bsn=rng.random() < 0.7,
                ),
                purpose=rng.choice(tuple(Purpose)),
                consents=tuple(_consent(rng, k) for k in range(rng.randint(0, 3))),
                now=now,
            )
        )
    return out


def run(*, decisions: int = 5000, fields: int = 10, uncached: bool = True) -> list[BenchResult]:
    """Every figure; ``uncached=False`` leaves out Cedar over every combination of
    questions (seconds long, and not among ``hub bench``'s figures)."""
    policy = CedarPolicy()
    results = []
    if uncached:
        questions = every_combination()
        started = time.perf_counter()
        policy.evaluate_batch(questions)
        seconds = time.perf_counter() - started
        results.append(BenchResult("cedar_uncached", len(questions), seconds))

    inputs = sample_inputs(decisions, fields=fields)
    cold_policy = CedarPolicy()
    started = time.perf_counter()
    for data in inputs:
        decide(data, cold_policy)
    cold = BenchResult("decide_cold_per_field", decisions * fields, time.perf_counter() - started)
    for data in inputs[:200]:
        decide(data, policy)  # warm the per-question cache, as a running router has
    started = time.perf_counter()
    for data in inputs:
        decide(data, policy)
    elapsed = time.perf_counter() - started
    return [
        *results,
        BenchResult("decide_per_field", decisions * fields, elapsed),
        BenchResult("decide_per_recipient", decisions, elapsed),
        cold,
    ]
