"""Partner kinds as data: the nine built in, and more from configuration
(``HUB_PARTNERS__KINDS``). A configured kind's ids are validated by its own rule, its
partners can be team members and receive on a delivery topic of their own, and a kind
that cannot work is refused with its field named before the hub starts."""

from __future__ import annotations

import datetime as dt
import json
import os
import re
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
from pydantic import ValidationError
from typer.testing import CliRunner

from hub.cli import app
from hub.connectors import registry
from hub.connectors.base import OutboundConfig, OutboundConnector
from hub.core.errors import ConfigurationError
from hub.deploy.access import acl_plan, strimzi_resources
from hub.routing.recipients import CaseContext, addressees
from hub.schemas.asyncapi import document
from hub.schemas.case import ClientExcluded, TeamMember, TeamRole
from hub.schemas.partners import (
    hub_topics,
    kind_rules,
    known_kinds,
    partner_kind,
    role_of_kind,
    served_partner,
    valid_partner_id,
)
from hub.settings import HubSettings, PartnerKindSettings
from tests.data import detention_started

GGZ = {"ggz": {"qualifier": "[a-z0-9-]{1,40}", "role": "zorgaanbieder"}}
WIJKTEAM: dict[str, dict[str, str]] = {"wijkteam-west": {}}

# An oracle written out by hand (DESIGN §1), not derived from the rules in the code.
BUILT_IN_IDS = [
    ("dji", True),
    ("dji:x", False),
    ("kedo", True),
    ("politie", True),
    ("politie:amsterdam", False),
    ("reclassering", True),
    ("gemeente:GM0363", True),
    ("gemeente:GM363", False),
    ("gemeente:gm0363", False),
    ("gemeente", False),
    ("zvh:amsterdam", True),
    ("zvh:", False),
    ("zvh:Amsterdam", False),
    ("llz:fivoor", True),
    ("pi:pi-vug", True),
    ("crisis:amsterdam", True),
    ("ggz:parnassia", False),
    ("", False),
    (":", False),
]


@pytest.fixture
def configured(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """The ggz kind (qualified, a zorgaanbieder) and a one-partner kind, configured."""
    monkeypatch.setenv("HUB_PARTNERS__KINDS", json.dumps({**GGZ, **WIJKTEAM}))
    known_kinds.cache_clear()
    yield
    known_kinds.cache_clear()


@pytest.mark.parametrize(("partner_id", "valid"), BUILT_IN_IDS)
def test_the_built_in_ids(partner_id: str, valid: bool) -> None:
    assert valid_partner_id(partner_id) is valid


@pytest.mark.usefixtures("configured")
@pytest.mark.parametrize(
    ("partner_id", "kind"),
    [
        ("ggz:parnassia", "ggz"),
        ("ggz:Parnassia", None),
        ("ggz", None),
        ("wijkteam-west", "wijkteam-west"),
        ("wijkteam-west:noord", None),
        ("gemeente:GM0363", "gemeente"),
    ],
)
def test_a_configured_kind_has_its_own_rule(partner_id: str, kind: str | None) -> None:
    if kind is None:
        with pytest.raises(ValueError, match="qualifier"):
            partner_kind(partner_id)
    else:
        assert partner_kind(partner_id) == kind


@pytest.mark.usefixtures("configured")
def test_a_configured_kinds_partner_is_addressed_by_the_role_the_team_gives_it() -> None:
    """Its partner is a team member as any other (the ZVH registers it), receives on its
    own delivery topic, and a connector serving the kind serves it."""
    member = TeamMember(partner="ggz:parnassia", role=TeamRole.LEVENSLOOPCOORDINATOR)
    context = CaseContext(found=True, included=True, team=(member,))
    (addressee,) = addressees(detention_started(), context, sender="dji")
    assert (addressee.partner, addressee.role) == ("ggz:parnassia", TeamRole.LEVENSLOOPCOORDINATOR)
    assert "delivery.ggz.v1" in {t.name for t in hub_topics()}
    assert "delivery.wijkteam-west.v1" in {t.name for t in hub_topics()}
    assert role_of_kind("ggz") is TeamRole.ZORGAANBIEDER
    assert role_of_kind("wijkteam-west") is None

    class GgzConnector(OutboundConnector[OutboundConfig]):
        name = "ggz-meldingen"
        version = "0"
        partner = served_partner("ggz")
        config_model = OutboundConfig
        accepts = ()

    assert GgzConnector.serves("ggz:parnassia")
    assert not GgzConnector.serves("llz:fivoor")
    assert GgzConnector.topics() == ("delivery.ggz.v1",)


def test_without_configuration_only_the_built_in_kinds_are_known() -> None:
    known_kinds.cache_clear()
    assert not valid_partner_id("ggz:parnassia")
    assert "delivery.ggz.v1" not in {t.name for t in hub_topics()}
    with pytest.raises(ValueError, match="the kinds are dji, gemeente"):
        served_partner("ggz")


@pytest.mark.parametrize(
    ("kinds", "field", "message"),
    [
        ({"gemeente": {}}, "partners.kinds.gemeente", "is a built-in partner kind"),
        ({"ggz": {"role": "arts"}}, "partners.kinds.ggz.role", "unknown role 'arts'"),
    ],
)
def test_a_kind_that_cannot_work_is_refused_naming_its_field(
    kinds: dict[str, dict[str, str]], field: str, message: str
) -> None:
    parsed = {n: PartnerKindSettings.model_validate(k) for n, k in kinds.items()}
    with pytest.raises(ConfigurationError, match=message) as refused:
        kind_rules(parsed)
    assert refused.value.field == field


@pytest.mark.parametrize(
    ("kinds", "message"),
    [
        ({"GGZ": {}}, "lower case letters, digits and dashes"),
        ({"g": {}}, "lower case letters, digits and dashes"),
        ({"ggz:x": {}}, "lower case letters, digits and dashes"),
        ({"ggz": {"qualifier": "[a-z"}}, "a qualifier is an optional literal prefix"),
        ({"ggz": {"colour": "red"}}, "Extra inputs are not permitted"),
    ],
)
def test_a_kind_the_settings_cannot_read_is_refused(
    kinds: dict[str, dict[str, str]], message: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("HUB_PARTNERS__KINDS", json.dumps(kinds))
    with pytest.raises(ValidationError, match=message):
        HubSettings()


def test_hub_run_refuses_a_kind_that_cannot_work_before_it_starts() -> None:
    result = CliRunner().invoke(
        app, ["run"], env={"HUB_PARTNERS__KINDS": json.dumps({"politie": {}})}
    )
    assert result.exit_code == 2, result.output
    assert (
        result.stderr.strip()
        == "error: 'politie' is a built-in partner kind (field: partners.kinds.politie)"
    )


@pytest.mark.usefixtures("configured")
def test_the_generated_kafka_resources_carry_a_configured_kinds_topic() -> None:
    """On Strimzi the topics and ACLs come from `hub deploy kafka`: the router must be
    allowed to write the new kind's deliveries, and the topic must exist."""
    router = next(p for p in acl_plan({}) if p.name == "ketenhub-router")
    assert "delivery.ggz.v1" in router.writes
    resources = strimzi_resources({}, cluster="c", namespace="k", users_namespace="h")
    topics = {r["metadata"]["name"] for r in resources if r["kind"] == "KafkaTopic"}
    assert "delivery-ggz-v1" in topics, "KafkaTopic names use dashes"


@pytest.mark.usefixtures("configured")
def test_the_asyncapi_document_has_a_configured_kinds_delivery_channel() -> None:
    channels = document()["channels"]
    assert channels["delivery-ggz-v1"]["address"] == "delivery.ggz.v1"
    assert list(channels["delivery-ggz-v1"]["messages"]) == ["NotificationDelivery"]
    assert "delivery-wijkteam-west-v1" in channels
    assert "delivery-gemeente-v1" in channels


def test_without_configured_kinds_the_asyncapi_document_has_the_built_in_channels() -> None:
    assert not any("ggz" in channel for channel in document()["channels"])


def test_a_hub_that_does_not_know_a_connectors_partner_kind_refuses_to_start_it() -> None:
    """A partner's connector for a configured kind, on a hub without that kind: it would
    consume a topic no router writes. The start stops, naming the connector."""

    class GgzConnector(OutboundConnector[OutboundConfig]):
        name = "ggz-meldingen"
        version = "0"
        partner = "ggz"
        config_model = OutboundConfig
        accepts = ()

    with pytest.raises(ConfigurationError, match="serves 'ggz'") as info:
        registry.configured({"ggz-meldingen": {}}, {"ggz-meldingen": GgzConnector})
    assert info.value.field == "connectors.ggz-meldingen"


@pytest.mark.parametrize(
    ("kinds", "says"),
    [
        (
            '{"ggz": {"qualifier": "[a-z"}}',
            "error: partners.kinds.ggz.qualifier: Value error, a qualifier is an optional",
        ),
        ("not json", 'error: error parsing value for field "partners"'),
        ('{"politie": {}}', "error: 'politie' is a built-in partner kind"),
    ],
)
def test_a_kind_the_hub_cannot_use_is_one_line_from_any_command(kinds: str, says: str) -> None:
    """Not only hub up: every command that reads the kinds (here hub asyncapi) says what
    is wrong in one line and exits 2, with no traceback."""
    hub = Path(sys.executable).with_name("hub")
    result = subprocess.run(
        [str(hub), "asyncapi"],
        env={**os.environ, "HUB_PARTNERS__KINDS": kinds},
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert result.returncode == 2
    assert result.stderr.startswith(says), result.stderr
    assert len(result.stderr.strip().splitlines()) == 1
    assert "Traceback" not in result.stderr


@pytest.mark.parametrize(
    ("partner_id", "valid"),
    [
        ("ruim:" + "a" * 50, True),
        ("ruim:" + "a" * 51, False),  # beyond the rule's 50
        ("ruim:a.b_c-d", True),
        ("ruim:", False),
        ("ruim:a:b", False),
    ],
)
def test_a_lax_qualifier_rule_still_gives_ids_the_store_and_a_reader_can_keep(
    monkeypatch: pytest.MonkeyPatch, partner_id: str, valid: bool
) -> None:
    """The laxest rule a kind may have still gives ids of letters, digits, '.', '_' and
    '-', within the store's 60 characters."""
    lax = {"ruim": {"qualifier": "[A-Za-z0-9._-]{1,50}"}}
    monkeypatch.setenv("HUB_PARTNERS__KINDS", json.dumps(lax))
    known_kinds.cache_clear()
    try:
        assert valid_partner_id(partner_id) is valid
    finally:
        known_kinds.cache_clear()


def test_a_refusal_names_the_kind_and_what_it_may_hold() -> None:
    with pytest.raises(ValidationError) as info:
        TeamMember(partner="llz:fivoor", role=TeamRole.POLITIE)
    assert (
        "a partner of kind 'llz' cannot be politie in a team "
        "(it holds levensloopcoordinator or zorgaanbieder)"
    ) in str(info.value)


@pytest.mark.parametrize("partner_id", ["politie", "llz:x", "gemeente:GM0363", "dji"])
def test_the_zvh_of_an_event_is_a_zvh(partner_id: str) -> None:
    with pytest.raises(ValidationError, match="is not a ZVH"):
        ClientExcluded(zvh=partner_id, reason="closed", excluded_on=dt.date(2026, 3, 1))
    assert ClientExcluded(zvh="zvh:utrecht", reason="closed", excluded_on=dt.date(2026, 3, 1))


def test_hub_run_refuses_a_bsn_authority_for_what_is_not_a_kind() -> None:
    """``ggz:parnassia`` or a typo in HUB_ROUTING__BSN_AUTHORISED would give the BSN to
    no one while it looks as if it did: the start stops, naming the field."""
    result = CliRunner().invoke(
        app, ["run"], env={"HUB_ROUTING__BSN_AUTHORISED": json.dumps(["gemeente", "ggzz"])}
    )
    assert result.exit_code == 2, result.output
    assert result.stderr.startswith("error: 'ggzz' is not a partner kind")
    assert "(field: routing.bsn_authorised)" in result.stderr


@pytest.mark.parametrize(
    ("qualifier", "says"),
    [
        ("([a-z0-9]+-?)+", "an optional literal prefix and one character class"),  # ReDoS
        ("(a+)+", "an optional literal prefix and one character class"),
        (".*", "an optional literal prefix and one character class"),
        ("", "an optional literal prefix and one character class"),
        ("[a-z]{0,5}", "at least 1"),
        ("x[0-9]{1,60}", "exceeds 50"),
        ("[^a]{1,5}", "its class allows ' '"),
        ("[a-z\u202e]{1,5}", "its class allows '\\u202e'"),
    ],
)
def test_a_qualifier_that_could_stall_the_hub_or_give_odd_ids_is_refused(
    qualifier: str, says: str
) -> None:
    """A partner's message is matched against the qualifier: only a prefix and one
    bounded character class, which match in linear time, and only characters an id may
    hold. ``([a-z0-9]+-?)+`` against 31 letters and a '_' held the hub at 100 % CPU."""
    with pytest.raises(ValidationError, match=re.escape(says)):
        PartnerKindSettings(qualifier=qualifier)


@pytest.mark.parametrize("qualifier", ["[a-z0-9-]{1,40}", "GM[0-9]{4}", "[A-Z]{3}"])
def test_a_simple_qualifier_is_taken(qualifier: str) -> None:
    assert PartnerKindSettings(qualifier=qualifier).qualifier == qualifier


def test_a_partner_id_longer_than_the_store_keeps_is_refused_whatever_its_rule(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """A 30-character kind with a 40-character qualifier: its rule allows 71 characters,
    the store's columns 60. A ZVH inclusion naming such a partner was dead-lettered whole
    on PostgreSQL; now the id is refused where it comes in."""
    kind = "geestelijke-gezondheidszorg-nl"
    kinds = {kind: {"qualifier": "[a-z0-9-]{1,40}"}}
    monkeypatch.setenv("HUB_PARTNERS__KINDS", json.dumps(kinds))
    known_kinds.cache_clear()
    try:
        assert valid_partner_id(f"{kind}:{'a' * 29}")  # 60
        with pytest.raises(ValueError, match="at most 60 characters; this one has 61"):
            partner_kind(f"{kind}:{'a' * 30}")
    finally:
        known_kinds.cache_clear()


# Which roles each kind may hold in a team, written out by hand (DESIGN §1: the
# authorities' tasks are theirs alone; a care provider holds the care roles).
CARE = {TeamRole.LEVENSLOOPCOORDINATOR, TeamRole.ZORGAANBIEDER}
MAY_HOLD: dict[str, set[TeamRole]] = {
    "dji": set(),
    "kedo": set(),
    "zvh:amsterdam": {TeamRole.PROCESREGISSEUR},
    "gemeente:GM0363": {TeamRole.CASUSREGISSEUR},
    "llz:fivoor": CARE,
    "pi:pi-vug": {TeamRole.PI_BACKOFFICE},
    "politie": {TeamRole.POLITIE},
    "reclassering": {TeamRole.RECLASSERING},
    "crisis:amsterdam": {TeamRole.CRISISDIENST},
    "ggz:parnassia": CARE,  # configured, a zorgaanbieder
    "wijkteam-west": CARE,  # configured, no role of its own
    "buurtregie:oost": CARE | {TeamRole.CASUSREGISSEUR},  # configured, a casusregisseur
}


@pytest.mark.parametrize("partner_id", sorted(MAY_HOLD))
@pytest.mark.parametrize("role", list(TeamRole))
def test_a_team_member_holds_only_a_role_its_kind_may_hold(
    monkeypatch: pytest.MonkeyPatch, partner_id: str, role: TeamRole
) -> None:
    """The outside look: a ZVH registered a care provider as the police, and it was sent
    the police's label. Every kind against every role."""
    buurtregie = {"buurtregie": {"qualifier": "[a-z]{1,20}", "role": "casusregisseur"}}
    monkeypatch.setenv("HUB_PARTNERS__KINDS", json.dumps({**GGZ, **WIJKTEAM, **buurtregie}))
    known_kinds.cache_clear()
    try:
        if role in MAY_HOLD[partner_id]:
            assert TeamMember(partner=partner_id, role=role).role is role
        else:
            with pytest.raises(ValidationError, match=rf"cannot be {role.value} in a team"):
                TeamMember(partner=partner_id, role=role)
    finally:
        known_kinds.cache_clear()
