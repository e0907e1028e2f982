"""The AsyncAPI document is generated from the code and pinned by a snapshot."""

from __future__ import annotations

import json
from pathlib import Path

from typer.testing import CliRunner

from hub.cli import app
from hub.core.topics import ALL_TOPICS
from hub.schemas.asyncapi import document, render
from hub.schemas.registry import EVENT_MODELS

SNAPSHOT = Path(__file__).parents[2] / "docs" / "asyncapi.json"


def test_the_committed_document_matches_the_code() -> None:
    assert SNAPSHOT.read_text(encoding="utf-8") == render(), (
        "a contract changed: run `hub asyncapi --out docs/asyncapi.json` and review the diff"
    )


def test_every_topic_is_a_channel_and_every_event_a_message() -> None:
    doc = document()
    assert {c["address"] for c in doc["channels"].values()} == {t.name for t in ALL_TOPICS}
    assert {m["name"] for m in doc["components"]["messages"].values()} >= {
        model.event_type() for model in EVENT_MODELS
    }
    refs = json.dumps(doc)
    for name in doc["components"]["schemas"]:
        assert f"#/components/schemas/{name}" in refs or name in {m.__name__ for m in EVENT_MODELS}


def test_the_command_writes_the_document(tmp_path: Path) -> None:
    out = tmp_path / "asyncapi.json"
    result = CliRunner().invoke(app, ["asyncapi", "--out", str(out)])
    assert result.exit_code == 0, result.output
    assert json.loads(out.read_text())["asyncapi"] == "3.0.0"


def test_every_message_documents_its_payload_as_sealed() -> None:
    """On the wire a payload is one sealed object (hub.bus.sealing); the model is what it
    opens to."""
    messages = document()["components"]["messages"]
    for model in EVENT_MODELS:
        (message,) = [m for m in messages.values() if m["name"] == model.event_type()]
        assert message["payload"] == {"$ref": "#/components/schemas/SealedPayload"}
        assert message["x-opened-payload"] == {"$ref": f"#/components/schemas/{model.__name__}"}
