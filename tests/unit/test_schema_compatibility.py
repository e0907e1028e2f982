"""Additive schema evolution: the compatibility check as a decision table over small
hand-written schemas (not the hub's own, so the table does not copy the code it
checks), then the hub's contracts against the snapshots committed in docs/schemas."""

from __future__ import annotations

import copy
import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner

from hub.cli import app
from hub.schemas.compatibility import breaking_changes, read_snapshots
from hub.schemas.export import event_schemas

SNAPSHOTS = Path(__file__).parents[2] / "docs" / "schemas"
BASE: dict[str, Any] = {
    "$defs": {
        "Place": {
            "properties": {"code": {"type": "string", "maxLength": 20}},
            "required": ["code"],
            "type": "object",
        }
    },
    "properties": {
        "kind": {"enum": ["START", "EINDE"], "type": "string", "x-data-category": "justice"},
        "place": {"$ref": "#/$defs/Place", "x-data-category": "justice"},
        "note": {
            "anyOf": [{"type": "string", "maxLength": 100}, {"type": "null"}],
            "default": None,
            "description": "A note.",
            "x-data-category": "justice",
        },
    },
    "required": ["kind", "place"],
    "type": "object",
}
Change = Callable[[dict[str, Any]], None]


def _parent(schema: dict[str, Any], path: str) -> tuple[Any, str]:
    *parents, last = path.split("/")
    node: Any = schema
    for part in parents:
        node = node[int(part)] if isinstance(node, list) else node[part]
    return node, last


def _set(path: str, value: Any) -> Change:
    def change(schema: dict[str, Any]) -> None:
        node, last = _parent(schema, path)
        node[last] = value

    return change


def _drop(path: str) -> Change:
    def change(schema: dict[str, Any]) -> None:
        node, last = _parent(schema, path)
        del node[last]

    return change


@pytest.mark.parametrize(
    ("change", "breaking"),
    [
        pytest.param(lambda s: None, [], id="nothing changed"),
        pytest.param(
            _set("properties/extra", {"type": "string", "x-data-category": "justice"}),
            [],
            id="a new optional field",
        ),
        pytest.param(_set("properties/note/description", "Another."), [], id="reworded"),
        pytest.param(_set("properties/note/default", "-"), [], id="another default"),
        pytest.param(
            _set("$defs/Place/properties/name", {"type": "string"}),
            [],
            id="a nested new field, where readers keep unknown ones",
        ),
        pytest.param(_drop("properties/note"), ["e.json.note: removed"], id="a field removed"),
        pytest.param(
            _set("required", ["kind", "place", "note"]),
            ["e.json.note: required now"],
            id="optional to required",
        ),
        pytest.param(
            _set("required", ["kind"]), ["e.json.place: optional now"], id="required to optional"
        ),
        pytest.param(
            lambda s: (
                _set("properties/extra", {"type": "string"})(s),
                _set("required", ["kind", "place", "extra"])(s),
            ),
            ["e.json.extra: a new field, and required"],
            id="a new required field",
        ),
        pytest.param(
            _set("properties/kind/enum", ["START", "EINDE", "VERLOF"]),
            [
                'e.json.kind: changed from {"enum":["START","EINDE"],"type":"string",'
                '"x-data-category":"justice"} to {"enum":["START","EINDE","VERLOF"],'
                '"type":"string","x-data-category":"justice"}'
            ],
            id="an enum value added (an old reader refuses it)",
        ),
        pytest.param(
            _set("properties/kind/x-data-category", "identity"),
            [
                'e.json.kind: changed from {"enum":["START","EINDE"],"type":"string",'
                '"x-data-category":"justice"} to {"enum":["START","EINDE"],"type":"string",'
                '"x-data-category":"identity"}'
            ],
            id="another data category",
        ),
        pytest.param(
            _set("properties/note/anyOf/0/maxLength", 50),
            [
                'e.json.note|0: changed from {"maxLength":100,"type":"string"} to '
                '{"maxLength":50,"type":"string"}'
            ],
            id="a bound narrowed",
        ),
        pytest.param(
            _drop("$defs/Place/properties/code"),
            ["e.json.place.code: removed"],
            id="a nested field removed (behind a $ref)",
        ),
        pytest.param(
            _set("additionalProperties", False),
            ["e.json: now refuses fields it does not know"],
            id="an event that kept unknown fields refuses them now",
        ),
        pytest.param(
            _set("additionalProperties", True),
            [],
            id="an event that kept unknown fields says so",
        ),
        pytest.param(
            _set("$defs/Place/additionalProperties", True),
            [],
            id="a value object that refused unknown fields keeps them now",
        ),
        pytest.param(
            _set("$defs/Place/properties/code/type", "integer"),
            [
                'e.json.place.code: changed from {"maxLength":20,"type":"string"} to '
                '{"maxLength":20,"type":"integer"}'
            ],
            id="a nested type changed",
        ),
    ],
)
def test_what_breaks_a_reader_and_what_does_not(change: Change, breaking: list[str]) -> None:
    new = copy.deepcopy(BASE)
    change(new)
    assert breaking_changes({"e.json": BASE}, {"e.json": new}) == breaking


def test_a_field_added_where_old_readers_refuse_unknown_ones_breaks() -> None:
    """A value object is read strictly (``additionalProperties: false``): a field added
    to it is refused by every reader on the old version."""
    strict = copy.deepcopy(BASE)
    strict["$defs"]["Place"]["additionalProperties"] = False
    grown = copy.deepcopy(strict)
    grown["$defs"]["Place"]["properties"]["name"] = {"type": "string"}
    assert breaking_changes({"e.json": strict}, {"e.json": grown}) == [
        "e.json.place.name: a new field, which old readers refuse"
    ]
    tolerant = copy.deepcopy(grown)
    tolerant["$defs"]["Place"]["additionalProperties"] = True
    assert breaking_changes({"e.json": strict}, {"e.json": tolerant}) != [], "nor if loosened"


def test_an_event_removed_breaks_and_a_new_one_does_not() -> None:
    assert breaking_changes({"e.json": BASE}, {}) == ["e.json: removed"]
    assert breaking_changes({"e.json": BASE}, {"e.json": BASE, "f.json": BASE}) == []


def test_the_hubs_contracts_are_compatible_with_the_committed_snapshots() -> None:
    """Runs in `make test`: a breaking change fails here, naming it."""
    assert breaking_changes(read_snapshots(SNAPSHOTS), event_schemas()) == []


def test_the_snapshots_record_every_addition() -> None:
    """An addition passes the check, but must be recorded, so the next removal of it is
    caught: `hub schemas check --update`."""
    current = json.loads(json.dumps(event_schemas()))
    assert read_snapshots(SNAPSHOTS) == current, "run `hub schemas check --update`"


def test_hub_schemas_check_exits_1_naming_a_breaking_change(tmp_path: Path) -> None:
    runner = CliRunner()
    assert runner.invoke(app, ["schemas", "export", str(tmp_path)]).exit_code == 0
    started = tmp_path / "detention.started.v1.schema.json"
    schema = json.loads(started.read_text())
    schema["properties"]["cell"] = {"type": "string", "x-data-category": "justice"}
    started.write_text(json.dumps(schema))  # the snapshot had a field this hub lacks
    result = runner.invoke(app, ["schemas", "check", "--snapshots", str(tmp_path)])
    assert result.exit_code == 1
    assert "breaking: detention.started.v1.schema.json.cell: removed" in result.output
    clean = runner.invoke(app, ["schemas", "check", "--snapshots", str(SNAPSHOTS)])
    assert clean.exit_code == 0, clean.output
    assert "compatible" in clean.output
