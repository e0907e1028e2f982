"""The configuration reference, generated from the settings model so it cannot drift."""

from __future__ import annotations

from collections.abc import Iterator
from types import UnionType
from typing import Any, Literal, Union, get_args, get_origin

from pydantic import BaseModel, SecretStr
from pydantic.fields import FieldInfo
from pydantic_core import PydanticUndefined

from hub.settings import HubSettings

BEGIN = "<!-- settings-reference:begin -->"
END = "<!-- settings-reference:end -->"


def _type_name(annotation: Any) -> str:
    """A readable type: unions read "or" (a bar would split the Markdown cell)."""
    origin = get_origin(annotation)
    if origin in (Union, UnionType):
        return " or ".join(_type_name(a) for a in get_args(annotation))
    if origin is Literal:
        return "one of " + ", ".join(f"`{a}`" for a in get_args(annotation))
    if annotation is type(None):
        return "empty"
    return getattr(annotation, "__name__", None) or str(annotation)


def _default(info: FieldInfo) -> str:
    if info.default_factory is not None:
        value = info.default_factory()  # type: ignore[call-arg]
    elif info.default is PydanticUndefined:
        return "(required)"
    else:
        value = info.default
    if isinstance(value, SecretStr) or value is None or value == {}:
        return "(empty)"
    return f"`{getattr(value, 'value', value)}`"


def _rows(model: type[BaseModel], prefix: str) -> Iterator[tuple[str, str, str, str]]:
    for name, info in model.model_fields.items():
        annotation = info.annotation
        if isinstance(annotation, type) and issubclass(annotation, BaseModel):
            yield from _rows(annotation, f"{prefix}{name.upper()}__")
            continue
        yield (
            f"`{prefix}{name.upper()}`",
            _type_name(annotation),
            _default(info),
            (info.description or "").replace("|", "\\|"),
        )


def settings_markdown() -> str:
    lines = ["| variable | type | default | meaning |", "|---|---|---|---|"]
    lines += [f"| {v} | {t} | {d} | {m} |" for v, t, d, m in _rows(HubSettings, "HUB_")]
    return "\n".join(lines)


def splice(document: str) -> str:
    """``document`` with the text between the reference markers replaced by a fresh table."""
    head, _, rest = document.partition(BEGIN)
    _, _, tail = rest.partition(END)
    return f"{head}{BEGIN}\n{settings_markdown()}\n{END}{tail}"
