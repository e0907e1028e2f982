"""Key material from settings: hex text, from the environment or a file, or a key
directory that ``hub keys rotate`` rotates while the hub runs.

A key directory holds ``<kind>-<id>.key`` files (readable by the owner only) and
``<kind>.active``, the id of the key new data uses. Every hub process re-reads it when
it changes (checked at most every ``RELOAD_S``), so a rotation needs no restart: that is
what makes it zero-downtime. Keys given as values or single files are static; rotating
them means a rolling restart (see ``docs/security.md``).
"""

from __future__ import annotations

import datetime as dt
import re
import secrets
import time
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Protocol

from pydantic import SecretStr

from hub.state.private_files import write_private

RELOAD_S = 1.0
"""How often a process looks for a rotated key; ``hub keys rotate`` waits longer."""
_KEY_ID = re.compile(r"^[a-z0-9]{1,8}$")


def decode_key(text: str) -> bytes:
    """Keys are written as hex; anything else is taken as its UTF-8 bytes."""
    stripped = text.strip()
    try:
        return bytes.fromhex(stripped)
    except ValueError:
        return stripped.encode("utf-8")


def load_or_create_key_file(path: Path) -> bytes:
    if path.exists():
        return decode_key(path.read_text(encoding="utf-8"))
    key = secrets.token_bytes(32)
    write_private(path, key.hex(), exclusive=True)
    return key


@dataclass(frozen=True)
class KeySet:
    """The key new data uses, and every key that may still be needed to read."""

    active_id: str
    keys: Mapping[str, bytes] = field(repr=False)

    def __post_init__(self) -> None:
        if self.active_id not in self.keys:
            raise ValueError(f"key {self.active_id!r} is not configured")

    @property
    def active(self) -> bytes:
        return self.keys[self.active_id]


class KeySource(Protocol):
    def current(self) -> KeySet: ...


@dataclass(frozen=True)
class StaticKeys:
    """Keys fixed for the life of the process (from values or a single file)."""

    keys: KeySet

    def current(self) -> KeySet:
        return self.keys


class KeyDirectory:
    """The keys of one kind in a directory, re-read when a rotation changes them."""

    def __init__(
        self,
        directory: Path,
        kind: str,
        *,
        default_id: str,
        previous: Mapping[str, bytes] | None = None,
        create: bool,
        reload_s: float = RELOAD_S,
        section: str | None = None,
    ):
        self.directory = directory
        self.kind = kind
        self._default_id = default_id
        self._previous = dict(previous or {})
        self._reload_s = reload_s
        active_file = self._key_file(self._active_id())
        if not active_file.exists() and not create:
            section = section or kind
            raise ValueError(
                f"no {kind} key: set {section}.key or {section}.key_file, or put "
                f"{active_file.name} in {directory}"
            )
        if not active_file.exists():
            load_or_create_key_file(active_file)
            self._note_made(self._active_id())
        self._seen: tuple[object, ...] = ()
        self._set = self._load()
        self._next_check = time.monotonic() + reload_s

    def _key_file(self, key_id: str) -> Path:
        return self.directory / f"{self.kind}-{key_id}.key"

    def _active_id(self) -> str:
        pointer = self.directory / f"{self.kind}.active"
        return pointer.read_text(encoding="utf-8").strip() if pointer.exists() else self._default_id

    def active_since(self) -> dt.datetime | None:
        """When the active key was made, as the hub noted it in ``<kind>-<id>.made``
        beside the key: what a rotation policy counts from (``ketenhub_key_age_seconds``).
        A note, not the file's time, which a copy, a restore or a Kubernetes Secret
        volume resets. None for a key the hub did not make (or made before it noted)."""
        try:
            text = self._made_file(self._active_id()).read_text(encoding="utf-8").strip()
            made = dt.datetime.fromisoformat(text)
        except (OSError, ValueError):
            return None
        return made if made.tzinfo is not None else None

    def _made_file(self, key_id: str) -> Path:
        return self.directory / f"{self.kind}-{key_id}.made"

    def _note_made(self, key_id: str) -> None:
        made = dt.datetime.now(dt.UTC).isoformat(timespec="seconds")
        write_private(self._made_file(key_id), made, exclusive=False)

    def key_ids(self) -> list[str]:
        prefix, suffix = f"{self.kind}-", ".key"
        found = [
            p.name[len(prefix) : -len(suffix)]
            for p in self.directory.glob(f"{prefix}*{suffix}")
            if _KEY_ID.fullmatch(p.name[len(prefix) : -len(suffix)])
        ]
        return sorted(found)

    def _stamp(self) -> tuple[object, ...]:
        pointer = self.directory / f"{self.kind}.active"
        mtime = pointer.stat().st_mtime_ns if pointer.exists() else None
        return (mtime, tuple(self.key_ids()))

    def _load(self) -> KeySet:
        self._seen = self._stamp()
        keys = dict(self._previous)
        for key_id in self.key_ids():
            keys[key_id] = decode_key(self._key_file(key_id).read_text(encoding="utf-8"))
        return KeySet(self._active_id(), keys)

    def current(self) -> KeySet:
        now = time.monotonic()
        if now >= self._next_check:
            self._next_check = now + self._reload_s
            if self._stamp() != self._seen:
                self._set = self._load()
        return self._set

    def rotate(self) -> KeySet:
        """Make a new key and make it the active one; the old ones stay readable."""
        taken = set(self.key_ids()) | set(self._previous)
        prefix = re.sub(r"[0-9]+$", "", self._active_id()) or self.kind[0]
        numbers = (int(m.group(1)) for k in taken if (m := re.search(r"([0-9]+)$", k)))
        new_id = f"{prefix[:6]}{1 + max(numbers, default=0)}"
        write_private(self._key_file(new_id), secrets.token_bytes(32).hex(), exclusive=True)
        self._note_made(new_id)
        write_private(self.directory / f"{self.kind}.active", new_id, exclusive=False)
        self._set = self._load()
        return self._set

    def retire(self, key_id: str) -> None:
        """Delete a key that is no longer active; what it alone protects is lost."""
        if key_id == self._active_id():
            raise ValueError(f"{self.kind} key {key_id!r} is the active one")
        path = self._key_file(key_id)
        if not path.exists():
            raise ValueError(f"no {self.kind} key {key_id!r} in {self.directory}")
        path.unlink()
        self._made_file(key_id).unlink(missing_ok=True)
        self._set = self._load()


def key_source(
    kind: str,
    *,
    section: str,
    key_id: str,
    key: SecretStr | None,
    key_file: Path | None,
    key_dir: Path,
    previous: Mapping[str, SecretStr],
    create: bool,
) -> StaticKeys | KeyDirectory:
    """The configured keys of one kind: a value, a single file, or a key directory (which
    may be created on first start when ``create``). ValueError when there is no key."""
    retired = {k: decode_key(v.get_secret_value()) for k, v in previous.items()}
    if key is None and key_file is None:
        return KeyDirectory(
            key_dir, kind, default_id=key_id, previous=retired, create=create, section=section
        )
    if key is not None:
        active = decode_key(key.get_secret_value())
    elif key_file is not None and key_file.exists():
        active = decode_key(key_file.read_text(encoding="utf-8"))
    else:
        raise ValueError(f"{section}.key_file {key_file} does not exist")
    return StaticKeys(KeySet(key_id, {**retired, key_id: active}))
