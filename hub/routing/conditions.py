"""The boolean conditions the sharing rules reason about, for one recipient and one field.

The Cedar policy reads exactly these, and the decision table's conditions map onto them
(:data:`hub.routing.decision_table.FACT_OF_CONDITION`), which is what makes it possible to
check the policy against the table over every combination.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, fields
from itertools import product

from hub.schemas.categories import DataCategory


@dataclass(frozen=True)
class Conditions:
    in_team: bool
    label_partner: bool
    is_gemeente: bool
    purpose_lla: bool
    purpose_nazorg: bool
    wgs_in_force: bool
    bsn_authorised: bool
    consent: bool
    zorgmachtiging: bool
    strafrechtelijke_voorwaarde: bool
    conflict_of_duties: bool
    role_relevant: bool
    covenant: bool

    def as_context(self) -> dict[str, bool]:
        return asdict(self)


CONDITION_NAMES: tuple[str, ...] = tuple(f.name for f in fields(Conditions))


def every_combination() -> list[tuple[DataCategory, Conditions]]:
    """All categories times all 2^13 condition combinations (the exhaustive test's domain)."""
    return [
        (category, Conditions(*values))
        for category in DataCategory
        for values in product((False, True), repeat=len(CONDITION_NAMES))
    ]


@dataclass(frozen=True)
class RuleResult:
    """Whether a field of a category may go, and which rules (legal bases) permitted it."""

    allowed: bool
    rule_ids: frozenset[str]
