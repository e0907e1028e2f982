"""``hub bench``: the hub's pipeline against the I/O floor and a raw Kafka relay on the
same broker, in one run, with every figure beside its target (docs/performance.md)."""

from __future__ import annotations

import asyncio
import itertools
import json
import logging
import time
from pathlib import Path
from typing import Any

import typer
from rich.console import Console
from rich.progress import Progress, SpinnerColumn, TextColumn, TimeElapsedColumn
from rich.table import Table

from hub.benchmark.run import QUICK, Sizes, benchmark, plot
from hub.cli.serve import BrokerKind, StoreKind

STEPS = 14


def bench(
    quick: bool = typer.Option(False, "--quick", help="A shorter run: within three minutes."),
    json_file: Path = typer.Option(
        Path("hub-bench.json"), "--json", help="Where the figures go; the plot goes beside it."
    ),
    scale: float = typer.Option(
        1.0, min=0.001, hidden=True, help="Multiply every run's size (the smoke test's)."
    ),
    fetch_max_wait_ms: int | None = typer.Option(
        None,
        min=1,
        help="The consumers' fetch wait, the same for the hub, the floor and the relay; "
        "20 ms on tansu (which waits it out on every fetch), 500 ms on Apache Kafka.",
    ),
    broker: BrokerKind = typer.Option(
        BrokerKind.TANSU, help="tansu (embedded), or Apache Kafka: one node on loopback."
    ),
    store: StoreKind = typer.Option(
        StoreKind.SQLITE, help="SQLite, or PostgreSQL: a throw-away embedded server."
    ),
    subjects: int | None = typer.Option(
        None, min=100, hidden=True, help="Clients in the state (100,000 unless set)."
    ),
) -> None:
    """Measure the hub pipeline against the I/O floor and the raw relay, flow A at 50 a
    second, the idle hub, the policy and the memory."""
    sizes = (QUICK if quick else Sizes()).scaled(scale, subjects)
    for name in ("", "uvicorn", "uvicorn.error", "matplotlib"):
        logging.getLogger(name).setLevel(logging.WARNING)
    console = Console(stderr=True)
    with Progress(
        SpinnerColumn(), TextColumn("{task.description}"), TimeElapsedColumn(), console=console
    ) as progress:
        task = progress.add_task("starting", total=STEPS)
        began: list[tuple[str, float]] = []

        def step(description: str) -> None:
            began.append((description, time.perf_counter()))
            progress.update(task, description=description, advance=1)

        figures, runs = asyncio.run(
            benchmark(
                sizes,
                step,
                fetch_max_wait_ms=fetch_max_wait_ms,
                broker=broker.value,
                store=store.value,
            )
        )
        began.append(("end", time.perf_counter()))
    # Where a run's time goes, so that --quick can be kept within its three minutes.
    figures["step_seconds"] = {
        description: round(end - start, 1)
        for (description, start), (_, end) in itertools.pairwise(began)
    }
    json_file.parent.mkdir(parents=True, exist_ok=True)
    json_file.write_text(json.dumps(figures, indent=2) + "\n")
    picture = json_file.with_suffix(".png")
    plot(runs, picture)
    _print(figures)
    typer.echo(f"figures: {json_file}; latency CDF: {picture}")


def _print(figures: dict[str, Any]) -> None:
    table = Table(title="hub bench")
    for column in ("figure", "value", "target", "met"):
        table.add_column(column)
    targets = figures["targets"]
    for key, value in figures.items():
        if key in ("machine", "runs", "targets", "step_seconds"):
            continue
        target = targets.get(key)
        met = "" if target is None else ("yes" if target["met"] else "NO")
        table.add_row(
            key,
            f"{value:,}" if isinstance(value, int | float) else str(value),
            "" if target is None else target["target"],
            met,
        )
    runs = Table(title="runs")
    for column in ("run", "sent", "arrived", "per s", "p50 ms", "p99 ms"):
        runs.add_column(column)
    for run in figures["runs"]:
        runs.add_row(
            run["name"],
            str(run["sent"]),
            str(run["arrived"]),
            str(run["per_s"]),
            str(run["p50_ms"]),
            str(run["p99_ms"]),
        )
    console = Console()
    console.print(table)
    console.print(runs)
