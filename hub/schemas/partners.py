"""Partner ids, as in DESIGN §1: ``dji``, ``gemeente:GM0363``, ``zvh:amsterdam`` ...

Nine kinds are built in (``PartnerKind``), each with the rules the routing and the
sharing policy give it. More come from configuration (``HUB_PARTNERS__KINDS``): a new
kind of partner is data, not a hub release. Its partners can be team members, senders
and recipients (on a delivery topic of their own), and receive what the sharing rules
give the role they hold; a configured kind may not shadow a built-in one, and names a
role the rules know, or it is refused when the hub starts.

Which roles a partner may hold in a team follows from its kind (:func:`role_refusal`):
a role that is an authority's task is held only by partners of that kind, so a team
registration cannot make a care provider the police and give it the police's label.
"""

from __future__ import annotations

import functools
import re
from collections.abc import Mapping
from dataclasses import dataclass
from enum import StrEnum
from typing import Annotated

from pydantic import AfterValidator

from hub.core import topics
from hub.core.errors import ConfigurationError
from hub.schemas.roles import TeamRole
from hub.settings import HubSettings, PartnerKindSettings


class PartnerKind(StrEnum):
    DJI = "dji"
    GEMEENTE = "gemeente"
    KEDO = "kedo"
    ZVH = "zvh"
    LLZ = "llz"
    PI = "pi"
    POLITIE = "politie"
    RECLASSERING = "reclassering"
    CRISIS = "crisis"


_NAMED = re.compile(r"[a-z0-9][a-z0-9-]{0,39}")
_QUALIFIER = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]*")
"""What any qualifier is made of, whatever a configured kind's rule allows besides."""
PARTNER_ID_MAX = 60
"""The longest partner id: the state store's columns hold no longer one."""


@dataclass(frozen=True)
class KindRule:
    """How a kind's partner ids are written, and the role its partners hold where no
    team registration names one (none: they only ever hold a registered role)."""

    name: str
    qualifier: re.Pattern[str] | None
    role: TeamRole | None = None

    def check(self, partner_id: str, qualifier: str) -> None:
        if self.qualifier is None:
            if qualifier:
                raise ValueError(f"partner '{self.name}' takes no qualifier")
        # The character set first: a configured rule then sees only what an id may hold.
        elif not (_QUALIFIER.fullmatch(qualifier) and self.qualifier.fullmatch(qualifier)):
            raise ValueError(
                f"partner id {partner_id!r} needs a qualifier {self.name}:<code> where <code> "
                f"matches {self.qualifier.pattern}"
            )


BUILT_IN: dict[str, KindRule] = {
    rule.name: rule
    for rule in (
        KindRule(PartnerKind.DJI, None),
        KindRule(PartnerKind.GEMEENTE, re.compile(r"GM\d{4}"), TeamRole.CASUSREGISSEUR),
        KindRule(PartnerKind.KEDO, None),
        KindRule(PartnerKind.ZVH, _NAMED, TeamRole.PROCESREGISSEUR),
        KindRule(PartnerKind.LLZ, _NAMED, TeamRole.LEVENSLOOPCOORDINATOR),
        KindRule(PartnerKind.PI, _NAMED, TeamRole.PI_BACKOFFICE),
        KindRule(PartnerKind.POLITIE, None, TeamRole.POLITIE),
        KindRule(PartnerKind.RECLASSERING, None, TeamRole.RECLASSERING),
        KindRule(PartnerKind.CRISIS, _NAMED, TeamRole.CRISISDIENST),
    )
}


def kind_rules(configured: Mapping[str, PartnerKindSettings]) -> dict[str, KindRule]:
    """The built-in kinds and ``configured``; ConfigurationError for a configured kind
    that shadows a built-in one or names a role the sharing rules do not know."""
    rules = dict(BUILT_IN)
    roles = {role.value for role in TeamRole}
    for name, kind in configured.items():
        field = f"partners.kinds.{name}"
        if name in BUILT_IN:
            raise ConfigurationError(f"{name!r} is a built-in partner kind", field=field)
        if kind.role is not None and kind.role not in roles:
            raise ConfigurationError(
                f"unknown role {kind.role!r}; the roles are {', '.join(sorted(roles))}",
                field=f"{field}.role",
            )
        qualifier = None if kind.qualifier is None else re.compile(kind.qualifier)
        rules[name] = KindRule(name, qualifier, None if kind.role is None else TeamRole(kind.role))
    return rules


@functools.cache
def known_kinds() -> Mapping[str, KindRule]:
    """Every kind this hub knows: the built-in ones and the configured ones, read once
    per process (``known_kinds.cache_clear()`` after the settings change)."""
    return kind_rules(HubSettings().partners.kinds)


def partner_kind(partner_id: str) -> str:
    """The kind of a partner id; raises ValueError naming the rule it breaks."""
    if len(partner_id) > PARTNER_ID_MAX:
        raise ValueError(
            f"a partner id is at most {PARTNER_ID_MAX} characters; this one has {len(partner_id)}"
        )
    kind, _, qualifier = partner_id.partition(":")
    rule = known_kinds().get(kind)
    if rule is None:
        raise ValueError(f"unknown partner kind {kind!r}")
    rule.check(partner_id, qualifier)
    return rule.name


def role_of_kind(kind: str) -> TeamRole | None:
    """The role a kind's partners hold where no team registration names one."""
    rule = known_kinds().get(kind)
    return None if rule is None else rule.role


CARE_ROLES = frozenset({TeamRole.LEVENSLOOPCOORDINATOR, TeamRole.ZORGAANBIEDER})
"""The roles of care: held by a levensloopaanbieder and by the partners of a configured
kind (a GGZ provider may be a client's levensloopaanbieder)."""


def role_refusal(partner_id: str, role: TeamRole) -> str | None:
    """Why a partner of ``partner_id``'s kind may not hold ``role`` in a team, or None.

    Each built-in kind holds its own role: the ZVH process direction, the municipality
    case direction, the PI, probation, the police and the crisis service are
    authorities' tasks and no one else's. A levensloopaanbieder also holds the care
    roles; a configured kind holds its configured role and the care roles; DJI and KEDO
    hold none. Raises ValueError for an id no known kind accepts."""
    kind = partner_kind(partner_id)
    rule = known_kinds()[kind]
    held = {rule.role} if rule.role is not None else set()
    if kind == PartnerKind.LLZ or kind not in BUILT_IN:
        held |= CARE_ROLES
    if role in held:
        return None
    may = " or ".join(sorted(r.value for r in held)) if held else "no role"
    return f"a partner of kind {str(kind)!r} cannot be {role.value} in a team (it holds {may})"


def delivery_kinds() -> tuple[str, ...]:
    """The kinds with a delivery topic: the built-in recipients and every configured kind."""
    configured = (name for name in known_kinds() if name not in BUILT_IN)
    return (*topics.DELIVERY_KINDS, *configured)


def hub_topics() -> tuple[topics.TopicSpec, ...]:
    """Every topic the hub needs, the configured kinds' delivery topics included."""
    return topics.all_topics(delivery_kinds())


def served_partner(partner: str) -> str:
    """``partner`` as a connector may serve it: one partner id, or a whole kind (an
    outbound connector for every municipality). Raises ValueError saying what is
    known, so that a connector for a partner the hub does not know is refused where it
    is named, not later by its kit."""
    if partner in known_kinds():
        return partner
    try:
        partner_kind(partner)
    except ValueError as error:
        kinds = ", ".join(known_kinds())
        raise ValueError(
            f"partner {partner!r} is neither a partner id nor a kind ({error}); "
            f"the kinds are {kinds}"
        ) from None
    return partner


def valid_partner_id(partner_id: str) -> bool:
    try:
        partner_kind(partner_id)
    except ValueError:
        return False
    return True


def _validate(partner_id: str) -> str:
    partner_kind(partner_id)
    return partner_id


PartnerId = Annotated[str, AfterValidator(_validate)]


def _validate_zvh(partner_id: str) -> str:
    if partner_kind(partner_id) != PartnerKind.ZVH:
        raise ValueError(f"{partner_id!r} is not a ZVH: a ZVH's partner id is zvh:<name>")
    return partner_id


ZvhId = Annotated[str, AfterValidator(_validate_zvh)]
"""The partner id of a ZVH: where an event names the ZVH with process direction, no
other kind of partner can take that place."""


def pi_partner(facility_code: str) -> str:
    """The partner id of a PI's backoffice, from its DJI code (``PI-AMS`` → ``pi:pi-ams``)."""
    return "pi:" + re.sub(r"[^a-z0-9-]+", "-", facility_code.lower()).strip("-")[:40]
