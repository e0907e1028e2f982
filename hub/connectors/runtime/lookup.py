"""Runs a look-up connector behind the router's ``CaseLookup`` interface: the router asks
by pseudonym, the runtime re-identifies (one read for a batch's subjects) and retries
each within a time budget."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Collection
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from hub.backoff import Backoff
from hub.connectors.base import LookupConnector
from hub.connectors.runtime import metrics
from hub.core.errors import RetryableError
from hub.identity.vault import IdentityVault
from hub.logs import get_logger
from hub.routing.lookup import LookUp, each, not_found
from hub.schemas.case import KedoLookupResult

log = get_logger(__name__)


class LookupRuntime:
    def __init__(
        self,
        connector: LookupConnector[Any],
        *,
        sessions: async_sessionmaker[AsyncSession],
        vault: IdentityVault,
        backoff: Backoff | None = None,
    ):
        self.connector = connector
        self._sessions = sessions
        self._vault = vault
        self._timeout = float(getattr(connector.config, "timeout_s", 2.0))
        self._budget = float(getattr(connector.config, "budget_s", 10.0))
        self._backoff = backoff or Backoff(max_attempts=1000, initial_s=0.2, max_s=2.0)

    async def lookup_all(self, subjects: Collection[str]) -> dict[str, LookUp]:
        """A RetryableError where the budget ran out; the caller keeps that event."""
        if not subjects:
            return {}
        async with self._sessions() as session:
            bsns = await self._vault.reveal_all(session, subjects)

        async def ask(subject: str) -> KedoLookupResult:
            bsn = bsns.get(subject)
            if bsn is None:
                log.warning(
                    "lookup_without_identity", connector=self.connector.name, subject=subject
                )
                return not_found()
            return await self._ask(bsn)

        return await each(subjects, ask)

    async def _ask(self, bsn: str) -> KedoLookupResult:
        deadline = time.monotonic() + self._budget
        attempt = 0
        while True:
            attempt += 1
            try:
                async with asyncio.timeout(min(self._timeout, max(deadline - time.monotonic(), 0))):
                    result = await self.connector.lookup(bsn)
            except (RetryableError, TimeoutError) as error:
                pause = self._backoff.pause(attempt)
                if time.monotonic() + pause >= deadline:
                    metrics.MESSAGES.labels(self.connector.name, "lookup", "exhausted").inc()
                    raise RetryableError(
                        f"{self.connector.name} did not answer within {self._budget} s "
                        f"({attempt} attempts; last: {type(error).__name__})"
                    ) from None
                metrics.RETRIES.labels(self.connector.name).inc()
                await asyncio.sleep(pause)
                continue
            metrics.MESSAGES.labels(self.connector.name, "lookup", "answered").inc()
            return result
