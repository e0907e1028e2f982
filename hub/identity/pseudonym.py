"""Keyed pseudonyms: the subject of every message on the bus.

A pseudonym is ``psn-<key id>-<40 hex>``: HMAC-SHA256 of the normalised BSN under a
secret key, truncated to 160 bits. Without the key nobody can test a guessed BSN
against it, which an unsalted hash would allow. The key id inside the pseudonym lets
keys rotate: during a rotation the edges compute the pseudonym under every known key,
so state recorded under the old key is still found (see README, "Rotating the
pseudonym key").
"""

from __future__ import annotations

import hashlib
import hmac
from collections.abc import Mapping

from hub.core.bsn import normalise_bsn
from hub.core.subjects import is_pseudonym
from hub.identity.keyfiles import KeyDirectory, KeySet, KeySource, StaticKeys, key_source
from hub.settings import HubSettings

_DIGEST_HEX = 40
_MIN_KEY_BYTES = 32


class Pseudonymiser:
    """Turns a BSN into the pseudonym under the active key (and, on request, old keys).

    Built over a key source, it follows a live rotation (``hub keys rotate``)."""

    def __init__(
        self,
        active_key_id: str | None = None,
        keys: Mapping[str, bytes] | None = None,
        *,
        source: KeySource | None = None,
    ):
        if source is None:
            if active_key_id is None or keys is None:
                raise ValueError("a pseudonymiser needs keys or a key source")
            try:
                source = StaticKeys(KeySet(active_key_id, keys))
            except ValueError:
                raise ValueError(f"pseudonym key {active_key_id!r} is not configured") from None
        self._source = source
        for key_id, key in source.current().keys.items():
            if len(key) < _MIN_KEY_BYTES:
                raise ValueError(f"pseudonym key {key_id!r} is shorter than 32 bytes")

    def __repr__(self) -> str:
        return f"Pseudonymiser(active_key_id={self.active_key_id!r})"

    def key_set(self) -> KeySet:
        return self._source.current()

    @property
    def source(self) -> KeySource:
        """Where the keys come from: a key directory follows a rotation."""
        return self._source

    @property
    def active_key_id(self) -> str:
        return self._source.current().active_id

    @property
    def keys(self) -> Mapping[str, bytes]:
        return self._source.current().keys

    def pseudonym(self, bsn: str) -> str:
        """The pseudonym under the active key. Raises ValueError for an invalid BSN."""
        keys = self._source.current()
        return _under(keys.active_id, keys.active, normalise_bsn(bsn))

    def all_pseudonyms(self, bsn: str) -> list[str]:
        """The pseudonym under every known key, the active one first (for rotation)."""
        digits = normalise_bsn(bsn)
        keys = self._source.current()
        others = sorted(k for k in keys.keys if k != keys.active_id)
        return [_under(k, keys.keys[k], digits) for k in [keys.active_id, *others]]


def key_id_of(pseudonym: str) -> str:
    """The id of the key a pseudonym was made under (``psn-<id>-…``)."""
    return pseudonym.split("-")[1] if is_pseudonym(pseudonym) else ""


def _under(key_id: str, key: bytes, digits: str) -> str:
    digest = hmac.new(key, digits.encode("ascii"), hashlib.sha256)
    return f"psn-{key_id}-{digest.hexdigest()[:_DIGEST_HEX]}"


def pseudonym_keys(settings: HubSettings, *, create_key: bool) -> StaticKeys | KeyDirectory:
    """The pseudonym keys; only embedded mode may create a key file on first start."""
    conf = settings.pseudonym
    return key_source(
        "pseudonym",
        section="pseudonym",
        key_id=conf.key_id,
        key=conf.key,
        key_file=conf.key_file,
        key_dir=conf.key_dir or settings.data_dir,
        previous=conf.previous,
        create=create_key,
    )


def pseudonymiser_from_settings(settings: HubSettings, *, create_key: bool) -> Pseudonymiser:
    return Pseudonymiser(source=pseudonym_keys(settings, create_key=create_key))
