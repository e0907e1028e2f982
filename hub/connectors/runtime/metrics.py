"""Prometheus metrics of every connector, labelled by connector name, kept by the runtime."""

from __future__ import annotations

from prometheus_client import Counter, Histogram

MESSAGES = Counter(
    "ketenhub_connector_messages",
    "Messages a connector handled, by outcome.",
    ["connector", "direction", "outcome"],
)
RETRIES = Counter(
    "ketenhub_connector_retries",
    "Retried attempts (after a RetryableError).",
    ["connector"],
)
DEAD_LETTERS = Counter(
    "ketenhub_connector_dead_letters",
    "Messages a connector gave up on, by error kind.",
    ["connector", "error"],
)
SECONDS = Histogram(
    "ketenhub_connector_seconds",
    "Time a connector took for one message, retries included.",
    ["connector", "direction"],
)
