"""Consent resolution by the Mitz / Generic Function Consent conventions.

- No recorded choice means no.
- The most specific matching provision wins: one that names both the recipient and
  the data category beats one that names either, which beats a generic one.
- At equal specificity an objection (deny) beats a consent (permit).
- Only active consents whose period covers the moment count; a withdrawn consent is
  removed from the state, so withdrawal takes effect at once (or at its date).

The consents arrive read and checked (:mod:`hub.schemas.consent_profile`), so there is
nothing here to misread: a provision type is permit or deny, an actor a partner id.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable
from dataclasses import dataclass

from hub.schemas.categories import DataCategory
from hub.schemas.consent_profile import ConsentRule, ConsentStatus, Provision, ProvisionType

LLA_PURPOSE = "levensloopaanpak"


@dataclass(frozen=True)
class ConsentVerdict:
    permitted: bool
    consent_id: str | None


def _matching(
    node: Provision,
    recipient: str,
    category: DataCategory,
    now: dt.datetime,
    depth: int,
    inherited: tuple[bool, bool],
) -> list[tuple[int, int, ProvisionType]]:
    """(specificity, depth, type) of this provision and its nested ones that match.

    A nested provision is an exception inside its parent, so it inherits the parent's
    actor and class constraints, and at equal specificity the deeper one wins.
    """
    if not node.holds_at(now):
        return []
    if (node.actors and recipient not in node.actors) or (
        node.classes and category not in node.classes
    ):
        return []
    if node.purposes and LLA_PURPOSE not in node.purposes:
        return []
    names_actor = inherited[0] or bool(node.actors)
    names_class = inherited[1] or bool(node.classes)
    found = [(int(names_actor) + int(names_class), depth, node.type)]
    for nested in node.nested:
        found += _matching(nested, recipient, category, now, depth + 1, (names_actor, names_class))
    return found


def resolve(
    consents: Iterable[ConsentRule], *, recipient: str, category: DataCategory, now: dt.datetime
) -> ConsentVerdict:
    """Whether the client's recorded choices permit ``category`` to ``recipient`` at ``now``."""
    candidates: list[tuple[int, int, ProvisionType, str]] = []
    for consent in consents:
        if consent.status is not ConsentStatus.ACTIVE:
            continue
        matching = _matching(consent.provision, recipient, category, now, 0, (False, False))
        for specificity, depth, kind in matching:
            candidates.append((specificity, depth, kind, consent.consent_id))
    if not candidates:
        return ConsentVerdict(permitted=False, consent_id=None)
    best = max((s, d) for s, d, _, _ in candidates)
    top = [(kind, cid) for s, d, kind, cid in candidates if (s, d) == best]
    denials = [cid for kind, cid in top if kind is ProvisionType.DENY]
    if denials:
        return ConsentVerdict(permitted=False, consent_id=sorted(denials)[0])
    return ConsentVerdict(permitted=True, consent_id=sorted(cid for _, cid in top)[0])
