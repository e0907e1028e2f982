"""``hub topics``: the hub's topics on the configured Kafka, with the partition counts
and retention the hub documents (a separate step in production, as the migrations)."""

from __future__ import annotations

import asyncio

import typer
from aiokafka.errors import KafkaError

from hub.bus.admin import ensure_topics
from hub.cli.failure import failed
from hub.cli.tables import print_table
from hub.schemas.partners import hub_topics
from hub.settings import HubSettings

app = typer.Typer(help="The hub's Kafka topics.", no_args_is_help=True)


@app.command("create")
def create_command() -> None:
    """Create the missing topics; existing ones are left as they are."""
    settings = HubSettings().kafka
    wanted = hub_topics()
    try:
        created = asyncio.run(ensure_topics(settings, wanted))
    except KafkaError as error:  # no broker there, or it refused: one line, not a traceback
        raise failed(
            f"the broker at {settings.bootstrap_servers} could not create the topics: "
            f"{type(error).__name__}: {error}"
        ) from None
    typer.echo(
        f"{len(created)} topic(s) created, {len(wanted) - len(created)} already there "
        f"(replication factor {settings.replication_factor})"
    )


@app.command("list")
def list_command() -> None:
    """Every topic: name, partitions, retention and what it carries."""
    print_table(
        ("topic", "partitions", "retention", "carries"),
        [
            (t.name, t.partitions, f"{t.retention_ms / 86_400_000:g} d", t.description)
            for t in hub_topics()
        ],
    )
