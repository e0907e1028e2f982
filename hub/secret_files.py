"""Secrets from files: every ``SecretStr`` setting ``x`` may be given as ``x_file``, the
path of a file that holds it (a Docker or Kubernetes secret), so no secret needs to
sit in the environment, where ``ps e`` and crash reports can show it."""

from __future__ import annotations

import typing
from pathlib import Path
from typing import Any

from pydantic import BaseModel, SecretStr, model_validator


def _is_secret(annotation: Any) -> bool:
    return annotation is SecretStr or SecretStr in typing.get_args(annotation)


class SecretFiles(BaseModel):
    """Mix in to read ``<secret>_file`` into ``<secret>`` (its last newline dropped)."""

    @model_validator(mode="before")
    @classmethod
    def _read_secret_files(cls, data: Any) -> Any:
        if not isinstance(data, dict):
            return data
        for name, info in cls.model_fields.items():
            source = f"{name}_file"
            if not _is_secret(info.annotation) or source in cls.model_fields or source not in data:
                continue
            data = dict(data)
            path = Path(str(data.pop(source)))
            if data.get(name) is not None:
                raise ValueError(f"{name} and {source} are both set; give one")
            try:
                data[name] = path.read_text(encoding="utf-8").rstrip("\r\n")
            except OSError as error:
                raise ValueError(f"{source}: cannot read {path}: {error.strerror}") from None
        return data
