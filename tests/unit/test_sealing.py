"""Sealed payloads: every fact about a person is ciphertext on the bus, justice and label
facts included; the payload opens only for its own record and client, and a record in
the old per-field form is refused by name."""

from __future__ import annotations

import base64
import json
import os
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from hub.bus import sealing
from hub.bus.codec import decode, encode, open_record
from hub.bus.sealing import Erased
from hub.core.errors import ContractError
from hub.core.record import KafkaRecord
from hub.identity.keyring import CLIENT, DETENTION, DataKey, Keyring, MasterKeys
from hub.schemas.base import CanonicalEvent
from hub.schemas.deliveries import DecisionSummary, Flow, NotificationDelivery, Outcome
from hub.schemas.envelope import Envelope, partner_source
from hub.state.database import make_engine, sessionmaker
from tests.data import TEST_BSNS, client_included, detention_started, pseudonymiser

SUBJECT = pseudonymiser().pseudonym(TEST_BSNS[0])
OTHER = pseudonymiser().pseudonym(TEST_BSNS[1])
KEY = DataKey("dk-1", SUBJECT, CLIENT, os.urandom(32))
KEYS: dict[str, DataKey | None] = {KEY.key_id: KEY}


def _delivery(event: CanonicalEvent) -> NotificationDelivery:
    content = event.model_dump(mode="json", exclude_none=True)
    return NotificationDelivery(
        recipient="politie",
        recipient_role="politie",
        flow=Flow.B,
        purpose="label",
        source_type=event.event_type(),
        idempotency_key="idem-1",
        decision=DecisionSummary(
            outcome=Outcome.PERMIT, legal_bases=("art-1",), rule_ids=("r1",), policy_version="1"
        ),
        content=content,
        content_categories={
            k: c for k, c in type(event).field_categories().items() if k in content
        },
        label_reference="SUB-4711",
    )


def _sealed(event: CanonicalEvent, subject: str = SUBJECT) -> tuple[Envelope, KafkaRecord]:
    envelope = Envelope.for_event(event, subject=subject, source=partner_source("dji"))
    return envelope, encode(event, envelope, KEY)


EVENTS = {
    "detention": detention_started(detention_title="voorlopige hechtenis"),
    "inclusion": client_included(handling_advice="Rustig benaderen, geen uniform"),
    "delivery": _delivery(client_included(handling_advice="Rustig benaderen, geen uniform")),
}


@pytest.mark.parametrize("kind", EVENTS)
def test_every_field_of_a_payload_is_sealed_and_opens_again(kind: str) -> None:
    event = EVENTS[kind]
    _, record = _sealed(event)
    data = json.loads(record.value)
    assert set(data) == {"$sealed", "n", "c"}, "nothing of the payload stays in clear"
    clear = event.model_dump(mode="json")
    for value in _leaves(clear):
        if isinstance(value, str) and len(value) > 3:
            assert value not in record.value.decode(), f"{value!r} in clear"
    _, back = decode(record.header_list(), record.value, KEYS)
    assert back == event


def test_the_probes_findings_are_no_longer_in_clear() -> None:
    """The facts the outside probe read on the detention and case topics."""
    records = [_sealed(e)[1].value.decode() for e in EVENTS.values()]
    for fact in ("voorlopige hechtenis", "PI-AMS", "GM0363", "Rustig benaderen", "SUB-4711"):
        assert not [r for r in records if fact in r], fact


def _leaves(value: Any) -> list[Any]:
    if isinstance(value, dict):
        return [leaf for v in value.values() for leaf in _leaves(v)]
    if isinstance(value, list):
        return [leaf for v in value for leaf in _leaves(v)]
    return [value]


def test_one_aes_call_per_record_whatever_its_fields() -> None:
    _, small = _sealed(EVENTS["detention"])
    _, large = _sealed(EVENTS["delivery"])
    assert json.loads(small.value).keys() == json.loads(large.value).keys()
    assert sealing.key_ids(json.loads(large.value)) == {KEY.key_id}


def test_a_sealed_payload_does_not_open_under_another_client() -> None:
    _, record = _sealed(EVENTS["detention"])
    headers = dict(record.headers, ce_subject=OTHER)
    with pytest.raises(ContractError, match="does not open") as info:
        decode(headers, record.value, KEYS)
    assert info.value.field == "data"


def test_a_sealed_payload_does_not_open_in_another_kind_of_record() -> None:
    _, record = _sealed(EVENTS["detention"])
    headers = dict(
        record.headers,
        ce_type="nl.ketenhub.detention.ended.v1",
        ce_dataschema="urn:ketenhub:schema:detention.ended:v1",
    )
    with pytest.raises(ContractError, match="does not open"):
        decode(headers, record.value, KEYS)


def test_a_sealed_payload_opens_under_a_new_event_id() -> None:
    """A label delivery the partner never took is sent again as the same record under a
    new id (hub.state.labels.failed_deliveries): it must still open."""
    _, record = _sealed(EVENTS["delivery"])
    _, back = decode(dict(record.headers, ce_id="resend-1"), record.value, KEYS)
    assert back == EVENTS["delivery"]


def test_a_tampered_ciphertext_is_a_contract_error_not_a_crash() -> None:
    _, record = _sealed(EVENTS["detention"])
    data = json.loads(record.value)
    cipher = bytearray(base64.b64decode(data["c"]))
    cipher[0] ^= 1
    data["c"] = base64.b64encode(bytes(cipher)).decode()
    with pytest.raises(ContractError, match="does not open"):
        decode(record.headers, json.dumps(data).encode(), KEYS)
    data["n"] = "not base64!"
    with pytest.raises(ContractError, match="does not open"):
        decode(record.headers, json.dumps(data).encode(), KEYS)


def test_an_erased_key_opens_as_erased() -> None:
    _, record = _sealed(EVENTS["detention"])
    with pytest.raises(Erased):
        decode(record.headers, record.value, {KEY.key_id: None})
    with pytest.raises(Erased):
        decode(record.headers, record.value, {})


def test_a_reader_without_keys_is_told_so() -> None:
    _, record = _sealed(EVENTS["detention"])
    with pytest.raises(ContractError, match="no keys"):
        decode(record.headers, record.value)


def test_clear_fields_beside_a_seal_are_refused() -> None:
    """A sealed payload with a field in clear next to it is not half-read."""
    _, record = _sealed(EVENTS["detention"])
    data = {**json.loads(record.value), "facility": {"code": "PI-X", "name": "PI X"}}
    with pytest.raises(ContractError, match="holds only"):
        decode(record.headers, json.dumps(data).encode(), KEYS)


def test_a_record_sealed_field_by_field_is_refused_by_name() -> None:
    """The old form (before whole payloads were sealed) is not read: the embedded broker
    keeps nothing across runs and production has no records in it."""
    envelope = Envelope.for_event(
        EVENTS["detention"], subject=SUBJECT, source=partner_source("dji")
    )
    record = encode(EVENTS["detention"], envelope)
    data = json.loads(record.value)
    data["person_name"] = {"$sealed": KEY.key_id, "n": "AAAA", "c": "AAAA"}
    with pytest.raises(ContractError, match="sealed on its own") as info:
        decode(record.headers, json.dumps(data).encode(), KEYS)
    assert info.value.field == "person_name"


def test_a_delivery_takes_the_scope_of_the_event_it_carries() -> None:
    assert sealing.scope_of(EVENTS["detention"]) == DETENTION
    assert sealing.scope_of(_delivery(EVENTS["detention"])) == DETENTION
    assert sealing.scope_of(EVENTS["delivery"]) == CLIENT


JSON = st.recursive(
    st.none() | st.booleans() | st.integers() | st.text(max_size=20),
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=5), inner),
    max_leaves=8,
)


@settings(max_examples=100, deadline=None)
@given(field=st.sampled_from(["$sealed", "n", "c"]), value=JSON)
def test_a_damaged_seal_is_erased_or_a_contract_error_never_a_crash(field: str, value: Any) -> None:
    """Whatever a forger puts in a sealed payload's fields, the reader dead-letters the
    record (ContractError) or passes it by (Erased); nothing else is raised."""
    _, record = _sealed(EVENTS["delivery"])
    data = {**json.loads(record.value), field: value}
    with pytest.raises((ContractError, Erased)):
        decode(record.headers, json.dumps(data).encode(), KEYS)


async def test_a_reader_with_the_keyring_refuses_a_payload_in_clear() -> None:
    """Only a client's data key seals, so a record in clear on a topic the router or a
    connector reads was not written by the hub: someone with write access forging, say,
    an exclusion or a police notice. It is refused (and dead-lettered), not routed."""
    engine = make_engine("sqlite+aiosqlite:///:memory:")  # never queried: refused first
    keyring = Keyring(sessionmaker(engine), MasterKeys("m1", {"m1": bytes(32)}))
    event = client_included(handling_advice="Forged advice")
    envelope = Envelope.for_event(event, subject=SUBJECT, source=partner_source("zvh"))
    forged = encode(event, envelope)
    try:
        with pytest.raises(ContractError, match="not sealed") as info:
            await open_record(forged.headers, forged.value, keyring)
    finally:
        await engine.dispose()
    assert info.value.field == "data"
