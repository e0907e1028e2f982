"""Structured logging that never carries a BSN.

Every log event, from our code or from a library through the standard ``logging``
module, passes the same processor chain: context variables (message and correlation
ids, and the trace id of the span the line is written in) are merged in, and anything
that looks like a BSN is replaced before rendering.
"""

from __future__ import annotations

import logging
import sys
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from typing import Any

import structlog
from structlog.typing import EventDict, Processor, WrappedLogger

from hub.core.bsn import scrub_bsns
from hub.settings import LogSettings
from hub.tracing import add_trace_id


def _scrub(value: Any) -> Any:
    if isinstance(value, str):
        return scrub_bsns(value)
    if isinstance(value, Mapping):
        return {k: _scrub(v) for k, v in value.items()}
    if isinstance(value, list | tuple | set | frozenset):
        return [_scrub(v) for v in value]
    if isinstance(value, int) and not isinstance(value, bool):
        return _scrub(str(value)) if len(str(value)) == 9 else value
    if isinstance(value, BaseException):
        return scrub_bsns(repr(value))
    return value


def scrub_bsn_processor(_logger: WrappedLogger, _method: str, event_dict: EventDict) -> EventDict:
    """Replace anything that passes the BSN 11-check in every value of the event."""
    return {key: _scrub(value) for key, value in event_dict.items()}


def _render_exception_then_scrub(
    logger: WrappedLogger, method: str, event_dict: EventDict
) -> EventDict:
    """Tracebacks can quote payloads, so they are rendered first and scrubbed after."""
    rendered = structlog.processors.format_exc_info(logger, method, event_dict)
    return scrub_bsn_processor(logger, method, rendered)


def shared_processors() -> list[Processor]:
    return [
        structlog.contextvars.merge_contextvars,
        structlog.stdlib.add_logger_name,
        structlog.stdlib.add_log_level,
        structlog.processors.TimeStamper(fmt="iso", utc=True),
        add_trace_id,
        _render_exception_then_scrub,
    ]


def make_formatter(json: bool) -> structlog.stdlib.ProcessorFormatter:
    renderer: Processor = (
        structlog.processors.JSONRenderer()
        if json
        else structlog.dev.ConsoleRenderer(colors=sys.stderr.isatty())
    )
    return structlog.stdlib.ProcessorFormatter(
        foreign_pre_chain=[
            *shared_processors(),
            structlog.stdlib.ExtraAdder(),
            _render_exception_then_scrub,
        ],
        processors=[
            structlog.stdlib.ProcessorFormatter.remove_processors_meta,
            scrub_bsn_processor,
            renderer,
        ],
    )


def configure_logging(settings: LogSettings) -> None:
    """Route structlog and the standard library through one scrubbing chain."""
    json = settings.format == "json" or (settings.format == "auto" and not sys.stderr.isatty())
    structlog.configure(
        processors=[
            *shared_processors(),
            structlog.stdlib.ProcessorFormatter.wrap_for_formatter,
        ],
        logger_factory=structlog.stdlib.LoggerFactory(),
        wrapper_class=structlog.stdlib.BoundLogger,
        cache_logger_on_first_use=False,
    )
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(make_formatter(json))
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(settings.level)
    # httpx logs every request at INFO: the CLI's polls of the hub filled stderr.
    for noisy in ("aiokafka", "kafka", "uvicorn.access", "httpx", "alembic"):
        logging.getLogger(noisy).setLevel(max(logging.WARNING, root.level))


def get_logger(name: str) -> structlog.stdlib.BoundLogger:
    logger: structlog.stdlib.BoundLogger = structlog.stdlib.get_logger(name)
    return logger


@contextmanager
def message_context(**ids: str | None) -> Iterator[None]:
    """Bind message and correlation ids to every log line written inside the block."""
    bound = {k: v for k, v in ids.items() if v is not None}
    with structlog.contextvars.bound_contextvars(**bound):
        yield
