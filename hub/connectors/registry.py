"""Discovery and configuration: connectors are found through the ``hub.connectors``
entry-point group and switched on by configuration, so a partner's package plugs in
without an edit to the hub.

A package declares its connector in its own ``pyproject.toml``::

    [project.entry-points."hub.connectors"]
    iris = "reclassering_iris.connector:IrisConnector"
"""

from __future__ import annotations

from collections.abc import Mapping
from importlib.metadata import entry_points
from typing import Any

from hub.connectors.base import Connector
from hub.core.errors import ConfigurationError
from hub.schemas.partners import served_partner

ENTRY_POINT_GROUP = "hub.connectors"


def installed() -> dict[str, type[Connector[Any]]]:
    """Every installed connector class by entry-point name; a broken one fails loudly."""
    found: dict[str, type[Connector[Any]]] = {}
    origin: dict[str, str] = {}
    for entry in entry_points(group=ENTRY_POINT_GROUP):
        if entry.name in origin and origin[entry.name] != entry.value:
            raise ConfigurationError(
                f"two installed connectors are called {entry.name!r} ({origin[entry.name]} "
                f"and {entry.value}); uninstall one or rename it"
            )
        origin[entry.name] = entry.value
        try:
            loaded = entry.load()
        except Exception as exc:  # an import error in a plug-in must say which plug-in
            raise ConfigurationError(
                f"connector {entry.name!r} ({entry.value}) cannot be imported: {exc}"
            ) from exc
        if not (isinstance(loaded, type) and issubclass(loaded, Connector)):
            raise ConfigurationError(f"entry point {entry.name!r} is not a Connector class")
        if loaded.name != entry.name:
            raise ConfigurationError(
                f"entry point {entry.name!r} loads connector named {loaded.name!r}; they must match"
            )
        found[entry.name] = loaded
    return found


def require_installed(
    settings: Mapping[str, object], classes: Mapping[str, type[Connector[Any]]]
) -> None:
    """Refuse settings for a connector that is not installed (a misspelt name would
    otherwise leave the one meant unconfigured without a word)."""
    for name in settings:
        if name not in classes:
            known = ", ".join(sorted(classes)) or "none"
            raise ConfigurationError(
                f"no installed connector is called {name!r} (installed: {known})",
                field=f"connectors.{name}",
            )


def configured(
    settings: Mapping[str, Mapping[str, Any]],
    available: Mapping[str, type[Connector[Any]]] | None = None,
) -> list[Connector[Any]]:
    """The connectors the configuration switches on; ConfigurationError names the field."""
    classes = installed() if available is None else available
    require_installed(settings, classes)
    out = []
    for name, raw in settings.items():
        cls = classes[name]
        try:
            served_partner(cls.partner)
        except ValueError as error:
            raise ConfigurationError(
                f"connector {name!r} serves {cls.partner!r}: {error} (HUB_PARTNERS__KINDS "
                "configures more kinds)",
                field=f"connectors.{name}",
            ) from None
        out.append(cls.from_config(raw))
    return out
