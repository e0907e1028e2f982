"""The ``hub`` command line."""

from __future__ import annotations

import contextlib
import importlib
from typing import Any

import typer
from pydantic import ValidationError
from typer.core import TyperGroup

from hub import __version__

COMMANDS: dict[str, tuple[str, str]] = {
    "up": ("serve", "up"),
    "run": ("serve", "run"),
    "schemas": ("schemas", "app"),
    "db": ("db", "app"),
    "policy": ("policy", "app"),
    "audit": ("audit", "app"),
    "labels": ("labels", "app"),
    "dlq": ("dlq", "app"),
    "subject": ("subject", "app"),
    "erasure": ("erasure", "app"),
    "keys": ("keys", "app"),
    "console": ("console", "app"),
    "settings": ("settings_doc", "settings"),
    "asyncapi": ("asyncapi", "asyncapi"),
    "simulate": ("simulate", "simulate"),
    "bench": ("bench", "bench"),
    "connectors": ("connectors", "app"),
    "topics": ("topics", "app"),
    "deploy": ("deploy", "app"),
    "login": ("session", "login"),
    "logout": ("session", "logout"),
}
"""Each command: the module under ``hub.cli`` that holds it and its name there (a typer
app for a group of commands, a function for one command)."""


class LazyCommands(TyperGroup):
    """The hub's commands, each imported when it is run, so that one command pays only
    for its own imports (the database, the broker, the policy engine, the benchmark)
    instead of all of them."""

    # The context and command types are typer's own copy of click's, which typer does
    # not export; hence Any.
    def list_commands(self, ctx: Any) -> list[str]:
        return list(COMMANDS)

    def get_command(self, ctx: Any, cmd_name: str) -> Any:
        if cmd_name not in self.commands and cmd_name in COMMANDS:
            self.commands[cmd_name] = load(cmd_name)
        return super().get_command(ctx, cmd_name)


def load(name: str) -> Any:
    """The click command ``name``, imported from its module."""
    module, attribute = COMMANDS[name]
    found: Any = getattr(importlib.import_module(f"hub.cli.{module}"), attribute)
    command: Any
    if isinstance(found, typer.Typer):
        command = typer.main.get_group(found)
    else:
        single = typer.Typer(add_completion=False)  # completion is the root's
        single.command(name)(found)
        command = typer.main.get_command(single)
    command.name = name
    return command


app = typer.Typer(
    name="hub",
    help="Ketenhub: carries Levensloopaanpak signals between chain partners, within the "
    "sharing rules.",
    no_args_is_help=True,
    cls=LazyCommands,
)


def _print_version(asked: bool) -> None:
    if asked:
        typer.echo(f"ketenhub {__version__}")
        raise typer.Exit()


@app.callback()
def _options(
    version: bool = typer.Option(
        False,
        "--version",
        callback=_print_version,
        is_eager=True,
        help="Print the hub's version and exit.",
    ),
) -> None:
    """Ketenhub: carries Levensloopaanpak signals between chain partners, within the
    sharing rules."""


def main() -> None:
    """The console script: logs go to stderr at the configured level, so a command's
    output stays its own (a command with settings it cannot read says so itself)."""
    from pydantic_settings import SettingsError

    from hub.cli.failure import failed
    from hub.logs import configure_logging
    from hub.settings import HubSettings

    with contextlib.suppress(ValidationError, SettingsError):
        configure_logging(HubSettings().log)
    try:
        app()
    except Exception as error:
        # Settings the hub cannot read or use, found where a command reads them, or a
        # file it cannot read or write: one line naming the field or file, no traceback.
        message = _one_line(error)
        if message is None:
            raise
        raise SystemExit(failed(message).exit_code) from None


def _one_line(error: Exception) -> str | None:
    """``error`` in one line, if it is about settings or a file a command was given;
    None for anything else (a fault of the hub's, which keeps its traceback)."""
    from pydantic_settings import SettingsError

    from hub.core.errors import HubError

    if isinstance(error, ValidationError):
        return "; ".join(
            f"{'.'.join(map(str, e['loc'])) or 'settings'}: {e['msg']}" for e in error.errors()
        )
    if isinstance(error, SettingsError):
        return f"{error}: is the environment variable for it valid JSON?"
    if isinstance(error, OSError) and error.strerror:
        # A file a command was given to read or write (--out, --update, a snapshot).
        return f"{error.filename}: {error.strerror}" if error.filename else error.strerror
    return str(error) if isinstance(error, HubError) else None
