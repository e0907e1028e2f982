"""The sharing rules of DESIGN §4 in plain Python: the oracle the Cedar policy is tested against.

It is deliberately written differently from the Cedar file (one function per basis,
no shared structure), so that a mistake in one is unlikely to be repeated in the other.
"""

from __future__ import annotations

from hub.routing.conditions import Conditions, RuleResult
from hub.schemas.categories import DataCategory

_TEAM_CATEGORIES = {DataCategory.JUSTICE, DataCategory.LABEL, DataCategory.CONTACT}
_LABEL_PARTNER_CATEGORIES = {DataCategory.LABEL, DataCategory.CONTACT}


def _medical_basis(c: Conditions) -> dict[str, bool]:
    reachable = (c.in_team or c.label_partner) and c.purpose_lla
    gate = reachable and c.role_relevant
    return {
        "consent": gate and c.consent,
        "zorgmachtiging-lla": gate and c.zorgmachtiging,
        "strafrechtelijke-voorwaarde-lla": gate and c.strafrechtelijke_voorwaarde,
        "conflict-van-plichten": reachable and c.conflict_of_duties,
    }


def evaluate(category: DataCategory, c: Conditions) -> RuleResult:
    """Which bases permit a field of ``category`` under ``c``; none means deny."""
    fired: set[str] = set()
    if category in _TEAM_CATEGORIES:
        if c.in_team and c.purpose_lla and c.wgs_in_force:
            fired.add("wgs-samenwerkingsverband")
        if c.is_gemeente and c.in_team and (c.purpose_lla or c.purpose_nazorg):
            fired.add("wettelijke-taak-nazorg")
    in_label_scope = category in _LABEL_PARTNER_CATEGORIES and c.label_partner
    if in_label_scope and c.purpose_lla and c.wgs_in_force:
        fired.add("wgs-labelpartner")
    lawful_purpose = c.purpose_lla or (c.purpose_nazorg and c.is_gemeente)
    if category is DataCategory.IDENTITY and c.in_team and c.bsn_authorised and lawful_purpose:
        fired.add("bsn-bevoegd")
    if category is DataCategory.MEDICAL:
        fired.update(rule for rule, holds in _medical_basis(c).items() if holds)
    return RuleResult(allowed=bool(fired), rule_ids=frozenset(fired))
