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
import os
import re
import secrets
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path

from hub.identity.bsn import normalise_bsn
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


def _decode_key(text: str) -> bytes:
    """Keys are written as hex; anything else is taken as its UTF-8 bytes."""
    stripped = text.strip()
    try:
        return bytes.fromhex(stripped)
    except ValueError:
        return stripped.encode("utf-8")


def _load_or_create_key_file(path: Path) -> bytes:
    if path.exists():
        return _decode_key(path.read_text(encoding="utf-8"))
    path.parent.mkdir(parents=True, exist_ok=True)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    key = secrets.token_bytes(32)
    with os.fdopen(fd, "w", encoding="utf-8") as handle:
        handle.write(key.hex())
    return key


def pseudonymiser_from_settings(settings: HubSettings, *, create_key: bool) -> Pseudonymiser:
    """Build the pseudonymiser; only embedded mode may create a key file on first start."""
    conf = settings.pseudonym
    if conf.key is not None:
        active = _decode_key(conf.key.get_secret_value())
    else:
        path = conf.key_file or settings.data_dir / f"pseudonym-{conf.key_id}.key"
        if not path.exists() and not create_key:
            raise ValueError(
                "pseudonym.key or pseudonym.key_file must name an existing key in production"
            )
        active = _load_or_create_key_file(path)
    keys = {k: _decode_key(v.get_secret_value()) for k, v in conf.previous.items()}
    keys[conf.key_id] = active
    return Pseudonymiser(active_key_id=conf.key_id, keys=keys)
