"""Sealed payloads: on the bus, the whole payload of every record is one AES-256-GCM
ciphertext under the client's data key (``hub.identity.keyring``).

Everything a payload says is about a person: a detention title, a facility, a date, a
municipality, the fact of inclusion, a handling advice, a contact, a delivery's
recipient and content. So nothing in it is declared safe to leave in clear; a field
added tomorrow is sealed without anyone deciding so. What a consumer routes on stays
readable in the CloudEvents headers only: type, subject (a pseudonym), id, time,
source, correlation and causation ids, and the data categories.

A sealed payload is ``{"$sealed": <key id>, "n": <nonce>, "c": <ciphertext>}`` (base64).
Its associated data is the record's subject and type, so a sealed payload cannot be
moved to another client or another kind of record. Not the event id: a label delivery
the partner never took is sent again as the same record under a new id
(``hub.state.labels.failed_deliveries``); the partner de-duplicates on the delivery's
idempotency key inside.
One AES-GCM call per record, whatever the number of fields. Only the router and the
outbound connectors, which hold the keyring, open it; a payload whose key was erased
opens as :class:`Erased`.
"""

from __future__ import annotations

import base64
import json
import os
from collections.abc import Mapping
from typing import Any

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

from hub.core import topics
from hub.core.errors import ContractError, HubError
from hub.identity.keyring import CLIENT, DETENTION, NONCE, DataKey
from hub.schemas.base import CanonicalEvent
from hub.schemas.deliveries import NotificationDelivery
from hub.schemas.envelope import Envelope
from hub.schemas.registry import model_for

MARK = "$sealed"
SEALED_KEYS = frozenset({MARK, "n", "c"})


class Erased(HubError):
    """The record's sealed payload was crypto-shredded: the client's data was erased.
    A consumer skips such a record; it is not an error to retry or dead-letter."""

    slug = "erased"
    title = "This client's data was erased"
    status = 410


def scope_of(event: CanonicalEvent) -> str:
    """Detention data has a key of its own, erased six months after release; a delivery
    takes the scope of the event it carries."""
    source = event.source_type if isinstance(event, NotificationDelivery) else event.event_type()
    try:
        topic = model_for(source).topic
    except ContractError:
        return CLIENT
    return DETENTION if topic == topics.DETENTION else CLIENT


def _aad(subject: str, envelope: Envelope) -> bytes:
    return f"{subject}|{envelope.type}".encode()


def is_sealed(data: Any) -> bool:
    """Whether ``data`` is a sealed payload (and nothing else)."""
    return isinstance(data, Mapping) and set(data) == SEALED_KEYS


def seal(data: dict[str, Any], envelope: Envelope, key: DataKey) -> dict[str, Any]:
    """``data`` (the event's JSON) as one sealed payload under ``key``."""
    nonce = os.urandom(NONCE)
    plain = json.dumps(data, ensure_ascii=False, separators=(",", ":")).encode()
    cipher = AESGCM(key.secret).encrypt(nonce, plain, _aad(key.subject, envelope))
    return {
        MARK: key.key_id,
        "n": base64.b64encode(nonce).decode(),
        "c": base64.b64encode(cipher).decode(),
    }


def key_ids(data: Any) -> set[str]:
    """The data key a payload needs to open: none when it is not sealed."""
    return {str(data[MARK])} if is_sealed(data) else set()


def _sealed_field(data: Mapping[str, Any]) -> str | None:
    """A field sealed on its own: the form before whole payloads were sealed."""
    for container in (data, data.get("content")):
        if isinstance(container, Mapping):
            for name, value in container.items():
                if isinstance(value, Mapping) and MARK in value:
                    return str(name)
    return None


def unseal(data: Any, envelope: Envelope, keys: Mapping[str, DataKey | None] | None) -> Any:
    """The payload in clear: ``data`` opened when sealed, as it is when not (tests of the
    contracts alone encode without a key). Erased when the key was shredded;
    ContractError when the payload is damaged, not this record's, or in the old form."""
    if not is_sealed(data):
        old = _sealed_field(data) if isinstance(data, Mapping) else None
        if old is not None:
            raise ContractError("a field sealed on its own is no longer read", field=old)
        if isinstance(data, Mapping) and MARK in data:
            raise ContractError("a sealed payload holds only $sealed, n and c", field="data")
        return data
    if keys is None:
        raise ContractError("the payload is sealed and this reader has no keys", field="data")
    key = keys.get(str(data[MARK]))
    if key is None:
        raise Erased("the client's data key was erased", field="data")
    try:
        nonce = base64.b64decode(data["n"], validate=True)
        cipher = base64.b64decode(data["c"], validate=True)
        plain = AESGCM(key.secret).decrypt(nonce, cipher, _aad(envelope.subject, envelope))
        return json.loads(plain)
    except (ValueError, TypeError, InvalidTag):
        raise ContractError("the sealed payload does not open", field="data") from None
