"""Consent resolution by the Mitz / Generic Function Consent conventions.

- No recorded choice means no.
- The most specific matching provision wins: one that names both the recipient and
  the data category beats one that names either, which beats a generic one.
- At equal specificity an objection (deny) beats a consent (permit).
- Only active consents whose period covers the moment count; a withdrawn consent is
  removed from the state, so withdrawal takes effect at once.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

from hub.schemas.fhir import PARTNER_SYSTEM

LLA_PURPOSE = "levensloopaanpak"


@dataclass(frozen=True)
class ConsentVerdict:
    permitted: bool
    consent_id: str | None


def _parse_moment(text: str | None, *, end: bool) -> dt.datetime | None:
    if not text:
        return None
    if len(text) == 10:
        day = dt.date.fromisoformat(text)
        moment = dt.datetime.combine(day, dt.time.max if end else dt.time.min)
        return moment.replace(tzinfo=dt.UTC)
    parsed = dt.datetime.fromisoformat(text.replace("Z", "+00:00"))
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=dt.UTC)


def _in_period(node: dict[str, Any], now: dt.datetime) -> bool:
    period = node.get("period") or {}
    start = _parse_moment(period.get("start"), end=False)
    stop = _parse_moment(period.get("end"), end=True)
    return (start is None or start <= now) and (stop is None or now <= stop)


def _actors(node: dict[str, Any]) -> set[str]:
    found = set()
    for actor in node.get("actor") or []:
        identifier = (actor.get("reference") or {}).get("identifier") or {}
        if identifier.get("system") in (None, PARTNER_SYSTEM) and identifier.get("value"):
            found.add(identifier["value"])
    return found


def _codes(items: Iterable[dict[str, Any]] | None) -> set[str]:
    return {item["code"] for item in items or [] if item.get("code")}


def _matching(
    node: dict[str, Any],
    recipient: str,
    category: str,
    now: dt.datetime,
    depth: int = 0,
    inherited: tuple[bool, bool] = (False, False),
) -> list[tuple[int, int, str]]:
    """(specificity, depth, type) of this provision and its nested ones that match.

    A nested provision is an exception inside its parent, so it inherits the parent's
    actor and class constraints, and at equal specificity the deeper one wins.
    """
    if not _in_period(node, now):
        return []
    actors, classes, purposes = (
        _actors(node),
        _codes(node.get("class")),
        _codes(node.get("purpose")),
    )
    if (actors and recipient not in actors) or (classes and category not in classes):
        return []
    if purposes and LLA_PURPOSE not in purposes:
        return []
    names_actor, names_class = inherited[0] or bool(actors), inherited[1] or bool(classes)
    found = [(int(names_actor) + int(names_class), depth, str(node.get("type", "permit")))]
    for nested in node.get("provision") or []:
        found += _matching(nested, recipient, category, now, depth + 1, (names_actor, names_class))
    return found


def resolve(
    consents: Iterable[dict[str, Any]], *, recipient: str, category: str, now: dt.datetime
) -> ConsentVerdict:
    """Whether the client's recorded choices permit ``category`` to ``recipient`` at ``now``."""
    candidates: list[tuple[int, int, str, str]] = []
    for consent in consents:
        if consent.get("status") != "active" or not consent.get("provision"):
            continue
        for specificity, depth, kind in _matching(consent["provision"], recipient, category, now):
            candidates.append((specificity, depth, kind, str(consent.get("id"))))
    if not candidates:
        return ConsentVerdict(permitted=False, consent_id=None)
    best = max((s, d) for s, d, _, _ in candidates)
    top = [(kind, cid) for s, d, kind, cid in candidates if (s, d) == best]
    denials = [cid for kind, cid in top if kind == "deny"]
    if denials:
        return ConsentVerdict(permitted=False, consent_id=sorted(denials)[0])
    return ConsentVerdict(permitted=True, consent_id=sorted(cid for _, cid in top)[0])
