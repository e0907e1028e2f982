"""CloudEvents binary mode on Kafka: attributes in ``ce_`` headers, the payload as JSON.

``encode`` validates everything before it returns, so a record that leaves here is
whole; ``decode`` turns any malformed record into a ContractError naming the field.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping
from typing import Any

from cloudevents.core.bindings.kafka import KafkaMessage, from_binary, to_binary
from cloudevents.core.exceptions import BaseCloudEventException
from cloudevents.core.formats.json import JSONFormat
from cloudevents.core.v1.event import CloudEvent

from hub.bus import sealing
from hub.core.errors import ContractError
from hub.core.record import KafkaRecord
from hub.identity.keyring import DataKey, Keyring
from hub.schemas.base import CanonicalEvent
from hub.schemas.envelope import CONTENT_TYPE, Envelope
from hub.schemas.registry import model_for, parse_payload

_FORMAT = JSONFormat()
_CATEGORY_SEPARATOR = ","
# cloudevents adds the Kafka key back as this extension on decode; it is not ours.
_BINDING_ONLY = {"specversion", "partitionkey"}


def encode(event: CanonicalEvent, envelope: Envelope, key: DataKey | None = None) -> KafkaRecord:
    """The Kafka record for ``event``, its whole payload sealed under ``key`` (the hub
    always gives one; tests of the contracts alone may not). Raises ContractError when
    envelope and event disagree."""
    if envelope.type != event.event_type():
        raise ContractError(
            f"envelope type {envelope.type!r} does not match {event.event_type()!r}", field="type"
        )
    attributes: dict[str, Any] = envelope.model_dump(exclude={"datacategories"}, exclude_none=True)
    attributes["datacategories"] = _CATEGORY_SEPARATOR.join(sorted(envelope.datacategories))
    if envelope.origintime is not None:
        attributes["origintime"] = envelope.origintime.isoformat()
    data = event.model_dump(mode="json")
    if key is not None:
        data = sealing.seal(data, envelope, key)
    cloud_event = CloudEvent(attributes=attributes, data=data)
    message = to_binary(cloud_event, _FORMAT, key_mapper=lambda e: e.get_subject())
    headers = {k: v.decode("utf-8") for k, v in message.headers.items()}
    return KafkaRecord(
        topic=event.record_topic().name,
        key=envelope.subject.encode("ascii"),
        value=message.value,
        headers=headers,
    )


def _header_bytes(headers: Mapping[str, Any] | Iterable[tuple[str, Any]]) -> dict[str, bytes]:
    items = headers.items() if isinstance(headers, Mapping) else headers
    out: dict[str, bytes] = {}
    for key, value in items:
        out[key] = value if isinstance(value, bytes) else str(value).encode("utf-8")
    return out


def decode_envelope(headers: Mapping[str, Any] | Iterable[tuple[str, Any]]) -> Envelope:
    """Only the envelope: enough to route, trace or dead-letter without the payload."""
    raw = _header_bytes(headers)
    attributes = {
        k.removeprefix("ce_"): v.decode("utf-8", errors="replace")
        for k, v in raw.items()
        if k.startswith("ce_") and k.removeprefix("ce_") not in _BINDING_ONLY
    }
    if "content-type" in raw:
        attributes["datacontenttype"] = raw["content-type"].decode("utf-8", errors="replace")
    categories = attributes.pop("datacategories", "")
    fields: dict[str, Any] = dict(attributes)
    fields["datacategories"] = [c for c in categories.split(_CATEGORY_SEPARATOR) if c]
    return ContractError.validate(Envelope, fields, prefix="ce")


def decode(
    headers: Mapping[str, Any] | Iterable[tuple[str, Any]],
    value: bytes,
    keys: Mapping[str, DataKey | None] | None = None,
) -> tuple[Envelope, CanonicalEvent]:
    """Envelope and validated payload of a record, its sealed payload opened with
    ``keys``; ContractError names what is wrong, Erased says the key was shredded."""
    raw = _header_bytes(headers)
    envelope = decode_envelope(raw)
    if envelope.datacontenttype != CONTENT_TYPE:
        raise ContractError("payload must be application/json", field="content-type")
    model = model_for(envelope.type)
    if envelope.dataschema != model.dataschema():
        raise ContractError(
            f"dataschema {envelope.dataschema!r} does not match {model.dataschema()!r}",
            field="ce_dataschema",
        )
    try:
        cloud_event = from_binary(
            KafkaMessage(headers=raw, key=None, value=value), _FORMAT, CloudEvent
        )
    except BaseCloudEventException as exc:
        raise ContractError(f"not a CloudEvent: {exc}", field="ce") from None
    except (UnicodeDecodeError, ValueError, TypeError, RecursionError) as exc:
        raise ContractError(f"not a CloudEvent: {type(exc).__name__}", field="ce") from None
    data = cloud_event.get_data()
    if isinstance(data, str | bytes):
        try:
            data = json.loads(data)
        except (ValueError, RecursionError):
            raise ContractError("payload is not valid JSON", field="data") from None
    data = sealing.unseal(data, envelope, keys)
    return envelope, parse_payload(envelope.type, data, prefix="data")


async def open_record(
    headers: Mapping[str, Any] | Iterable[tuple[str, Any]],
    value: bytes,
    keyring: Keyring | None,
) -> tuple[Envelope, CanonicalEvent]:
    """:func:`decode`, with the key of the record's sealed payload fetched first. A
    reader that holds the keyring takes only sealed payloads: a record in clear was not
    written by the hub (only a client's data key seals), so it is refused as forged."""
    if keyring is None:
        return decode(headers, value)
    try:
        data = json.loads(value)
    except (ValueError, RecursionError):  # a record nested too deep is no record of ours
        data = None
    wanted = sealing.key_ids(data)
    if not wanted:
        raise ContractError("the payload is not sealed under a client's data key", field="data")
    return decode(headers, value, await keyring.find(wanted))
