"""The hub's profile of a FHIR R4 Consent, read once into a form that cannot be misread.

A consent decides whether medical data may go, so whatever the hub does not fully
understand is refused, never read as a permit. On top of FHIR R4 (``fhir.resources``,
which checks the structure but not the codes) the profile requires:

- ``resourceType`` Consent, an ``id``, a known ``status`` and a ``patient`` named by
  the hub's pseudonym, or at a partner's edge by the BSN the message is about;
- a ``provision`` on every level with ``type`` permit or deny;
- periods given as a calendar day (a day in Europe/Amsterdam) or a moment with a time
  zone, and a start that does not lie after the end;
- actors named by the hub's partner ids (``urn:ketenhub:partner``), classes that are
  data categories, purposes the hub knows;
- none of the elements the hub cannot honour (on a provision ``action``, ``code``,
  ``data``, ``dataPeriod``, ``securityLabel``, ``modifierExtension``; on the Consent
  ``modifierExtension``, ``implicitRules``, ``policyRule``): ignoring a restriction would
  widen a permit; and no empty list where a restriction belongs (``actor: []``).

Errors are :class:`ProfileError` naming the element (``provision.provision.0.type``).
"""

from __future__ import annotations

import datetime as dt
from enum import StrEnum
from typing import Any

from fhir.resources.R4B.consent import Consent
from pydantic import ValidationError

from hub.core.calendar import day_end, day_start
from hub.schemas.base import Payload
from hub.schemas.categories import DataCategory
from hub.schemas.fhir import BSN_SYSTEM, PARTNER_SYSTEM, PSEUDONYM_SYSTEM
from hub.schemas.partners import valid_partner_id

PURPOSES = frozenset({"levensloopaanpak", "nazorg"})
UNSUPPORTED = ("action", "code", "data", "dataPeriod", "securityLabel", "modifierExtension")
"""Provision elements that narrow or change what a provision means."""
UNSUPPORTED_ROOT = ("modifierExtension", "implicitRules", "policyRule")
"""Consent elements that change what the whole consent means (a modifier extension, rules
to read it by, a policy such as OPTOUT): the hub cannot honour them."""
LISTS = ("actor", "class_fhir", "purpose", "provision")
"""Provision lists that, given empty, would read as 'no restriction' where the sender
meant something: refused rather than guessed."""


class ProfileError(ValueError):
    """A consent outside the profile; ``path`` names the element inside the resource."""

    def __init__(self, path: str, message: str):
        super().__init__(f"{path}: {message}" if path else message)
        self.path = path
        self.reason = message


class ConsentStatus(StrEnum):
    """FHIR R4's consent states; only ``active`` counts for a decision."""

    DRAFT = "draft"
    PROPOSED = "proposed"
    ACTIVE = "active"
    REJECTED = "rejected"
    INACTIVE = "inactive"
    ENTERED_IN_ERROR = "entered-in-error"


class ProvisionType(StrEnum):
    PERMIT = "permit"
    DENY = "deny"


class Provision(Payload):
    """One provision: its rule, when it holds, whom and what it names, its exceptions."""

    type: ProvisionType
    start: dt.datetime | None = None
    end: dt.datetime | None = None
    actors: frozenset[str] = frozenset()
    classes: frozenset[DataCategory] = frozenset()
    purposes: frozenset[str] = frozenset()
    nested: tuple[Provision, ...] = ()

    def holds_at(self, now: dt.datetime) -> bool:
        return (self.start is None or self.start <= now) and (self.end is None or now <= self.end)


class PatientIdentifier(Payload):
    system: str
    value: str


class ConsentRule(Payload):
    """A consent as the decision reads it."""

    consent_id: str
    status: ConsentStatus
    patient: PatientIdentifier
    provision: Provision

    def about(self, subject: str) -> bool:
        """Whether this consent is about the client with pseudonym ``subject``."""
        return self.patient.system == PSEUDONYM_SYSTEM and self.patient.value == subject


def _fhir(resource: dict[str, Any]) -> Consent:
    if not isinstance(resource, dict):
        raise ProfileError("", "a Consent is a JSON object")
    if resource.get("resourceType") != "Consent":
        raise ProfileError("resourceType", "must be 'Consent'")
    try:
        return Consent.model_validate(resource)
    except ValidationError as exc:
        first = exc.errors(include_url=False, include_input=False)[0]
        where = ".".join(str(p) for p in first["loc"])
        raise ProfileError(where, f"invalid FHIR Consent: {first['msg']}") from None


def _moment(value: Any, path: str, *, end: bool) -> dt.datetime | None:
    """A period bound: a calendar day covers the whole Amsterdam day."""
    if value is None:
        return None
    if isinstance(value, dt.datetime):
        if value.tzinfo is None:
            raise ProfileError(path, "a moment needs a time zone")
        return value
    if isinstance(value, dt.date):
        return day_end(value) if end else day_start(value)
    raise ProfileError(path, f"{value!r} is not a calendar day or a moment (a year or a month is)")


def _codes(items: list[Any] | None, path: str) -> list[str]:
    codes = []
    for n, item in enumerate(items or []):
        code = getattr(item, "code", None)
        if not code:
            raise ProfileError(f"{path}.{n}.code", "a code is required")
        codes.append(str(code))
    return codes


def _actors(provision: Any, path: str) -> frozenset[str]:
    found = set()
    for n, actor in enumerate(provision.actor or []):
        where = f"{path}.actor.{n}.reference.identifier"
        identifier = actor.reference.identifier if actor.reference else None
        if identifier is None or identifier.system != PARTNER_SYSTEM or not identifier.value:
            raise ProfileError(where, f"an actor is named by a partner id ({PARTNER_SYSTEM})")
        if not valid_partner_id(identifier.value):
            raise ProfileError(f"{where}.value", f"{identifier.value!r} is not a partner id")
        found.add(identifier.value)
    return frozenset(found)


def _provision(provision: Any, path: str) -> Provision:
    for name in UNSUPPORTED:
        if getattr(provision, name, None):
            raise ProfileError(f"{path}.{name}", "not supported by the hub's consent profile")
    for name in LISTS:
        if getattr(provision, name, None) == []:
            shown = name.removesuffix("_fhir")
            raise ProfileError(f"{path}.{shown}", "an empty list: leave it out, or name something")
    if provision.type not in {t.value for t in ProvisionType}:
        raise ProfileError(f"{path}.type", f"{provision.type!r} is not 'permit' or 'deny'")
    period = provision.period
    start = _moment(period.start if period else None, f"{path}.period.start", end=False)
    stop = _moment(period.end if period else None, f"{path}.period.end", end=True)
    if start is not None and stop is not None and stop < start:
        raise ProfileError(f"{path}.period", "the period ends before it starts")
    classes = _codes(provision.class_fhir, f"{path}.class")
    unknown = [c for c in classes if c not in {d.value for d in DataCategory}]
    if unknown:
        raise ProfileError(f"{path}.class", f"{unknown[0]!r} is not a data category")
    purposes = _codes(provision.purpose, f"{path}.purpose")
    strange = [p for p in purposes if p not in PURPOSES]
    if strange:
        raise ProfileError(f"{path}.purpose", f"{strange[0]!r} is not a purpose the hub knows")
    return Provision(
        type=ProvisionType(provision.type),
        start=start,
        end=stop,
        actors=_actors(provision, path),
        classes=frozenset(DataCategory(c) for c in classes),
        purposes=frozenset(purposes),
        nested=tuple(
            _provision(inner, f"{path}.provision.{n}")
            for n, inner in enumerate(provision.provision or [])
        ),
    )


def read_consent(resource: dict[str, Any], *, bsn_allowed: bool = False) -> ConsentRule:
    """Check ``resource`` against the profile and read it; raises :class:`ProfileError`.

    ``bsn_allowed`` is for a partner's edge, where the patient may be named by the BSN
    before the hub binds the consent to its pseudonym; on the bus it is refused.
    """
    consent = _fhir(resource)
    for name in UNSUPPORTED_ROOT:
        if getattr(consent, name, None):
            raise ProfileError(name, "not supported by the hub's consent profile")
    if not consent.id:
        raise ProfileError("id", "a Consent needs an id")
    if consent.status not in {s.value for s in ConsentStatus}:
        raise ProfileError("status", f"{consent.status!r} is not a FHIR Consent status")
    identifier = consent.patient.identifier if consent.patient else None
    systems = (PSEUDONYM_SYSTEM, BSN_SYSTEM) if bsn_allowed else (PSEUDONYM_SYSTEM,)
    if identifier is None or identifier.system not in systems or not identifier.value:
        raise ProfileError(
            "patient.identifier", f"the patient is named by an identifier of {' or '.join(systems)}"
        )
    if consent.provision is None:
        raise ProfileError("provision", "a Consent without a provision says nothing")
    return ConsentRule(
        consent_id=str(consent.id),
        status=ConsentStatus(consent.status),
        patient=PatientIdentifier(system=str(identifier.system), value=str(identifier.value)),
        provision=_provision(consent.provision, "provision"),
    )


def bound_to(resource: dict[str, Any], *, subject: str, bsn: str | None) -> dict[str, Any]:
    """``resource`` with its patient named by ``subject``'s pseudonym, after checking that
    it is about the client the message names (by BSN or pseudonym)."""
    rule = read_consent(resource, bsn_allowed=True)
    named = rule.patient
    same = named.value == (bsn if named.system == BSN_SYSTEM else subject)
    if not same:
        raise ProfileError("patient", "the Consent is about another client than the message")
    patient = {"identifier": {"system": PSEUDONYM_SYSTEM, "value": subject}}
    return {**resource, "patient": patient}
