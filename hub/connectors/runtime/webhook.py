"""Webhook ingress: ``POST /connectors/{name}/messages`` for every inbound connector
configured with a ``webhook_secret``.

The body is read up to the connector's limit, the signature checked, then the runtime
ingests it. Every refusal raises a HubError, which the HTTP app answers as
``application/problem+json``; a refused message publishes nothing.
"""

from __future__ import annotations

from collections.abc import Mapping

from fastapi import APIRouter, Request

from hub import tracing
from hub.connectors.base import InboundMessage
from hub.connectors.runtime import signing
from hub.connectors.runtime.inbound import InboundRuntime
from hub.connectors.runtime.limits import PartnerLimits
from hub.core.errors import NotFound, PayloadTooLarge, RetryableError, is_outage


async def _read_limited(request: Request, limit: int) -> bytes:
    declared = request.headers.get("content-length")
    if declared and declared.isdigit() and int(declared) > limit:
        raise PayloadTooLarge(f"{declared} bytes; this connector accepts {limit}", field="body")
    body = bytearray()
    async for chunk in request.stream():
        body.extend(chunk)
        if len(body) > limit:
            raise PayloadTooLarge(f"more than {limit} bytes", field="body")
    return bytes(body)


def webhook_router(runtimes: Mapping[str, InboundRuntime]) -> APIRouter:
    router = APIRouter()
    limits = {
        name: PartnerLimits(
            name,
            rate_per_s=float(getattr(runtime.connector.config, "rate_per_s", 50.0)),
            burst=int(getattr(runtime.connector.config, "burst", 100)),
            max_in_flight=int(getattr(runtime.connector.config, "max_in_flight", 32)),
        )
        for name, runtime in runtimes.items()
    }

    @router.post("/connectors/{name}/messages", status_code=202)
    async def receive(name: str, request: Request) -> dict[str, object]:
        runtime = runtimes.get(name)
        secret = getattr(runtime.connector.config, "webhook_secret", None) if runtime else None
        if runtime is None or secret is None:
            raise NotFound(f"no connector {name!r} takes webhooks")
        with limits[name].admit():
            return await _receive(runtime, name, secret.get_secret_value().encode(), request)

    return router


async def _receive(
    runtime: InboundRuntime, name: str, secret: bytes, request: Request
) -> dict[str, object]:
    """Read, authenticate and ingest one webhook request."""
    body = await _read_limited(request, runtime.max_body_bytes)
    signing.verify(
        secret,
        body,
        request.headers.get(signing.TIMESTAMP_HEADER),
        request.headers.get(signing.SIGNATURE_HEADER),
        window_s=int(runtime.connector.config.replay_window_s),
        nonce=request.headers.get(signing.NONCE_HEADER),
    )
    message = InboundMessage(
        body=body,
        content_type=request.headers.get("content-type", "application/octet-stream"),
        received_via="webhook",
        nonce=str(request.headers.get(signing.SIGNATURE_HEADER)).strip(),
    )
    with tracing.span(f"webhook {name}", parent=dict(request.headers), connector=name):
        try:
            published = await runtime.ingest(message)
        except Exception as exc:
            if not is_outage(exc):
                raise
            raise RetryableError(
                f"the hub cannot take it right now ({type(exc).__name__}); send it again"
            ) from None
    return {"accepted": len(published), "event_ids": [e.id for e in published]}
