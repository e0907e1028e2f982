"""Sealed fields: on the bus, every payload field of the identity or medical category is
encrypted with AES-256-GCM under the client's data key (``hub.identity.keyring``).

A sealed field's value becomes ``{"$sealed": <key id>, "n": <nonce>, "c": <ciphertext>}``
(base64); the client's pseudonym and the field's name are the associated data, so a
sealed value cannot be moved to another client or field. For a delivery, the fields
inside ``content`` are sealed by the category ``content_categories`` gives them.

Whoever reads the bus without the key learns nothing of a person: the record key and
``ce_subject`` are pseudonyms, and names, dates of birth, prison numbers and medical
details are ciphertext. Only the router and the outbound connectors, which hold the
keyring, open them. A field whose key was erased opens as :class:`Erased`.
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
from hub.schemas.categories import DataCategory
from hub.schemas.deliveries import NotificationDelivery
from hub.schemas.registry import model_for

MARK = "$sealed"
SEALED_CATEGORIES = frozenset({DataCategory.IDENTITY, DataCategory.MEDICAL})
CONTENT = "content"


class Erased(HubError):
    """The record's sealed fields were crypto-shredded: the client's data was erased.
    A consumer skips such a record; it is not an error to retry or dead-letter."""

    slug = "erased"
    title = "This client's data was erased"
    status = 410


def scope_of(event: CanonicalEvent) -> str:
    """Detention data has a key of its own, erased six months after release."""
    source = event.source_type if isinstance(event, NotificationDelivery) else event.event_type()
    try:
        topic = model_for(source).topic
    except ContractError:
        return CLIENT
    return DETENTION if topic == topics.DETENTION else CLIENT


def _fields(event: CanonicalEvent) -> list[tuple[str | None, str]]:
    """(container, field) of every value to seal: top-level fields, or a delivery's
    content fields."""
    if isinstance(event, NotificationDelivery):
        return [
            (CONTENT, name)
            for name, category in event.content_categories.items()
            if category in SEALED_CATEGORIES and name in event.content
        ]
    return [
        (None, name)
        for name, category in type(event).field_categories().items()
        if category in SEALED_CATEGORIES
    ]


def _aad(subject: str, container: str | None, name: str) -> bytes:
    return f"{subject}|{container or ''}|{name}".encode()


def seal(event: CanonicalEvent, data: dict[str, Any], key: DataKey) -> dict[str, Any]:
    """``data`` (the event's JSON) with its identity and medical values sealed."""
    sealed = dict(data)
    if CONTENT in sealed and isinstance(sealed[CONTENT], dict):
        sealed[CONTENT] = dict(sealed[CONTENT])
    for container, name in _fields(event):
        holder = sealed[container] if container else sealed
        if holder.get(name) is None:
            continue
        nonce = os.urandom(NONCE)
        plain = json.dumps(holder[name], ensure_ascii=False).encode()
        cipher = AESGCM(key.secret).encrypt(nonce, plain, _aad(key.subject, container, name))
        holder[name] = {
            MARK: key.key_id,
            "n": base64.b64encode(nonce).decode(),
            "c": base64.b64encode(cipher).decode(),
        }
    return sealed


def _sealed_items(data: Mapping[str, Any]) -> list[tuple[str | None, str, dict[str, Any]]]:
    found = []
    for container in (None, CONTENT):
        holder = data if container is None else data.get(CONTENT)
        if not isinstance(holder, Mapping):
            continue
        for name, value in holder.items():
            if isinstance(value, dict) and MARK in value:
                found.append((container, name, value))
    return found


def key_ids(data: Mapping[str, Any]) -> set[str]:
    return {str(value[MARK]) for _, _, value in _sealed_items(data)}


def unseal(
    data: dict[str, Any], subject: str, keys: Mapping[str, DataKey | None]
) -> dict[str, Any]:
    """``data`` with its sealed values opened; Erased when a key was shredded,
    ContractError when a sealed value is damaged or not this client's."""
    items = _sealed_items(data)
    if not items:
        return data
    opened = dict(data)
    if isinstance(opened.get(CONTENT), dict):
        opened[CONTENT] = dict(opened[CONTENT])
    for container, name, value in items:
        key = keys.get(str(value[MARK]))
        if key is None:
            raise Erased("the client's data key was erased", field=name)
        try:
            nonce = base64.b64decode(value["n"], validate=True)
            cipher = base64.b64decode(value["c"], validate=True)
            plain = AESGCM(key.secret).decrypt(nonce, cipher, _aad(subject, container, name))
            holder = opened[container] if container else opened
            holder[name] = json.loads(plain)
        except (KeyError, ValueError, TypeError, InvalidTag):
            raise ContractError("a sealed field does not open", field=name) from None
    return opened
