"""What every check needs: a throw-away state store, a runtime around the connector,
a collecting bus, a programmable partner, and a log capture that sees lines before the
BSN scrubber does (so the check proves nothing was logged, not that it was hidden)."""

from __future__ import annotations

import asyncio
import contextlib
import datetime as dt
import inspect
import io
import logging
import os
import re
import secrets
import sys
import tempfile
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator, Mapping, Sequence
from contextlib import asynccontextmanager, contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TypeVar

import structlog
import structlog.testing
from faststream.kafka import KafkaBroker, TestKafkaBroker
from pydantic import BaseModel, SecretStr

from hub.connectors.exchange import PartnerRequest, PartnerResponse
from hub.core.record import KafkaRecord
from hub.identity.pseudonym import Pseudonymiser
from hub.identity.vault import IdentityVault
from hub.state import labels as label_state
from hub.state.database import make_engine, migrate, sessionmaker

T = TypeVar("T")
KIT_KEY_ID = "kit"


def run(coroutine: Awaitable[T]) -> T:
    """Run one check's async part; the kit needs no pytest-asyncio."""

    async def wrapped() -> T:
        return await coroutine

    return asyncio.run(wrapped())


class Stores:
    """A migrated SQLite state store in a temporary directory, for one check, holding the
    ``labels`` a partner already has: ``{(partner, reference): bsn}``."""

    def __init__(self, labels: Mapping[tuple[str, str], str] | None = None) -> None:
        self._labels = dict(labels or {})
        self._dir = tempfile.TemporaryDirectory(prefix="hub-kit-")
        self.path = Path(self._dir.name)
        self.engine = make_engine(f"sqlite+aiosqlite:///{self.path}/kit.db")
        self.sessions = sessionmaker(self.engine)
        key = secrets.token_bytes(32)
        self.pseudonymiser = Pseudonymiser(active_key_id=KIT_KEY_ID, keys={KIT_KEY_ID: key})
        self.vault = IdentityVault([key])

    async def __aenter__(self) -> Stores:
        await migrate(self.engine)
        async with self.sessions.begin() as session:
            for (partner, reference), bsn in self._labels.items():
                await label_state.adopt(
                    session,
                    subject=self.pseudonymiser.pseudonym(bsn),
                    partner=partner,
                    reference=reference,
                    now=dt.datetime.now(dt.UTC),
                )
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.engine.dispose()
        self._dir.cleanup()


@dataclass
class Bus:
    """Collects what a runtime would publish."""

    records: list[KafkaRecord] = field(default_factory=list)
    dead_letters: list[tuple[bytes, bytes | None, dict[str, str]]] = field(default_factory=list)

    async def send(self, record: KafkaRecord) -> None:
        self.records.append(record)

    async def dead_letter(self, value: bytes, key: bytes | None, headers: dict[str, str]) -> None:
        self.dead_letters.append((value, key, headers))


class MockTransport:
    """A fake partner for a connector's ``transport``: ``handler`` answers each request,
    with a ``PartnerResponse`` or a coroutine that gives one; what it raises is what the
    network would (``TimeoutError``, ``ConnectionRefusedError``).

    Example::

        def kedo(request: PartnerRequest) -> PartnerResponse:
            if request.path.endswith("/123456782"):
                return PartnerResponse(200, json=ANSWER)
            return PartnerResponse(404)

        connector.transport = MockTransport(kedo)
    """

    def __init__(
        self,
        handler: Callable[[PartnerRequest], PartnerResponse | Awaitable[PartnerResponse]],
    ) -> None:
        self.handler = handler

    async def send(self, request: PartnerRequest) -> PartnerResponse:
        answer = self.handler(request)
        return await answer if inspect.isawaitable(answer) else answer

    async def aclose(self) -> None:
        """Nothing to let go of."""


@dataclass
class HttpPartner:
    """A fake partner HTTP API for outbound connectors (its ``transport`` is a
    :class:`MockTransport`).

    It answers 200 unless told otherwise: ``fail_next("retryable")`` makes the next
    request get a 503, ``fail_next("permanent")`` a 400, ``fail_next("repeat")`` a 409
    (it has that delivery already). Every request is kept.
    """

    requests: list[PartnerRequest] = field(default_factory=list)
    reply: dict[str, Any] | None = None
    """The JSON body of a successful answer (a look-up's answer, say)."""
    _planned: list[int] = field(default_factory=list)

    def fail_next(self, kind: str, times: int = 1) -> None:
        status = {"retryable": 503, "permanent": 400, "repeat": 409}[kind]
        self._planned.extend([status] * times)

    def _answer(self, request: PartnerRequest) -> PartnerResponse:
        self.requests.append(request)
        status = self._planned.pop(0) if self._planned else 200
        body = self.reply if status == 200 and self.reply is not None else {"status": status}
        return PartnerResponse(status, json=body)

    @property
    def transport(self) -> MockTransport:
        return MockTransport(self._answer)


class _RawCapture(logging.Handler):
    """Standard-library records as written, with no formatter that could scrub them."""

    def __init__(self) -> None:
        super().__init__(logging.DEBUG)
        self.lines: list[str] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.lines.append(f"{record.name} {record.getMessage()} {record.__dict__}")


@contextmanager
def captured_logs() -> Iterator[list[str]]:
    """Every log line written inside the block, as the code wrote it: structlog events
    before any processor (the BSN scrubber included), stdlib records before formatting
    (of loggers that do not pass them to the root too), and what went to stdout and
    stderr (a ``print`` is a log line in a container)."""
    root = logging.getLogger()
    handler = _RawCapture()
    apart = [
        logger
        for logger in logging.root.manager.loggerDict.values()
        if isinstance(logger, logging.Logger) and not logger.propagate
    ]
    previous = root.level
    for logger in (root, *apart):
        logger.addHandler(handler)
    root.setLevel(logging.DEBUG)
    lines: list[str] = []
    printed = io.StringIO()
    try:
        with (
            structlog.testing.capture_logs() as events,
            contextlib.redirect_stdout(printed),
            contextlib.redirect_stderr(printed),
            _descriptors() as written,
        ):
            yield lines
    finally:
        for logger in (root, *apart):
            logger.removeHandler(handler)
        root.setLevel(previous)
        lines.extend(repr(event) for event in events)
        lines.extend(handler.lines)
        lines.append(printed.getvalue())
        lines.extend(written)


@contextmanager
def _descriptors() -> Iterator[list[str]]:
    """What reaches file descriptors 1 and 2 inside the block, whatever wrote it
    (``os.write``, ``sys.__stderr__``, a handler made on the way): read after it."""
    written: list[str] = []
    saved = [os.dup(fd) for fd in (1, 2)]
    with tempfile.TemporaryFile() as sink:
        for fd in (1, 2):
            os.dup2(sink.fileno(), fd)
        try:
            yield written
        finally:
            for stream in (sys.__stdout__, sys.__stderr__):
                if stream is not None:
                    stream.flush()
            for fd, copy in zip((1, 2), saved, strict=True):
                os.dup2(copy, fd)
                os.close(copy)
            sink.seek(0)
            written.append(sink.read().decode(errors="replace"))


def secret_values(config: BaseModel) -> list[str]:
    """The clear text of every SecretStr in a config, nested ones included."""
    found: list[str] = []

    def walk(value: Any) -> None:
        if isinstance(value, SecretStr):
            found.append(value.get_secret_value())
        elif isinstance(value, BaseModel):
            for name in type(value).model_fields:
                walk(getattr(value, name))
        elif isinstance(value, dict):
            for item in value.values():
                walk(item)
        elif isinstance(value, list | tuple):
            for item in value:
                walk(item)

    walk(config)
    return [v for v in found if v]


_BETWEEN_DIGITS = re.compile(r"(?<=\d)[\s.\-/]+(?=\d)")


def leaks(texts: Sequence[str], needles: Sequence[str]) -> list[str]:
    """The needles found in ``texts``, a number also where it is written in groups
    (``1234.56.782``, ``1234 56 782``)."""
    joined = [_BETWEEN_DIGITS.sub("", t) for t in texts]
    return sorted({n for n in needles if n and any(n in t for t in (*texts, *joined))})


async def wait_until(ready: Callable[[], Awaitable[bool]], timeout_s: float = 30.0) -> None:
    """Wait until the coroutine ``ready()`` answers True; TimeoutError after ``timeout_s``."""
    async with asyncio.timeout(timeout_s):
        while not await ready():  # noqa: ASYNC110 - the state lives elsewhere; nothing to await
            await asyncio.sleep(0.05)


@asynccontextmanager
async def connected(broker: KafkaBroker, *, real: bool) -> AsyncIterator[KafkaBroker]:
    """The broker running: in memory (TestKafkaBroker), or on the real broker."""
    if real:
        async with broker:
            await broker.start()
            yield broker
    else:
        async with TestKafkaBroker(broker) as test_broker:
            yield test_broker
