"""CloudEvents binary mode: round trip, and malformed records rejected by field."""

from __future__ import annotations

import json
from typing import cast

import pytest

from hub.bus.codec import decode, decode_envelope, encode, open_record
from hub.core.errors import ContractError
from hub.identity.keyring import Keyring
from hub.schemas.envelope import Envelope, partner_source
from tests.data import TEST_BSNS, detention_started, pseudonymiser

SUBJECT = pseudonymiser().pseudonym(TEST_BSNS[0])


def _record() -> tuple[dict[str, str], bytes]:
    event = detention_started()
    envelope = Envelope.for_event(event, subject=SUBJECT, source=partner_source("dji"))
    record = encode(event, envelope)
    return record.headers, record.value


def test_round_trip_keeps_every_attribute() -> None:
    event = detention_started()
    envelope = Envelope.for_event(
        event,
        subject=SUBJECT,
        source=partner_source("dji"),
        correlation_id="corr-1",
        causation_id="cause-1",
    )
    record = encode(event, envelope)
    assert record.topic == "justice.detention.v1"
    assert record.key == SUBJECT.encode()
    assert record.headers["ce_specversion"] == "1.0"
    assert record.headers["ce_type"] == "nl.ketenhub.detention.started.v1"
    assert record.headers["ce_correlationid"] == "corr-1"
    assert record.headers["ce_datacategories"] == "identity,justice"
    assert record.headers["content-type"] == "application/json"
    back_envelope, back_event = decode(record.header_list(), record.value)
    assert back_envelope == envelope
    assert back_event == event


def test_missing_subject_is_named() -> None:
    headers, value = _record()
    del headers["ce_subject"]
    with pytest.raises(ContractError) as info:
        decode(headers, value)
    assert info.value.field == "ce.subject"


def test_a_bsn_as_subject_is_refused() -> None:
    headers, _ = _record()
    headers["ce_subject"] = TEST_BSNS[0]
    with pytest.raises(ContractError, match="pseudonym") as info:
        decode_envelope(headers)
    assert TEST_BSNS[0] not in str(info.value)


def test_unknown_type_is_named() -> None:
    headers, value = _record()
    headers["ce_type"] = "nl.ketenhub.unknown.v1"
    with pytest.raises(ContractError) as info:
        decode(headers, value)
    assert info.value.field == "type"


def test_wrong_payload_type_names_the_data_field() -> None:
    headers, value = _record()
    data = json.loads(value)
    data["start_date"] = 12
    with pytest.raises(ContractError) as info:
        decode(headers, json.dumps(data).encode())
    assert info.value.field == "data.start_date"


def test_invalid_json_is_a_contract_error() -> None:
    headers, _ = _record()
    with pytest.raises(ContractError, match="JSON"):
        decode(headers, b"{not json")


@pytest.mark.parametrize("open_with_keyring", [False, True])
async def test_a_record_nested_100k_deep_is_a_contract_error_not_a_recursion_error(
    open_with_keyring: bool,
) -> None:
    """Only the hub writes its topics, but a record that would blow the parser's stack
    is still refused by name (and dead-lettered), never a crash of the consumer."""
    headers, _ = _record()
    deep = b"[" * 100_000 + b"]" * 100_000
    keyring = cast(Keyring, object()) if open_with_keyring else None
    with pytest.raises(ContractError):
        await open_record(headers, deep, keyring=keyring)


def test_envelope_type_must_match_the_event() -> None:
    event = detention_started()
    envelope = Envelope.for_event(event, subject=SUBJECT, source="urn:x")
    other = envelope.model_copy(update={"type": "nl.ketenhub.detention.ended.v1"})
    with pytest.raises(ContractError, match="does not match"):
        encode(event, other)


def test_a_field_a_newer_hub_added_is_read_and_kept_when_forwarded() -> None:
    """Within a major version a newer hub may add an optional field (``hub schemas
    check``): an older reader takes the record and, forwarding it, keeps the field. It
    had refused it ("Extra inputs are not permitted"), breaking a rolling upgrade."""
    headers, value = _record()
    newer = json.loads(value) | {"ward": "B-2"}
    envelope, event = decode(headers, json.dumps(newer).encode())
    assert event.model_extra == {"ward": "B-2"}
    assert event == detention_started().model_copy(update={"ward": "B-2"})
    forwarded = encode(event, envelope)
    assert json.loads(forwarded.value)["ward"] == "B-2"
    assert forwarded.headers["ce_dataschema"] == headers["ce_dataschema"]
