"""The other two ways a partner message arrives: a file in a watched directory, and a
connector's own ``poll()``. Both hand each message to the same ``ingest``."""

from __future__ import annotations

import asyncio
import json
from dataclasses import dataclass
from pathlib import Path

from hub.connectors.base import InboundMessage
from hub.connectors.runtime.inbound import InboundRuntime
from hub.core.errors import ContractError, HubError
from hub.logs import get_logger

PROCESSED, REJECTED = "processed", "rejected"
log = get_logger(__name__)


@dataclass(frozen=True)
class DrainResult:
    processed: int
    rejected: int


def _waiting(directory: Path) -> list[Path]:
    return sorted(p for p in directory.iterdir() if p.is_file())


def _settle(path: Path, folder: str, problem: dict[str, object] | None = None) -> None:
    target = path.parent / folder
    target.mkdir(exist_ok=True)
    if problem is not None:
        (target / f"{path.name}.problem.json").write_text(
            json.dumps(problem, indent=2), encoding="utf-8"
        )
    path.replace(target / path.name)


async def drain_directory(runtime: InboundRuntime, directory: Path) -> DrainResult:
    """Ingest every file in ``directory``. A file that was read moves to ``processed/``;
    one that breaks its contract moves to ``rejected/`` beside a ``.problem.json`` that
    says why. A transient failure leaves the file where it is for the next scan."""
    processed = rejected = 0
    for path in await asyncio.to_thread(_waiting, directory):
        body = await asyncio.to_thread(path.read_bytes)
        message = InboundMessage(body=body, received_via="file", name=path.name)
        try:
            await runtime.ingest(message)
        except ContractError as error:
            await asyncio.to_thread(_settle, path, REJECTED, error.problem(instance=path.name))
            rejected += 1
            continue
        await asyncio.to_thread(_settle, path, PROCESSED)
        processed += 1
    return DrainResult(processed, rejected)


async def poll_once(runtime: InboundRuntime) -> int:
    """Ingest what the connector's ``poll()`` returns; a malformed message is logged and
    skipped (its partner keeps it), the others still go."""
    published = 0
    for message in await runtime.connector.poll():
        try:
            published += len(await runtime.ingest(message))
        except ContractError as error:
            name = runtime.connector.name
            # The reason goes to the slug and field only: a partner's text may hold personal data.
            log.warning(
                "poll_message_rejected", connector=name, error=error.slug, field=error.field
            )
    return published


async def run_sources(runtime: InboundRuntime) -> None:
    """Scan the drop directory and poll, every ``poll_interval_s``, until cancelled."""
    config = runtime.connector.config
    directory: Path | None = getattr(config, "drop_directory", None)
    interval = float(getattr(config, "poll_interval_s", 30.0))
    if directory is not None:
        await asyncio.to_thread(directory.mkdir, parents=True, exist_ok=True)
    while True:
        try:
            if directory is not None:
                await drain_directory(runtime, directory)
            await poll_once(runtime)
        except HubError as error:
            name = runtime.connector.name
            log.warning(
                "inbound_source_failed", connector=name, error=error.slug, field=error.field
            )
        await asyncio.sleep(interval)
