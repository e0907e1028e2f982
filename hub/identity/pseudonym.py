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
import re
from collections.abc import Mapping
from dataclasses import dataclass, field

from hub.identity.bsn import normalise_bsn
from hub.identity.keyfiles import key_set
from hub.settings import HubSettings

PSEUDONYM_PATTERN = re.compile(r"^psn-[a-z0-9]{1,8}-[0-9a-f]{40}$")
_DIGEST_HEX = 40
_MIN_KEY_BYTES = 32


def is_pseudonym(value: str) -> bool:
    return PSEUDONYM_PATTERN.fullmatch(value) is not None


@dataclass(frozen=True)
class Pseudonymiser:
    """Turns a BSN into the pseudonym under the active key (and, on request, old keys)."""

    active_key_id: str
    keys: Mapping[str, bytes] = field(repr=False)

    def __post_init__(self) -> None:
        if self.active_key_id not in self.keys:
            raise ValueError(f"pseudonym key {self.active_key_id!r} is not configured")
        for key_id, key in self.keys.items():
            if len(key) < _MIN_KEY_BYTES:
                raise ValueError(f"pseudonym key {key_id!r} is shorter than 32 bytes")

    def pseudonym(self, bsn: str) -> str:
        """The pseudonym under the active key. Raises ValueError for an invalid BSN."""
        return self._under(self.active_key_id, normalise_bsn(bsn))

    def all_pseudonyms(self, bsn: str) -> list[str]:
        """The pseudonym under every known key, the active one first (for rotation)."""
        digits = normalise_bsn(bsn)
        others = sorted(k for k in self.keys if k != self.active_key_id)
        return [self._under(k, digits) for k in [self.active_key_id, *others]]

    def _under(self, key_id: str, digits: str) -> str:
        digest = hmac.new(self.keys[key_id], digits.encode("ascii"), hashlib.sha256)
        return f"psn-{key_id}-{digest.hexdigest()[:_DIGEST_HEX]}"


def pseudonymiser_from_settings(settings: HubSettings, *, create_key: bool) -> Pseudonymiser:
    """Build the pseudonymiser; only embedded mode may create a key file on first start."""
    conf = settings.pseudonym
    keys = key_set(
        "pseudonym",
        key_id=conf.key_id,
        key=conf.key,
        key_file=conf.key_file,
        default_file=settings.data_dir / f"pseudonym-{conf.key_id}.key",
        previous=conf.previous,
        create=create_key,
    )
    return Pseudonymiser(active_key_id=conf.key_id, keys=keys)
