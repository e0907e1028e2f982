"""Who should hear of an event (flows A to H of DESIGN §3), before the policy says what.

The router first builds the subject's *effective team* for this one event: the
levensloopteam the ZVH registered, completed by what the event itself establishes (the
PI that now holds the client, the municipality of release, the ZVH taking over). Each
flow then names the roles to notify, the purpose, and the fields that role needs; the
sharing policy decides afterwards, per field, what of that may really go.

For a detention event the hub's case state and KEDO's answer must agree. When one says
the client is in the approach and the other says not (:func:`dispute`), the detention
goes nowhere: only the ZVH procesregisseur hears, with label facts alone, that the two
disagree, so that a person resolves it.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable
from dataclasses import dataclass, field, replace

from hub.routing.decision import Purpose
from hub.schemas.base import CanonicalEvent
from hub.schemas.case import (
    CaseDisputed,
    CaseView,
    ClientExcluded,
    ClientIncluded,
    ClientMoved,
    KedoLookupResult,
    TeamMember,
    TeamRole,
)
from hub.schemas.categories import DataCategory
from hub.schemas.common import Contact
from hub.schemas.consent import ConflictDecision
from hub.schemas.deliveries import Flow
from hub.schemas.detention import (
    DetentionEnded,
    DetentionEvent,
    DetentionLeave,
    DetentionStarted,
    DetentionTransferred,
)
from hub.schemas.partners import partner_kind, pi_partner, role_of_kind, role_refusal
from hub.schemas.signals import SignalEvent
from hub.state.cases import INCLUDED, Case

R = TeamRole
LABEL_ROLES = (R.POLITIE, R.RECLASSERING, R.CRISISDIENST)
PI_FIELDS = frozenset(
    {"levensloopaanpak", "zvh", "llc", "facility", "skn", "person_name", "birth_date"}
)
LABEL_SET_FIELDS = frozenset(
    {
        "levensloopaanpak",
        "zvh",
        "included_since",
        "handling_advice",
        "llc",
        "casusregisseur",
        "procesregisseur",
    }
)
LABEL_WITHDRAWN_FIELDS = frozenset({"levensloopaanpak", "zvh", "excluded_on"})
DISPUTE_FIELDS = frozenset(CaseDisputed.model_fields)
"""A dispute notice carries its own label facts, and nothing the case would add."""


@dataclass(frozen=True)
class CaseContext:
    """The subject's case as it stands for one event."""

    found: bool
    included: bool
    zvh: str | None = None
    team: tuple[TeamMember, ...] = ()
    contacts: dict[TeamRole, Contact] = field(default_factory=dict)
    nazorg_only: frozenset[str] = frozenset()
    """Partners in the effective team by the statutory aftercare task alone."""

    def members(self, role: TeamRole) -> list[str]:
        return [m.partner for m in self.team if m.role is role]

    def in_team(self, partner: str) -> bool:
        return any(m.partner == partner for m in self.team)


@dataclass(frozen=True)
class Route:
    role: TeamRole
    flow: Flow
    fields: frozenset[str] | None = None
    """The message fields this role needs; None means all of them."""
    to_sender: bool = False
    """Whether the partner that sent the event hears of it too (the warm handover)."""


@dataclass(frozen=True)
class Addressee:
    partner: str
    role: TeamRole
    flow: Flow
    purpose: Purpose
    fields: frozenset[str] | None


def _merge(team: Iterable[TeamMember]) -> tuple[TeamMember, ...]:
    return tuple(dict.fromkeys(team))


def _registered(
    case: Case | None, today: dt.date
) -> tuple[tuple[TeamMember, ...], dict[TeamRole, Contact]]:
    """The team on ``today``: an exclusion dated ahead leaves it in place until its day."""
    if case is None or not case.open_on(today):
        return (), {}
    return case.team, dict(case.contacts)


def _kedo_view(lookup: KedoLookupResult | None) -> CaseView:
    if lookup is None or not lookup.found:
        return CaseView.NOT_FOUND
    return CaseView.INCLUDED if lookup.included else CaseView.NOT_INCLUDED


def dispute(
    event: CanonicalEvent, case: Case | None, lookup: KedoLookupResult | None, today: dt.date
) -> CaseDisputed | None:
    """The notice for the ZVH when the hub and KEDO disagree about a detained client, or
    None when they agree (or the hub never heard of the client: then KEDO alone decides).

    The hub has an exclusion in effect and KEDO says included; or the hub has the client
    in the approach and KEDO says not included, or has no case at all (conservatively a
    dispute too: the hub's own inclusion is not set aside by a silent KEDO).
    """
    if not isinstance(event, DetentionEvent) or case is None:
        return None
    kedo = _kedo_view(lookup)
    if case.closed_on(today) and kedo is CaseView.INCLUDED:
        hub = CaseView.EXCLUDED
    elif case.open_on(today) and kedo is not CaseView.INCLUDED:
        hub = CaseView.INCLUDED
    else:
        return None
    other_zvh = lookup.zvh if lookup is not None and lookup.zvh != case.zvh else None
    return CaseDisputed(
        zvh=case.zvh,
        hub_says=hub,
        kedo_says=kedo,
        met_by=event.event_type(),
        included_since=case.included_since,
        excluded_on=case.excluded_on if case.status != INCLUDED else None,
        kedo_zvh=other_zvh,
    )


def dispute_context(notice: CaseDisputed) -> CaseContext:
    """The one addressee of a dispute: the ZVH procesregisseur, who resolves it."""
    return CaseContext(
        found=True,
        included=False,
        zvh=notice.zvh,
        team=(TeamMember(partner=notice.zvh, role=R.PROCESREGISSEUR),),
    )


def _detention_context(
    event: DetentionEvent, case: Case | None, lookup: KedoLookupResult | None, today: dt.date
) -> CaseContext:
    """KEDO decides whether there is a case; the registered team and KEDO's contacts form it."""
    if lookup is None or not (lookup.found and lookup.included):
        return CaseContext(found=bool(lookup and lookup.found), included=False)
    team, contacts = _registered(case, today)
    members = list(team)
    if lookup.zvh:
        members.append(TeamMember(partner=lookup.zvh, role=R.PROCESREGISSEUR))
    for role, contact in (
        (R.LEVENSLOOPCOORDINATOR, lookup.llc),
        (R.CASUSREGISSEUR, lookup.casusregisseur),
    ):
        if contact is not None:
            contacts[role] = contact
            # A contact KEDO names in a role its partner's kind cannot hold is no member.
            if contact.partner and role_refusal(contact.partner, role) is None:
                members.append(TeamMember(partner=contact.partner, role=role))
    nazorg: set[str] = set()
    # Seed 003: the PI that holds the client is in the team, and leaves it at release.
    members = [m for m in members if m.role is not R.PI_BACKOFFICE]
    if isinstance(event, DetentionEnded):
        # UITSTROOM: the municipality of release joins for its aftercare task.
        release = f"gemeente:{event.release_municipality}"
        if not any(m.partner == release for m in members):
            nazorg.add(release)
        members.append(TeamMember(partner=release, role=R.CASUSREGISSEUR))
    else:
        # INSTROOM / OVERPLAATSING: the PI now holding the client.
        members.append(TeamMember(partner=pi_partner(event.facility.code), role=R.PI_BACKOFFICE))
    return CaseContext(
        found=True,
        included=True,
        zvh=lookup.zvh,
        team=_merge(members),
        contacts=contacts,
        nazorg_only=frozenset(nazorg),
    )


def case_context(
    event: CanonicalEvent,
    case: Case | None,
    lookup: KedoLookupResult | None,
    today: dt.date,
) -> CaseContext:
    """The effective team for ``event`` on ``today`` (Europe/Amsterdam), from the case as
    it stood before the event."""
    if isinstance(event, DetentionEvent):
        return _detention_context(event, case, lookup, today)
    if isinstance(event, ClientIncluded):
        return CaseContext(
            found=True,
            included=True,
            zvh=event.zvh,
            team=_merge(event.team),
            contacts={
                R.LEVENSLOOPCOORDINATOR: event.llc,
                R.CASUSREGISSEUR: event.casusregisseur,
                R.PROCESREGISSEUR: event.procesregisseur,
            },
        )
    if isinstance(event, ClientExcluded):
        # The notice of withdrawal goes to the team as it was (still there while an
        # exclusion dated ahead waits for its day); the case closes after it.
        if case is None or not case.team:
            return CaseContext(found=case is not None, included=False)
        return CaseContext(
            found=True, included=False, zvh=case.zvh, team=case.team, contacts=dict(case.contacts)
        )
    team, contacts = _registered(case, today)
    if not team:
        return CaseContext(found=case is not None, included=False)
    assert case is not None
    if isinstance(event, ClientMoved):
        contacts[R.PROCESREGISSEUR] = event.procesregisseur
        members = (*team, TeamMember(partner=event.from_zvh, role=R.PROCESREGISSEUR))
        members += (TeamMember(partner=event.to_zvh, role=R.PROCESREGISSEUR),)
        return CaseContext(
            found=True, included=True, zvh=event.to_zvh, team=_merge(members), contacts=contacts
        )
    return CaseContext(found=True, included=True, zvh=case.zvh, team=team, contacts=contacts)


_DETENTION_NOTICE = (
    Route(R.CASUSREGISSEUR, Flow.A),
    Route(R.LEVENSLOOPCOORDINATOR, Flow.A),
    Route(R.PROCESREGISSEUR, Flow.A),
    Route(R.PI_BACKOFFICE, Flow.A, PI_FIELDS),
)
_SIGNAL_NOTICE = (Route(R.LEVENSLOOPCOORDINATOR, Flow.F), Route(R.PROCESREGISSEUR, Flow.F))

ROUTES: dict[type[CanonicalEvent], tuple[Route, ...]] = {
    DetentionStarted: _DETENTION_NOTICE,
    DetentionLeave: (Route(R.LEVENSLOOPCOORDINATOR, Flow.A), Route(R.PROCESREGISSEUR, Flow.A)),
    DetentionTransferred: (
        Route(R.PI_BACKOFFICE, Flow.D, PI_FIELDS),
        Route(R.LEVENSLOOPCOORDINATOR, Flow.D),
        Route(R.PROCESREGISSEUR, Flow.D),
    ),
    DetentionEnded: (
        Route(R.CASUSREGISSEUR, Flow.E),
        Route(R.LEVENSLOOPCOORDINATOR, Flow.E),
        Route(R.PROCESREGISSEUR, Flow.E),
    ),
    ClientIncluded: tuple(Route(role, Flow.B, LABEL_SET_FIELDS) for role in LABEL_ROLES),
    ClientExcluded: tuple(Route(role, Flow.C, LABEL_WITHDRAWN_FIELDS) for role in LABEL_ROLES),
    ClientMoved: (Route(R.PROCESREGISSEUR, Flow.G, to_sender=True),),
}


def flow_of(event: CanonicalEvent) -> Flow:
    """The flow an event belongs to (a detention's: A, D or E)."""
    routes = routes_for(event)
    return routes[0].flow if routes else Flow.A


def routes_for(event: CanonicalEvent) -> tuple[Route, ...]:
    if isinstance(event, SignalEvent):
        return _SIGNAL_NOTICE
    return ROUTES.get(type(event), ())


def addressees(event: CanonicalEvent, context: CaseContext, sender: str | None) -> list[Addressee]:
    """One addressee per partner and role the flow names; the sender itself only where
    the route says so."""
    found: dict[tuple[str, TeamRole], Addressee] = {}
    for route in routes_for(event):
        for partner in context.members(route.role):
            if (partner == sender and not route.to_sender) or (partner, route.role) in found:
                continue
            purpose = Purpose.NAZORG if partner in context.nazorg_only else Purpose.LEVENSLOOPAANPAK
            found[(partner, route.role)] = Addressee(
                partner=partner,
                role=route.role,
                flow=route.flow,
                purpose=purpose,
                fields=route.fields,
            )
    return list(found.values())


def with_break_glass(
    event: CanonicalEvent,
    context: CaseContext,
    found: list[Addressee],
    decisions: Iterable[ConflictDecision],
    medical: Iterable[str],
    now: dt.datetime,
    sender: str | None,
) -> list[Addressee]:
    """``found``, plus the recipient of every conflict-of-duties decision in force that
    releases a medical field this message carries (document 004: to prevent serious
    harm, also the police). A recipient the flow does not name gets exactly the
    released fields; one it names with a narrower set gets them added. The policy then
    decides each field, as for anyone."""
    routes = routes_for(event)
    if not routes:
        return found
    carried = list(medical)
    out = list(found)
    for decision in decisions:
        released = frozenset(
            name for name in carried if decision.releases_field(name, DataCategory.MEDICAL)
        )
        if not released or not decision.holds_at(now) or decision.recipient == sender:
            continue
        named = [n for n, a in enumerate(out) if a.partner == decision.recipient]
        for n in named:
            fields = out[n].fields
            if fields is not None:
                out[n] = replace(out[n], fields=fields | released)
        if named:
            continue
        role = next(
            (m.role for m in context.team if m.partner == decision.recipient),
            role_of_kind(partner_kind(decision.recipient)),
        )
        if role is not None:
            out.append(
                Addressee(
                    partner=decision.recipient,
                    role=role,
                    flow=routes[0].flow,
                    purpose=Purpose.LEVENSLOOPAANPAK,
                    fields=released,
                )
            )
    return out
