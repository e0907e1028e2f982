"""No fact about a person in clear on the bus, and crypto-shredding.

After flows A to H on an embedded broker of its own, every record on every topic is read
back raw and walked: its key is a pseudonym, its headers are the routing metadata of an
explicit allow-list, and every value of its JSON payload is either on the allow-list of
routing paths (only a dead letter has any) or inside a sealed payload. A dead letter's
copy of the original record is walked the same way. On top, no BSN, name, date of
birth, prison number, diagnosis, detention title, facility, municipality or handling
advice from the test data appears anywhere in the raw bytes. Then a client is erased:
their earlier records can no longer be opened, the hub keeps running and takes their
new messages under a new key, and `hub audit verify` still passes. The six-month clock
after release shreds the detention data only.
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import json
import sqlite3
import uuid
from collections.abc import AsyncIterator, Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from aiokafka import AIOKafkaConsumer, AIOKafkaProducer, TopicPartition
from typer.testing import CliRunner

from hub.bus import sealing
from hub.bus.codec import open_record
from hub.bus.sealing import Erased
from hub.cli import app
from hub.connectors.testing.harness import wait_until
from hub.core.subjects import is_pseudonym
from hub.core.topics import ALL_TOPICS, CASE, DEAD_LETTER, DELIVERY_TOPICS, DETENTION, SIGNAL
from hub.settings import KafkaSettings
from hub.simulators.population import HANDLING_ADVICE, consent, inclusion, person
from hub.state import audit
from hub.state.database import sessionmaker
from tests.chaos.rig import own_backend
from tests.data import TEST_BSNS, TEST_NAMES
from tests.integration.simulated_chain import (
    Chain,
    crisis_contact,
    llc_content,
    simulated_chain,
    today,
)

pytestmark = pytest.mark.integration
SMIT, BAKKER = "300000005", "212121224"
SECRETS = (
    *TEST_BSNS,
    *TEST_NAMES,
    "Demo-Smit",
    "Demo-Bakker",
    "1990-06-15",
    "SKN-SIM",
    "Decompensatie",
    "medicatie gestaakt",
    # what the outside probe read in clear: justice and label facts, contacts
    "voorlopige hechtenis",
    "PI Amsterdam",
    "PI-AMS",
    "PI-VUG",
    "GM0363",
    "GM0344",
    "stable-two-years",
    HANDLING_ADVICE[:30],
    "P. Utrecht",
    "procesregisseur",
    "levensloopcoordinator",
)
SEALED_PAYLOAD = {"$sealed", "n", "c"}
"""A sealed payload holds nothing else (hub.bus.sealing); no payload field is routing."""
ROUTING_HEADERS = frozenset(
    {
        *(
            f"ce_{name}"
            for name in (
                "specversion",
                "id",
                "source",
                "type",
                "subject",
                "time",
                "dataschema",
                "correlationid",
                "causationid",
                "datacategories",
                "origintime",
            )
        ),
        "content-type",
        "traceparent",
        "tracestate",
        "x-hub-error",
        "correlation_id",
    }
)
"""Every header a record may carry: CloudEvents attributes the hub routes and traces on,
the W3C trace context, a dead letter's error slug, and FastStream's own message id."""
DEAD_LETTER_PATHS = frozenset(
    {
        "id",
        "consumer",
        "source.topic",
        "source.partition",
        "source.offset",
        "failed_at",
        *(f"error.{k}" for k in ("type", "title", "status", "detail", "field", "instance")),
        *(f"errors[].{k}" for k in ("attempt", "at", "error", "detail")),
    }
)
"""A dead letter's own words: ids, where it came from, the error tree's problem+json
(which names fields, never values). Its ``original`` is walked as a record."""


@pytest.fixture(scope="module")
def own_broker() -> Iterator[KafkaSettings]:
    """A broker of this module's own: the scan must see only what these flows wrote."""
    with own_backend() as backend:
        yield backend.kafka


@pytest.fixture
async def chain(
    own_broker: KafkaSettings, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> AsyncIterator[Chain]:
    monkeypatch.setenv("HUB_DATA_DIR", str(tmp_path))
    monkeypatch.setenv("HUB_DATABASE__URL", f"sqlite+aiosqlite:///{tmp_path}/hub.db")
    async with simulated_chain(own_broker, tmp_path) as running:
        yield running


def _id(prefix: str) -> str:
    return f"{prefix}-{uuid.uuid4().hex[:10]}"


def _zvh(bsn: str, kind: str, **fields: Any) -> dict[str, Any]:
    found = person(bsn)
    assert found is not None
    return {
        "schemaVersie": "1",
        "id": _id(kind),
        "soort": kind,
        "bsn": bsn,
        "zvh": found.zvh,
        **fields,
    }


async def _records(kafka: KafkaSettings, topics: list[str]) -> list[Any]:
    """Every record on ``topics``, from the beginning, read raw."""
    consumer = AIOKafkaConsumer(bootstrap_servers=kafka.bootstrap_servers, enable_auto_commit=False)
    await consumer.start()
    try:
        await consumer.topics()
        parts = [
            TopicPartition(t, p) for t in topics for p in (consumer.partitions_for_topic(t) or ())
        ]
        consumer.assign(parts)
        await consumer.seek_to_beginning(*parts)
        ends = await consumer.end_offsets(parts)
        found: list[Any] = []
        while [p for p in parts if await consumer.position(p) < ends[p]]:
            batch = await consumer.getmany(timeout_ms=500)
            for records in batch.values():
                found.extend(records)
        return found
    finally:
        await consumer.stop()


async def _llc_got_the_assessment(chain: Chain) -> None:
    """The LLC received the crisis contact's medical field, opened (its consent holds)."""

    async def there() -> bool:
        for received in await chain.received("llc", SMIT, chain.subject(SMIT)):
            if str(llc_content(received).get("assessment", "")).startswith("Decompensatie"):
                return True
        return False

    await wait_until(there)


def _sealed(record: Any) -> bool:
    return bool(sealing.key_ids(json.loads(record.value)))


def _in_clear(key: bytes | None, headers: dict[str, str], value: bytes, where: str) -> list[str]:
    """Every place in a raw record that is neither routing metadata nor sealed."""
    found = [f"{where} header {name}" for name in headers if name not in ROUTING_HEADERS]
    if key is not None and not is_pseudonym(key.decode("utf-8", "replace")):
        found.append(f"{where} key")
    subject = headers.get("ce_subject")
    if subject is not None and not is_pseudonym(subject):
        found.append(f"{where} ce_subject")
    data = json.loads(value)
    if "x-hub-error" not in headers:
        sealed = isinstance(data, dict) and set(data) == SEALED_PAYLOAD
        return found if sealed else [*found, *(f"{where} {p}" for p in _paths(data, ""))]
    original = data.pop("original", {})
    found += [f"{where} {path}" for path in _paths(data, "") if path not in DEAD_LETTER_PATHS]
    inner = base64.b64decode(original.get("value_b64", ""))
    return found + _in_clear(key, original.get("headers", {}), inner, f"{where} original")


def _paths(value: Any, path: str) -> list[str]:
    """The path of every leaf value of a JSON document (list items as ``[]``)."""
    if isinstance(value, dict):
        return [p for k, v in value.items() for p in _paths(v, f"{path}.{k}" if path else k)]
    if isinstance(value, list):
        return [p for v in value for p in _paths(v, f"{path}[]")]
    return [path]


def _text_headers(headers: Any) -> dict[str, str]:
    return {name: value.decode("utf-8", "replace") for name, value in headers}


def _raw_text(record: Any) -> str:
    parts = [record.key or b"", record.value or b""]
    parts += [value for _, value in record.headers]
    return "\n".join(p.decode("utf-8", "replace") for p in parts)


async def test_flows_a_to_h_leave_no_bsn_name_or_diagnosis_in_clear_on_the_bus(
    chain: Chain, own_broker: KafkaSettings, report: Callable[[str], None]
) -> None:
    smit = person(SMIT)
    assert smit is not None
    await chain.send("zvh", inclusion(smit, _id("INCL")))  # B
    await chain.labels_until(SMIT, {"politie": "set"})
    await chain.send(
        "zvh", _zvh(SMIT, "TOESTEMMING", consent=consent("scan-1", "llz:fivoor", SMIT))
    )
    await chain.recorded(SMIT, 2)  # H
    await chain.send("injus", {"kind": "START", "bsn": SMIT, "event_id": _id("A")})  # A
    await chain.send("injus", {"kind": "OVERPLAATSING", "bsn": SMIT, "event_id": _id("D")})
    await chain.send("crisis", crisis_contact(SMIT, _id("F")))  # F, medical
    await chain.send("injus", {"kind": "EINDE", "bsn": SMIT, "event_id": _id("E")})  # E
    await _llc_got_the_assessment(chain)
    procesregisseur = {
        "naam": "P. Utrecht",
        "rol": "procesregisseur",
        "organisatie": "ZVH Utrecht",
        "partner": "zvh:utrecht",
    }
    await chain.send(
        "zvh",
        _zvh(
            SMIT,
            "VERHUIZING",
            naarZvh="zvh:utrecht",
            datum="2026-11-01",
            procesregisseur=procesregisseur,
        ),
    )  # G
    exclusion = _zvh(SMIT, "EXCLUSIE", datum=today(), reden="stable-two-years", zvh="zvh:utrecht")
    await chain.send("zvh", exclusion)  # C, by the ZVH that has the client since the move
    await chain.labels_until(SMIT, {"politie": "withdrawn"})
    await _forge_a_copy_until_dead_lettered(own_broker)
    records = await _records(own_broker, [t.name for t in ALL_TOPICS])
    leaks = {secret for r in records for secret in SECRETS if secret in _raw_text(r)}
    clear = {
        place
        for r in records
        for place in _in_clear(r.key, _text_headers(r.headers), r.value, r.topic)
    }
    topics = {r.topic for r in records}
    report(
        f"[privacy] bus scan after flows A-H: {len(records)} records on {len(topics)} topics, "
        f"{len(leaks)} known facts and {len(clear)} places outside the routing metadata "
        "in clear"
    )
    assert {DETENTION.name, CASE.name, SIGNAL.name} <= topics
    assert DELIVERY_TOPICS["llz"].name in topics
    assert DELIVERY_TOPICS["politie"].name in topics
    assert DEAD_LETTER.name in topics
    assert not clear, f"in clear on the bus: {sorted(clear)}"
    assert not leaks, f"in clear on the bus: {sorted(leaks)}"
    stored = _database_text(chain.hub.engine.url.database)
    kept = {
        secret
        for secret in (SMIT, *TEST_BSNS, "Demo-Smit")
        if secret in stored or secret.encode().hex().upper() in stored
    }
    report(f"[privacy] state database after flows A-H: {len(kept)} BSNs or names in clear")
    assert not kept, f"in clear in the state database: {sorted(kept)}"


async def _forge_a_copy_until_dead_lettered(kafka: KafkaSettings) -> None:
    """A detention record copied to another pseudonym: its sealed payload does not open
    there, so the router dead-letters it, and the scan walks a dead letter too."""
    (original, *_) = await _records(kafka, [DETENTION.name])
    other = f"psn-{original.key.decode().split('-')[1]}-{'0' * 40}".encode()
    headers = [(k, other if k == "ce_subject" else v) for k, v in original.headers]
    producer = AIOKafkaProducer(bootstrap_servers=kafka.bootstrap_servers)
    await producer.start()
    try:
        await producer.send_and_wait(DETENTION.name, original.value, key=other, headers=headers)
    finally:
        await producer.stop()

    async def dead_lettered() -> bool:
        return bool(await _records(kafka, [DEAD_LETTER.name]))

    await wait_until(dead_lettered)


def _database_text(path: str | None) -> str:
    """Every value in every table of the hub's SQLite state, as SQL text (a BLOB as its
    hex, hence the hex form of each secret too)."""
    assert path is not None
    with contextlib.closing(sqlite3.connect(path)) as connection:
        return "\n".join(connection.iterdump())


async def test_an_erased_client_cannot_be_read_back_and_the_hub_goes_on(
    chain: Chain, own_broker: KafkaSettings
) -> None:
    bakker = person(BAKKER)
    assert bakker is not None
    subject = chain.subject(BAKKER)
    await chain.send("zvh", inclusion(bakker, _id("INCL")))
    await chain.recorded(BAKKER, 1)  # topics race each other: the case first, then signals
    await chain.send("injus", {"kind": "START", "bsn": BAKKER, "event_id": _id("A")})
    await chain.send("crisis", {**crisis_contact(BAKKER, _id("F")), "regio": "utrecht"})
    await chain.until("llc", 2, BAKKER, subject)

    async def mine(topic: str) -> list[Any]:
        return [r for r in await _records(own_broker, [topic]) if r.key == subject.encode()]

    before = {t: await mine(t) for t in (DETENTION.name, SIGNAL.name, DELIVERY_TOPICS["llz"].name)}
    assert all(before.values())
    sealed = [r for records in before.values() for r in records if _sealed(r)]
    assert {r.topic for r in sealed} == set(before), "every topic held a sealed field"
    for records in before.values():
        for record in records:
            await open_record(record.headers, record.value, chain.hub.keyring)  # opens now

    runner = CliRunner()
    erased = await asyncio.to_thread(
        runner.invoke, app, ["subject", "erase", subject, "--reason", "erasure request AVG 17"]
    )
    assert erased.exit_code == 0, erased.output
    assert "data key(s) destroyed" in erased.stdout
    await asyncio.sleep(chain.hub.settings.crypto.key_cache_s + 0.5)
    for record in sealed:
        with pytest.raises(Erased):
            await open_record(record.headers, record.value, chain.hub.keyring)

    await chain.send("injus", {"kind": "OVERPLAATSING", "bsn": BAKKER, "event_id": _id("D")})
    await chain.until("llc", 3, BAKKER, subject)  # the hub goes on, under a new key
    verified = await asyncio.to_thread(runner.invoke, app, ["audit", "verify"])
    assert verified.exit_code == 0, verified.output
    trail = await asyncio.to_thread(
        runner.invoke, app, ["audit", "search", "--subject", subject, "--outcome", "ERASED"]
    )
    assert "erasure request AVG 17" in trail.stdout


async def test_six_months_after_release_only_the_detention_data_is_shredded(
    chain: Chain, own_broker: KafkaSettings
) -> None:
    found = person(SMIT)
    assert found is not None
    subject = chain.subject(SMIT)
    await chain.send("zvh", inclusion(found, _id("INCL")))
    await chain.send("injus", {"kind": "START", "bsn": SMIT, "event_id": _id("A")})
    await chain.send(
        "injus",
        {"kind": "EINDE", "bsn": SMIT, "event_id": _id("E"), "date": "2025-01-02"},
    )
    await chain.send("crisis", crisis_contact(SMIT, _id("F")))

    async def routed() -> bool:
        async with sessionmaker(chain.hub.engine)() as session:
            query = audit.AuditQuery(subjects=[subject])
            types = {r["event_type"] async for r in audit.search(session, query)}
        return any("crisis" in t for t in types) and any("ended" in t for t in types)

    await wait_until(routed)
    await chain.hub._erase_due()
    await asyncio.sleep(chain.hub.settings.crypto.key_cache_s + 0.5)
    detention = [
        r for r in await _records(own_broker, [DETENTION.name]) if r.key == subject.encode()
    ]
    signals = [r for r in await _records(own_broker, [SIGNAL.name]) if r.key == subject.encode()]
    assert detention
    assert signals
    assert all(_sealed(r) for r in detention)
    for record in detention:
        with pytest.raises(Erased):
            await open_record(record.headers, record.value, chain.hub.keyring)
    for record in signals:
        _, event = await open_record(record.headers, record.value, chain.hub.keyring)
        assert "Decompensatie" in event.model_dump_json()
