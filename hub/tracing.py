"""OpenTelemetry tracing: one trace per flow, from the partner's webhook through the
router to the delivery at the partner.

The W3C ``traceparent`` travels in the Kafka record headers beside the CloudEvents
attributes, and in the HTTP headers to and from partners. Spans carry ids, types and
partner names, never a subject or a payload. Without an OTLP endpoint the spans go
nowhere, but every log line written inside one still carries its ``trace_id``, so one
flow can be followed through the logs and the console.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping, MutableMapping
from contextlib import contextmanager
from typing import Any

from opentelemetry import context as otel_context
from opentelemetry import propagate, trace
from opentelemetry.context import Context
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import BatchSpanProcessor
from structlog.typing import EventDict, WrappedLogger

from hub.settings import TracingSettings

TRACE_HEADERS = ("traceparent", "tracestate")
_tracer = trace.get_tracer("ketenhub")


def configure_tracing(settings: TracingSettings) -> None:
    """Install the SDK once per process, with the OTLP exporter when one is configured."""
    if isinstance(trace.get_tracer_provider(), TracerProvider):
        return
    provider = TracerProvider(resource=Resource.create({"service.name": settings.service_name}))
    if settings.otlp_endpoint is not None:
        from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter

        exporter = OTLPSpanExporter(endpoint=str(settings.otlp_endpoint))
        provider.add_span_processor(BatchSpanProcessor(exporter))
    trace.set_tracer_provider(provider)


def _text(headers: Mapping[str, Any] | list[tuple[str, Any]]) -> dict[str, str]:
    items = headers.items() if isinstance(headers, Mapping) else headers
    return {
        k.lower(): v.decode("latin-1") if isinstance(v, bytes) else str(v)
        for k, v in items
        if k.lower() in TRACE_HEADERS
    }


def context_from(headers: Mapping[str, Any] | list[tuple[str, Any]]) -> Context:
    """The trace context a message or request carries (an empty one when it has none)."""
    return propagate.extract(_text(headers))


def inject(headers: MutableMapping[str, str]) -> None:
    """Put the current trace context into outgoing record or request headers."""
    propagate.inject(headers)


@contextmanager
def span(
    name: str,
    parent: Mapping[str, Any] | list[tuple[str, Any]] | None = None,
    **attributes: str | int,
) -> Iterator[None]:
    """A span for one stage, a child of ``parent``'s context when given, else of the
    current one."""
    context = context_from(parent) if parent is not None else None
    with _tracer.start_as_current_span(name, context=context, attributes=attributes):
        yield


@contextmanager
def continuing(parent: Mapping[str, Any] | list[tuple[str, Any]]) -> Iterator[None]:
    """``parent``'s trace made current without a span of its own: for the log line of a
    message whose work was done in a batch."""
    token = otel_context.attach(context_from(parent))
    try:
        yield
    finally:
        otel_context.detach(token)


def current_trace_id() -> str | None:
    context = trace.get_current_span().get_span_context()
    return f"{context.trace_id:032x}" if context.is_valid else None


def add_trace_id(_logger: WrappedLogger, _method: str, event_dict: EventDict) -> EventDict:
    """Log processor: the current trace id on every line written inside a span."""
    trace_id = current_trace_id()
    if trace_id is not None:
        event_dict.setdefault("trace_id", trace_id)
    return event_dict
