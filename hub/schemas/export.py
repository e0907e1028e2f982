"""JSON Schema export: one file per event type and version, plus the envelope."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from hub.schemas.envelope import Envelope
from hub.schemas.registry import EVENT_MODELS


def event_schemas() -> dict[str, dict[str, Any]]:
    """File name → JSON Schema, for every canonical event and the envelope."""
    schemas: dict[str, dict[str, Any]] = {}
    for model in EVENT_MODELS:
        schema = model.model_json_schema()
        schema["$id"] = model.dataschema()
        schema["x-event-type"] = model.event_type()
        schema["x-topic"] = model.topic.name
        schema["x-field-categories"] = {k: v.value for k, v in model.field_categories().items()}
        schemas[f"{model.name}.v{model.version}.schema.json"] = schema
    schemas["envelope.schema.json"] = Envelope.model_json_schema()
    return schemas


def export_schemas(directory: Path) -> list[Path]:
    directory.mkdir(parents=True, exist_ok=True)
    written = []
    for name, schema in sorted(event_schemas().items()):
        path = directory / name
        path.write_text(json.dumps(schema, indent=2, sort_keys=True) + "\n", encoding="utf-8")
        written.append(path)
    return written
