"""Whether the contracts changed only by addition: the JSON Schemas of this hub against
the snapshots committed under ``docs/schemas/``.

Within a major version a contract may only grow: a new event, or a new field that is
not required. Everything a reader on the old version relies on must stay as it was:
every field, whether it is required, its type, its bounds, its enum values and its data
category (the sharing rules decide by it; the per-field ``x-data-category`` is compared,
the summary ``x-field-categories`` beside it is not). An event's own fields may grow,
since its readers keep what they do not know (``CanonicalEvent``); a value object
inside it may not, since it is read strictly (``additionalProperties: false``). So a
field removed or changed, a field required or optional now, a field added where old
readers refuse unknown ones, an object that took unknown fields refusing them now, an
event removed: each is a breaking change, and needs a
new major version (a new ``v`` in the event type and the ``dataschema``). Words
(titles, descriptions, examples) and defaults may change.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

WORDS = frozenset({"title", "description", "examples", "default"})
"""What a reader does not rely on: changing it breaks no one."""


def breaking_changes(
    old: Mapping[str, Mapping[str, Any]], new: Mapping[str, Mapping[str, Any]]
) -> list[str]:
    """Every breaking change from the ``old`` schemas to the ``new`` ones (file name →
    JSON Schema), one line each; empty when every change is an addition."""
    found: list[str] = []
    for name in sorted(old):
        if name not in new:
            found.append(f"{name}: removed")
            continue
        found += _compare(name, old[name], new[name], _Walk(old[name], new[name]))
    return found


@dataclass(frozen=True)
class _Walk:
    """The two documents being compared (their ``$defs``), and the definitions met on
    the way down (a recursive one is compared once)."""

    old_root: Mapping[str, Any]
    new_root: Mapping[str, Any]
    seen: frozenset[tuple[str, str]] = frozenset()


def _resolve(node: Mapping[str, Any], root: Mapping[str, Any]) -> Mapping[str, Any]:
    """``node`` with a local ``$ref`` followed (its own words kept beside)."""
    ref = node.get("$ref")
    if not isinstance(ref, str) or not ref.startswith("#/$defs/"):
        return node
    target = root.get("$defs", {}).get(ref.removeprefix("#/$defs/"), {})
    return {**target, **{k: v for k, v in node.items() if k != "$ref"}}


def _compare(where: str, old: Mapping[str, Any], new: Mapping[str, Any], walk: _Walk) -> list[str]:
    if "$ref" in old:
        key = (str(old.get("$ref")), str(new.get("$ref")))
        if key in walk.seen:
            return []
        walk = replace(walk, seen=walk.seen | {key})
    old, new = _resolve(old, walk.old_root), _resolve(new, walk.new_root)
    if "properties" in old:
        return _compare_object(where, old, new, walk)
    if "items" in old and "items" in new:
        rest = _compare_words_aside(where, old, new, {"items"})
        return rest + _compare(f"{where}[]", old["items"], new["items"], walk)
    if "anyOf" in old and "anyOf" in new and len(old["anyOf"]) == len(new["anyOf"]):
        rest = _compare_words_aside(where, old, new, {"anyOf"})
        for n, (was, now) in enumerate(zip(old["anyOf"], new["anyOf"], strict=True)):
            rest += _compare(f"{where}|{n}", was, now, walk)
        return rest
    return _compare_words_aside(where, old, new, set())


def _compare_object(
    where: str, old: Mapping[str, Any], new: Mapping[str, Any], walk: _Walk
) -> list[str]:
    found = _compare_words_aside(
        where, old, new, {"properties", "required", "additionalProperties"}
    )
    now_props = new.get("properties", {})
    if old.get("additionalProperties") is not False and new.get("additionalProperties") is False:
        # A writer on the old version may have kept a field a newer one added; a reader
        # that refuses what it does not know now refuses that record.
        found.append(f"{where}: now refuses fields it does not know")
    if old.get("additionalProperties") is False:
        # An old reader of this object refuses a field it does not know.
        for field in sorted(set(now_props) - set(old["properties"])):
            found.append(f"{where}.{field}: a new field, which old readers refuse")
    for field, was in sorted(old["properties"].items()):
        if field not in now_props:
            found.append(f"{where}.{field}: removed")
            continue
        found += _compare(f"{where}.{field}", was, now_props[field], walk)
    was_required, now_required = set(old.get("required", ())), set(new.get("required", ()))
    for field in sorted(was_required ^ now_required):
        if field in old["properties"]:
            # A writer on the new version may leave out what an old reader requires, or
            # an old writer leave out what a new reader requires: both readers refuse.
            state = "required" if field in now_required else "optional"
            found.append(f"{where}.{field}: {state} now")
        elif field in now_required:
            found.append(f"{where}.{field}: a new field, and required")
    return found


def _compare_words_aside(
    where: str, old: Mapping[str, Any], new: Mapping[str, Any], compared: set[str]
) -> list[str]:
    """The rest of the two nodes, words and what the caller compares itself aside."""
    aside = WORDS | compared | {"$defs", "$id", "x-field-categories"}
    was = {k: v for k, v in old.items() if k not in aside}
    now = {k: v for k, v in new.items() if k not in aside}
    if _canonical(was) == _canonical(now):
        return []
    return [f"{where}: changed from {_canonical(was)} to {_canonical(now)}"]


def _canonical(value: Any) -> str:
    return json.dumps(value, sort_keys=True, separators=(",", ":"))


def read_snapshots(directory: Path) -> dict[str, dict[str, Any]]:
    """The committed schemas: file name → JSON Schema."""
    return {
        path.name: json.loads(path.read_text(encoding="utf-8"))
        for path in sorted(directory.glob("*.schema.json"))
    }
