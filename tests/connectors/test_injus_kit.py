"""The Injus detention connector passes the whole standard kit, for all four event types."""

from __future__ import annotations

import datetime as dt
from typing import Any, ClassVar

import pytest

from hub.connectors import ContractError, InboundMessage
from hub.connectors.injus import InjusDetentie
from hub.connectors.testing import InboundConnectorSuite, InboundScenario
from hub.connectors.testing.scenarios import XML_BOMB, XXE
from hub.schemas.detention import (
    DetentionEnded,
    DetentionLeave,
    DetentionStarted,
    DetentionTransferred,
)

BSN = "999999990"
NAME = "Pietersma-Testpersoon"


def gebeurtenis(kind: str = "START", event_id: str = "INJUS-2026-0001", **extra: str) -> bytes:
    """An Injus DetentieGebeurtenis; ``extra`` adds or (with "") removes elements."""
    fields = {
        "eventId": event_id,
        "type": kind,
        "bsn": BSN,
        "skn": "SKN-778899",
        "naam": NAME,
        "geboortedatum": "1988-02-29",
        "gemeente": "GM0363",
        "datum": "2026-11-20",
        "titel": "voorlopige hechtenis",
        "verwachteEinddatum": "2027-02-20",
        **extra,
    }
    versie = fields.pop("versie", "1")
    body = "".join(f"<{k}>{v}</{k}>" for k, v in fields.items() if v)
    body += "<inrichting><code>PI-AMS</code><naam>PI Amsterdam</naam></inrichting>"
    if kind == "OVERPLAATSING":
        body += "<vorigeInrichting><code>PI-VUG</code><naam>PI Vught</naam></vorigeInrichting>"
    return f'<DetentieGebeurtenis versie="{versie}">{body}</DetentieGebeurtenis>'.encode()


class TestInjusDetentie(InboundConnectorSuite):
    connector = InjusDetentie
    config: ClassVar[dict[str, Any]] = {"webhook_secret": "injus-kit-secret"}
    scenarios: ClassVar[list[InboundScenario]] = [
        InboundScenario(
            "start",
            gebeurtenis(),
            (DetentionStarted,),
            "application/xml",
            (BSN, NAME),
        ),
        InboundScenario(
            "transfer",
            gebeurtenis("OVERPLAATSING", "INJUS-2026-0002"),
            (DetentionTransferred,),
            "application/xml",
            (BSN, NAME),
        ),
        InboundScenario(
            "leave",
            gebeurtenis("VERLOF", "INJUS-2026-0003", verlofEinde="2026-11-22"),
            (DetentionLeave,),
            "application/xml",
            (BSN, NAME),
        ),
        InboundScenario(
            "release",
            gebeurtenis("EINDE", "INJUS-2026-0004", gemeenteVanUitstroom="GM0344"),
            (DetentionEnded,),
            "application/xml",
            (BSN, NAME),
        ),
    ]
    edge_cases: ClassVar[dict[str, bytes]] = {
        "unknown-schema-version": gebeurtenis(versie="9"),
        "missing-subject": gebeurtenis(bsn=""),
        "unknown-event-type": gebeurtenis("ONTSNAPPING"),
        "transfer-without-previous-pi": gebeurtenis("OVERPLAATSING").replace(
            b"<vorigeInrichting><code>PI-VUG</code><naam>PI Vught</naam></vorigeInrichting>", b""
        ),
        "bad-municipality": gebeurtenis(gemeente="Amsterdam"),
        "bad-date": gebeurtenis(datum="20-11-2026"),
        "wrong-root": b"<Iets/>",
        "transfer-to-the-same-pi": gebeurtenis("OVERPLAATSING").replace(b"PI-VUG", b"PI-AMS"),
    }


def _one(body: bytes) -> Any:
    connector = InjusDetentie.from_config({})
    (item,) = connector.translate(InboundMessage(body=body, content_type="application/xml"))
    return item


def test_each_type_maps_its_own_fields() -> None:
    start = _one(gebeurtenis())
    assert start.bsn == BSN
    assert start.source_id == "INJUS-2026-0001"
    assert start.event.start_date == dt.date(2026, 11, 20)
    assert start.event.facility.code == "PI-AMS"
    transfer = _one(gebeurtenis("OVERPLAATSING")).event
    assert (transfer.previous_facility.code, transfer.facility.code) == ("PI-VUG", "PI-AMS")
    release = _one(gebeurtenis("EINDE", gemeenteVanUitstroom="GM0344")).event
    assert release.release_municipality == "GM0344"
    assert _one(gebeurtenis("EINDE")).event.release_municipality == "GM0363"
    leave = _one(gebeurtenis("VERLOF", verlofEinde="2026-11-22")).event
    assert leave.leave_end == dt.date(2026, 11, 22)


@pytest.mark.parametrize(
    ("case", "field"),
    [
        ("unknown-schema-version", "versie"),
        ("missing-subject", "bsn"),
        ("unknown-event-type", "type"),
        ("transfer-without-previous-pi", "vorigeInrichting"),
        ("bad-municipality", "municipality"),
        ("bad-date", "datum"),
        ("wrong-root", "body"),
        ("transfer-to-the-same-pi", "vorigeInrichting"),
    ],
)
def test_bad_messages_name_the_field(case: str, field: str) -> None:
    with pytest.raises(ContractError) as info:
        _one(TestInjusDetentie.edge_cases[case])
    assert info.value.field == field


def test_xml_attacks_are_refused_before_any_entity_is_read() -> None:
    for body in (XML_BOMB, XXE):
        with pytest.raises(ContractError, match="refused XML construct"):
            _one(body)
