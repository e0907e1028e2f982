"""The AsyncAPI 3.0 document of every channel, generated from the topics and the
contracts, so it cannot drift from the code (a snapshot test pins it). The configured
partner kinds' delivery topics are channels too (``HUB_PARTNERS__KINDS``)."""

from __future__ import annotations

import json
from typing import Any

from hub import __version__
from hub.core.topics import DEAD_LETTER, TopicSpec, delivery_topic
from hub.schemas.base import CanonicalEvent
from hub.schemas.deliveries import NotificationDelivery
from hub.schemas.envelope import CONTENT_TYPE
from hub.schemas.partners import delivery_kinds, hub_topics
from hub.schemas.registry import EVENT_MODELS

REF = "#/components/schemas/{model}"
SEALED_PAYLOAD: dict[str, Any] = {
    "type": "object",
    "description": "The whole payload, sealed with AES-256-GCM under the client's data key "
    "(hub.bus.sealing); the associated data is the record's subject and type. Opened, "
    "it is the message's x-opened-payload.",
    "required": ["$sealed", "n", "c"],
    "additionalProperties": False,
    "properties": {
        "$sealed": {"type": "string", "description": "Id of the client's data key."},
        "n": {"type": "string", "contentEncoding": "base64", "description": "96-bit nonce."},
        "c": {"type": "string", "contentEncoding": "base64", "description": "Ciphertext."},
    },
}
CLOUDEVENTS_HEADERS: dict[str, Any] = {
    "type": "object",
    "description": "CloudEvents 1.0 attributes in Kafka binary mode (NL GOV profile).",
    "required": [
        "ce_specversion",
        "ce_id",
        "ce_source",
        "ce_type",
        "ce_subject",
        "ce_time",
        "ce_dataschema",
        "ce_correlationid",
        "content-type",
    ],
    "properties": {
        "ce_specversion": {"const": "1.0"},
        "ce_id": {"type": "string", "description": "Event id; consumers de-duplicate on it."},
        "ce_source": {"type": "string", "format": "uri-reference"},
        "ce_type": {"type": "string", "description": "nl.ketenhub.<name>.v<version>"},
        "ce_subject": {"type": "string", "pattern": "^psn-[a-z0-9]+-[0-9a-f]{40}$"},
        "ce_time": {"type": "string", "format": "date-time"},
        "ce_dataschema": {"type": "string"},
        "ce_correlationid": {"type": "string"},
        "ce_causationid": {"type": "string"},
        "ce_datacategories": {
            "type": "string",
            "description": "Comma-separated data categories present in the payload.",
        },
        "content-type": {"const": CONTENT_TYPE},
    },
}


def _message_name(model: type[CanonicalEvent]) -> str:
    return model.__name__


def _channel_id(topic: TopicSpec) -> str:
    return topic.name.replace(".", "-")


def _channels_of(model: type[CanonicalEvent]) -> list[TopicSpec]:
    if model is NotificationDelivery:
        return [delivery_topic(kind) for kind in delivery_kinds()]
    return [model.topic]


def document() -> dict[str, Any]:
    """The document for this hub's settings: the built-in topics and the configured
    kinds' delivery topics."""
    every = hub_topics()
    schemas: dict[str, Any] = {
        "CloudEventHeaders": CLOUDEVENTS_HEADERS,
        "SealedPayload": SEALED_PAYLOAD,
    }
    messages: dict[str, Any] = {}
    channel_messages: dict[str, dict[str, Any]] = {_channel_id(t): {} for t in every}
    for model in EVENT_MODELS:
        payload = model.model_json_schema(ref_template=REF)
        schemas.update(payload.pop("$defs", {}))
        schemas[model.__name__] = payload
        name = _message_name(model)
        messages[name] = {
            "name": model.event_type(),
            "title": model.__name__,
            "summary": (model.__doc__ or "").strip().splitlines()[0] if model.__doc__ else "",
            "contentType": CONTENT_TYPE,
            "headers": {"$ref": "#/components/schemas/CloudEventHeaders"},
            "payload": {"$ref": REF.format(model="SealedPayload")},
            "x-opened-payload": {"$ref": REF.format(model=model.__name__)},
            "x-dataschema": model.dataschema(),
            "x-field-categories": {k: v.value for k, v in model.field_categories().items()},
            "bindings": {"kafka": {"key": {"type": "string", "description": "Subject pseudonym."}}},
        }
        for topic in _channels_of(model):
            channel_messages[_channel_id(topic)][name] = {"$ref": f"#/components/messages/{name}"}
    dead_letter_id = _channel_id(DEAD_LETTER)
    messages["DeadLetter"] = {
        "name": "hub.dead-letter",
        "title": "DeadLetter",
        "summary": "A record that could not be processed, with its error and the original.",
        "contentType": "application/json",
        "payload": {
            "type": "object",
            "required": ["id", "consumer", "source", "error", "errors", "original"],
        },
    }
    channel_messages[dead_letter_id]["DeadLetter"] = {"$ref": "#/components/messages/DeadLetter"}
    channels = {
        _channel_id(topic): {
            "address": topic.name,
            "description": topic.description,
            "messages": channel_messages[_channel_id(topic)],
            "bindings": {"kafka": {"partitions": topic.partitions}},
        }
        for topic in every
    }
    operations = {
        f"send-{channel}-{message}": {
            "action": "send",
            "channel": {"$ref": f"#/channels/{channel}"},
            "messages": [{"$ref": f"#/channels/{channel}/messages/{message}"}],
        }
        for channel, found in channel_messages.items()
        for message in found
    }
    return {
        "asyncapi": "3.0.0",
        "info": {
            "title": "Ketenhub",
            "version": __version__,
            "description": "The channels of the Levensloopaanpak integration hub. Keys are "
            "subject pseudonyms; every record is a CloudEvent in Kafka binary mode.",
        },
        "defaultContentType": CONTENT_TYPE,
        "channels": channels,
        "operations": operations,
        "components": {"messages": messages, "schemas": dict(sorted(schemas.items()))},
    }


def render() -> str:
    return json.dumps(document(), indent=2, ensure_ascii=False, sort_keys=False) + "\n"
