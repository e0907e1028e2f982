"""Injus ``DetentieGebeurtenis`` (XML) → detention events, by signed webhook or drop
directory. The reference contract of DESIGN §5::

    <DetentieGebeurtenis versie="1">
      <eventId>INJUS-2026-0001</eventId>
      <type>START</type>                       START | OVERPLAATSING | VERLOF | EINDE
      <bsn>…</bsn> <skn>…</skn> <naam>…</naam> <geboortedatum>1990-05-17</geboortedatum>
      <gemeente>GM0363</gemeente>
      <inrichting><code>PI-AMS</code><naam>PI Amsterdam</naam></inrichting>
      <vorigeInrichting>…</vorigeInrichting>   OVERPLAATSING: the PI the person left
      <datum>2026-11-20</datum>
      <titel>voorlopige hechtenis</titel>
      <verwachteEinddatum>2027-02-20</verwachteEinddatum>
      <verlofEinde>…</verlofEinde>             VERLOF, optional
      <gemeenteVanUitstroom>GM0344</gemeenteVanUitstroom>   EINDE, else the gemeente
    </DetentieGebeurtenis>

Parsing uses defusedxml with DTDs forbidden, so XXE and entity expansion are refused
before any entity is read. Written against the public SDK.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from typing import Any, ClassVar
from xml.etree.ElementTree import Element, ParseError

from defusedxml import DefusedXmlException
from defusedxml.ElementTree import fromstring
from pydantic import ValidationError

from hub.connectors import ContractError, Emitted, InboundConfig, InboundConnector, InboundMessage
from hub.schemas.common import Facility
from hub.schemas.detention import (
    DetentionEnded,
    DetentionEvent,
    DetentionLeave,
    DetentionStarted,
    DetentionTransferred,
)

ROOT = "DetentieGebeurtenis"
VERSIONS = ("1",)
ELEMENTS = {
    "birth_date": "geboortedatum",
    "start_date": "datum",
    "transfer_date": "datum",
    "leave_start": "datum",
    "leave_end": "verlofEinde",
    "end_date": "datum",
    "expected_end_date": "verwachteEinddatum",
}
"""Injus's element of each event date, so a refusal names the element Injus sent."""


class InjusDetentieConfig(InboundConfig):
    """The webhook secret and/or drop directory are the runtime's; nothing else needed."""


def _local(tag: str) -> str:
    return tag.rsplit("}", 1)[-1]


def _parse(body: bytes) -> Element:
    try:
        root: Element = fromstring(
            body, forbid_dtd=True, forbid_entities=True, forbid_external=True
        )
    except DefusedXmlException as exc:
        raise ContractError(f"refused XML construct: {type(exc).__name__}", field="body") from None
    except (ParseError, ValueError):
        raise ContractError("the body is not well-formed XML", field="body") from None
    if _local(root.tag) != ROOT:
        raise ContractError(f"expected <{ROOT}>, got <{_local(root.tag)}>", field="body")
    return root


class _Reader:
    """Child elements by local name, with errors that name the element."""

    def __init__(self, element: Element):
        self._children = {_local(child.tag): child for child in element}

    def text(self, name: str, *, required: bool = True) -> str | None:
        child = self._children.get(name)
        value = (child.text or "").strip() if child is not None else ""
        if not value:
            if required:
                raise ContractError(f"<{name}> is missing or empty", field=name)
            return None
        return value

    def date(self, name: str, *, required: bool = True) -> dt.date | None:
        value = self.text(name, required=required)
        if value is None:
            return None
        try:
            return dt.date.fromisoformat(value)
        except ValueError:
            raise ContractError(f"<{name}> is not a date (YYYY-MM-DD)", field=name) from None

    def facility(self, name: str) -> Facility:
        child = self._children.get(name)
        if child is None:
            raise ContractError(f"<{name}> is missing", field=name)
        inner = _Reader(child)
        try:
            return Facility(code=inner.text("code") or "", name=inner.text("naam") or "")
        except ContractError as error:
            raise ContractError(error.message, field=f"{name}.{error.field}") from None


class InjusDetentie(InboundConnector[InjusDetentieConfig]):
    name: ClassVar[str] = "injus-detentie"
    version: ClassVar[str] = "1.0.0"
    partner: ClassVar[str] = "dji"
    config_model: ClassVar[type[InjusDetentieConfig]] = InjusDetentieConfig
    emits: ClassVar[tuple[type[DetentionEvent], ...]] = (
        DetentionStarted,
        DetentionTransferred,
        DetentionLeave,
        DetentionEnded,
    )

    def translate(self, message: InboundMessage) -> Sequence[Emitted]:
        root = _parse(message.body)
        version = root.get("versie", "")
        if version not in VERSIONS:
            raise ContractError(
                f"unknown schema version {version!r}; known: {', '.join(VERSIONS)}",
                field="versie",
            )
        read = _Reader(root)
        kind = read.text("type")
        source_id = read.text("eventId") or ""
        bsn = read.text("bsn") or ""
        common: dict[str, Any] = {
            "source_event_id": source_id,
            "skn": read.text("skn", required=False),
            "person_name": read.text("naam", required=False),
            "birth_date": read.date("geboortedatum", required=False),
            "municipality": read.text("gemeente"),
            "facility": read.facility("inrichting"),
            "detention_title": read.text("titel", required=False),
            "expected_end_date": read.date("verwachteEinddatum", required=False),
        }
        day = read.date("datum")
        try:
            if kind == "START":
                event: DetentionEvent = DetentionStarted(**common, start_date=day)
            elif kind == "OVERPLAATSING":
                previous = read.facility("vorigeInrichting")
                if previous.code == common["facility"].code:
                    raise ContractError("vorigeInrichting is the same PI", field="vorigeInrichting")
                event = DetentionTransferred(
                    **common, previous_facility=previous, transfer_date=day
                )
            elif kind == "VERLOF":
                event = DetentionLeave(
                    **common, leave_start=day, leave_end=read.date("verlofEinde", required=False)
                )
            elif kind == "EINDE":
                release = read.text("gemeenteVanUitstroom", required=False)
                event = DetentionEnded(
                    **common, end_date=day, release_municipality=release or common["municipality"]
                )
            else:
                raise ContractError(
                    f"unknown event type {kind!r}: START, OVERPLAATSING, VERLOF or EINDE",
                    field="type",
                )
        except ValidationError as exc:
            raise ContractError.from_validation(exc) from None
        return [Emitted(event=event, bsn=bsn, source_id=source_id, partner_fields=ELEMENTS)]
