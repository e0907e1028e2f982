"""The FastStream ``KafkaBroker``, built from settings and nothing else."""

from __future__ import annotations

import asyncio
import logging
import ssl
from typing import Any

from faststream.kafka import KafkaBroker
from faststream.kafka.security import parse_security
from faststream.security import BaseSecurity, SASLPlaintext, SASLScram256, SASLScram512

from hub.core.errors import ConfigurationError
from hub.settings import KafkaSettings, SaslMechanism, SecurityProtocol


def ssl_context(settings: KafkaSettings) -> ssl.SSLContext:
    context = ssl.create_default_context(
        cafile=str(settings.ssl_cafile) if settings.ssl_cafile else None
    )
    if settings.ssl_certfile:
        context.load_cert_chain(
            str(settings.ssl_certfile),
            str(settings.ssl_keyfile) if settings.ssl_keyfile else None,
        )
    return context


def security_from_settings(settings: KafkaSettings) -> BaseSecurity | None:
    """FastStream's security object for PLAINTEXT, SSL (optionally mTLS) or SASL_SSL."""
    if settings.security_protocol is SecurityProtocol.PLAINTEXT:
        return None
    try:
        context = ssl_context(settings)
    except (OSError, ssl.SSLError) as exc:
        raise ConfigurationError(
            f"cannot load Kafka TLS files: {exc}", field="kafka.ssl_cafile"
        ) from None
    if settings.security_protocol is SecurityProtocol.SSL:
        return BaseSecurity(ssl_context=context)
    user = settings.sasl_username or ""
    password = settings.sasl_password.get_secret_value() if settings.sasl_password else ""
    sasl = {
        SaslMechanism.PLAIN: SASLPlaintext,
        SaslMechanism.SCRAM_SHA_256: SASLScram256,
        SaslMechanism.SCRAM_SHA_512: SASLScram512,
    }[settings.sasl_mechanism]
    return sasl(username=user, password=password, ssl_context=context)


def client_security(settings: KafkaSettings) -> dict[str, Any]:
    """aiokafka's security keyword arguments (protocol, TLS context, SASL mechanism, user
    and password) for the hub's own aiokafka clients: converted from the object the broker
    gets, by FastStream's own converter, so they authenticate exactly as the broker does."""
    return {"security_protocol": "PLAINTEXT", **parse_security(security_from_settings(settings))}


def producer_options(settings: KafkaSettings) -> dict[str, Any]:
    """Producer options shared by the broker and the raw aiokafka clients."""
    return {"acks": settings.acks, "enable_idempotence": settings.idempotent_producer}


def make_broker(settings: KafkaSettings, **overrides: Any) -> KafkaBroker:
    """FastStream logs through the standard library, so the BSN scrubber sees its lines too.
    On stop, a consumer waits up to ``graceful_timeout_s`` for the record in hand."""
    overrides.setdefault("graceful_timeout", settings.graceful_timeout_s)
    # FastStream takes a string as one address: a cluster's list must come split.
    servers = [s.strip() for s in settings.bootstrap_servers.split(",") if s.strip()]
    return KafkaBroker(
        servers,
        client_id=settings.client_id,
        security=security_from_settings(settings),
        logger=logging.getLogger("hub.faststream"),
        **producer_options(settings),
        **overrides,
    )


async def start_together(broker: KafkaBroker) -> None:
    """Start the broker with its subscribers joining their groups at once.

    FastStream starts subscribers one after another, and each consumer-group join takes
    about a second on tansu, so a hub with many connectors took many seconds to come
    back after a crash. This does what ``KafkaBroker.start`` does, with the joins side
    by side.
    """
    await broker.connect()
    await asyncio.gather(*(subscriber.start() for subscriber in broker.subscribers))
    for publisher in broker.publishers:
        await publisher.start()
    broker.running = True
