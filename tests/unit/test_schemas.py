"""The contracts: categories on every field, versioned types, errors that name the field."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any, ClassVar

import pytest

from hub.core import topics
from hub.core.errors import ContractError
from hub.schemas.base import CanonicalEvent
from hub.schemas.categories import CATEGORY_KEY, DataCategory, categorised
from hub.schemas.deliveries import DecisionSummary, Flow, NotificationDelivery, Outcome
from hub.schemas.export import export_schemas
from hub.schemas.registry import EVENT_MODELS, model_for, parse_payload
from tests.data import client_included, detention_started


@pytest.mark.parametrize("model", EVENT_MODELS, ids=lambda m: m.name)
def test_every_field_declares_a_category(model: type[CanonicalEvent]) -> None:
    categories = model.field_categories()
    assert set(categories) == set(model.model_fields)
    assert all(isinstance(c, DataCategory) for c in categories.values())


def test_a_field_without_category_cannot_be_defined() -> None:
    with pytest.raises(TypeError, match="without a data category: \\['diagnosis'\\]"):

        class Careless(CanonicalEvent):
            name: ClassVar[str] = "careless"
            topic: ClassVar[topics.TopicSpec] = topics.SIGNAL
            diagnosis: str
            ok: str = categorised(DataCategory.JUSTICE, description="fine")


def test_event_types_are_versioned_and_unique() -> None:
    types = [m.event_type() for m in EVENT_MODELS]
    assert len(set(types)) == len(types)
    assert all(t.startswith("nl.ketenhub.") and t.rsplit(".", 1)[1] == "v1" for t in types)


def test_detention_fields_are_categorised_for_the_router() -> None:
    categories = detention_started().field_categories()
    assert categories["person_name"] is DataCategory.IDENTITY
    assert categories["facility"] is DataCategory.JUSTICE
    assert detention_started().categories_present() == {DataCategory.IDENTITY, DataCategory.JUSTICE}


def test_unknown_event_type_names_the_type_field() -> None:
    with pytest.raises(ContractError, match="unknown event type") as info:
        model_for("nl.ketenhub.detention.exploded.v1")
    assert info.value.field == "type"


def test_unknown_schema_version_is_told_apart() -> None:
    with pytest.raises(ContractError, match="unknown schema version v9"):
        model_for("nl.ketenhub.detention.started.v9")


@pytest.mark.parametrize(
    ("change", "field"),
    [
        ({"start_date": "yesterday"}, "start_date"),
        ({"municipality": "Amsterdam"}, "municipality"),
        ({"facility": {"code": "PI-X"}}, "facility.name"),
        ({"facility": {"code": "PI-X", "name": "PI X", "unexpected": 1}}, "facility.unexpected"),
    ],
)
def test_malformed_payload_names_the_field(change: dict[str, Any], field: str) -> None:
    data = detention_started().model_dump(mode="json") | change
    with pytest.raises(ContractError) as info:
        parse_payload("nl.ketenhub.detention.started.v1", data)
    assert info.value.field == field


def test_missing_field_is_named() -> None:
    data = client_included().model_dump(mode="json")
    del data["llc"]
    with pytest.raises(ContractError) as info:
        parse_payload("nl.ketenhub.case.included.v1", data)
    assert info.value.field == "llc"


def test_inclusion_needs_an_llc_in_the_team() -> None:
    data = client_included().model_dump(mode="json")
    data["team"] = [m for m in data["team"] if m["role"] != "levensloopcoordinator"]
    with pytest.raises(ContractError, match="levensloopcoordinator"):
        parse_payload("nl.ketenhub.case.included.v1", data)


def test_delivery_content_must_be_categorised() -> None:
    decision = DecisionSummary(
        outcome=Outcome.PERMIT, legal_bases=("wgs",), rule_ids=("wgs",), policy_version="p1"
    )
    with pytest.raises(ValueError, match="without a category"):
        NotificationDelivery(
            recipient="llz:fivoor",
            recipient_role="levensloopcoordinator",
            flow=Flow.A,
            purpose="levensloopaanpak",
            source_type="t",
            idempotency_key="k",
            decision=decision,
            content={"facility": {}, "diagnosis": "x"},
            content_categories={"facility": DataCategory.JUSTICE},
        )


def test_export_writes_a_schema_per_event_with_categories(tmp_path: Path) -> None:
    written = export_schemas(tmp_path)
    assert len(written) == len(EVENT_MODELS) + 1
    schema = json.loads((tmp_path / "detention.started.v1.schema.json").read_text())
    assert schema["x-event-type"] == "nl.ketenhub.detention.started.v1"
    assert schema["properties"]["person_name"][CATEGORY_KEY] == "identity"
    assert schema["x-field-categories"]["facility"] == "justice"
