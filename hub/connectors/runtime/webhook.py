"""Webhook ingress: ``POST /connectors/{name}/messages`` for every inbound connector
configured with a ``webhook_secret``.

A request passes, in this order: the per-source limits (rate and requests in flight per
client address, and all unauthenticated requests in flight); the signature headers'
shape and timestamp (no body needed); the body, read up to the connector's limit; the
signature over it; a webhook-id accepted before (409). Only then does it take the
partner's rate token and in-flight place, and the runtime ingests it. So someone who
cannot sign, or replays what was signed, spends only their own address's allowance,
never a partner's. Every refusal raises a HubError, which the HTTP app
answers as ``application/problem+json``; a refused message publishes nothing.
"""

from __future__ import annotations

import asyncio
from collections.abc import Mapping
from functools import partial

from fastapi import APIRouter, Request

from hub import tracing
from hub.connectors.base import InboundMessage
from hub.connectors.runtime import signing
from hub.connectors.runtime.inbound import InboundRuntime
from hub.connectors.runtime.limits import PartnerLimits, SourceLimits
from hub.core.addresses import source_key
from hub.core.errors import (
    NotFound,
    PayloadTooLarge,
    RetryableError,
    TooManyRequests,
    is_outage,
)
from hub.settings import HttpSettings


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


WEBHOOK_PREFIX = "/connectors/"
"""Where the webhooks are: each limits its body by its connector's ``max_body_bytes``."""


def _cut(waiting: asyncio.Timeout) -> None:
    """End an unauthenticated request's wait for its body at once (SourceLimits)."""
    waiting.reschedule(asyncio.get_running_loop().time())


def webhook_router(
    runtimes: Mapping[str, InboundRuntime], http: HttpSettings | None = None
) -> APIRouter:
    """The webhook route for ``runtimes``, with the pre-authentication limits of
    ``http`` (the defaults when None)."""
    edge = http or HttpSettings()
    router = APIRouter()
    sources = SourceLimits(
        rate_per_s=edge.webhook_source_rate_per_s,
        burst=edge.webhook_source_burst,
        max_in_flight=edge.webhook_source_max_in_flight,
        max_unauthenticated=edge.webhook_max_unauthenticated,
    )
    limits = {
        name: PartnerLimits(
            name,
            rate_per_s=float(getattr(runtime.connector.config, "rate_per_s", 50.0)),
            burst=int(getattr(runtime.connector.config, "burst", 100)),
            max_in_flight=int(getattr(runtime.connector.config, "max_in_flight", 32)),
        )
        for name, runtime in runtimes.items()
    }

    @router.post(WEBHOOK_PREFIX + "{name}/messages", status_code=202)
    async def receive(name: str, request: Request) -> dict[str, object]:
        runtime = runtimes.get(name)
        secret = getattr(runtime.connector.config, "webhook_secret", None) if runtime else None
        if runtime is None or secret is None:
            raise NotFound(f"no connector {name!r} takes webhooks")
        source = source_key(request.client.host if request.client else None)
        try:
            async with asyncio.timeout(None) as waiting:
                with sources.admit(source, cut=partial(_cut, waiting)):
                    claim = signing.precheck(
                        request.headers, window_s=int(runtime.connector.config.replay_window_s)
                    )
                    body = await _read_limited(request, runtime.max_body_bytes)
                    signing.verify(signing.key(secret.get_secret_value()), body, claim)
        except TimeoutError:
            raise TooManyRequests(
                "the body came too slowly while others waited; send it again",
                retry_after_s=1.0,
            ) from None
        runtime.refuse_replayed(claim.message_id)
        with limits[name].admit():
            return await _ingest(runtime, name, body, claim, request)

    return router


async def _ingest(
    runtime: InboundRuntime,
    name: str,
    body: bytes,
    claim: signing.Claim,
    request: Request,
) -> dict[str, object]:
    """Ingest one authenticated webhook request; its ``webhook-id`` is claimed in the
    transaction that accepts it, so a request accepted once is refused when sent again
    and one that failed may be sent again as it was."""
    message = InboundMessage(
        body=body,
        content_type=request.headers.get("content-type", "application/octet-stream"),
        received_via="webhook",
        nonce=claim.message_id,
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
