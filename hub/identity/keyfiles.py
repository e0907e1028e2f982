"""Key material from settings: hex text, from the environment or a file, and the key
files the embedded mode makes on first start (readable by the owner only)."""

from __future__ import annotations

import os
import secrets
from collections.abc import Mapping
from pathlib import Path

from pydantic import SecretStr


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
    path.parent.mkdir(parents=True, exist_ok=True)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    key = secrets.token_bytes(32)
    with os.fdopen(fd, "w", encoding="utf-8") as handle:
        handle.write(key.hex())
    return key


def key_set(
    section: str,
    *,
    key_id: str,
    key: SecretStr | None,
    key_file: Path | None,
    default_file: Path,
    previous: Mapping[str, SecretStr],
    create: bool,
) -> dict[str, bytes]:
    """The active key (from the setting, its file, or a file made on first start when
    ``create``) and the retired ones, by id. ValueError when there is no key."""
    if key is not None:
        active = decode_key(key.get_secret_value())
    else:
        path = key_file or default_file
        if not path.exists() and not create:
            raise ValueError(
                f"{section}.key or {section}.key_file must name an existing key in production"
            )
        active = load_or_create_key_file(path)
    keys = {k: decode_key(v.get_secret_value()) for k, v in previous.items()}
    keys[key_id] = active
    return keys
