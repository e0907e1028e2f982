"""The hub's own aiokafka clients (topic creation, the consumer-lag gauge) connect with
the configured security, as the broker does: a SASL_SSL cluster takes them too."""

from __future__ import annotations

import ssl
from pathlib import Path
from typing import Any

import pytest
from aiokafka import AIOKafkaConsumer
from aiokafka.admin import AIOKafkaAdminClient

from hub.bus import admin
from hub.bus.admin import consumer_lag, ensure_topics
from hub.bus.broker import client_security
from hub.core.topics import ALL_TOPICS
from hub.settings import KafkaSettings, SaslMechanism, SecurityProtocol
from tests.certificates import self_signed_pem

CA_NAME = "ketenhub test kafka CA"


class _Built(Exception):
    """Stops a command at the first start(): the clients are built, nothing connects."""


def _ca_file(tmp_path: Path) -> Path:
    """A throwaway self-signed CA, as the brokers' certificates would be signed by."""
    return self_signed_pem(tmp_path / "ca.pem", CA_NAME, days=1, ca=True)


def _sasl_settings(tmp_path: Path, mechanism: SaslMechanism) -> KafkaSettings:
    return KafkaSettings(
        security_protocol=SecurityProtocol.SASL_SSL,
        sasl_mechanism=mechanism,
        sasl_username="ketenhub-console",
        sasl_password="s3cret",
        ssl_cafile=_ca_file(tmp_path),
    )


def _assert_sasl(client: Any, mechanism: SaslMechanism) -> None:
    assert client._security_protocol == "SASL_SSL"
    assert client._sasl_mechanism == mechanism.value
    assert client._sasl_plain_username == "ketenhub-console"
    assert client._sasl_plain_password == "s3cret"
    context: ssl.SSLContext = client._ssl_context
    trusted = [ca["subject"] for ca in context.get_ca_certs()]
    assert ((("commonName", CA_NAME),),) in trusted


@pytest.fixture
def stop_at_start(monkeypatch: pytest.MonkeyPatch) -> list[Any]:
    """Every admin client and lag consumer the code builds, each stopped at its start."""
    built: list[Any] = []

    async def stop(self: Any) -> None:
        built.append(self)
        raise _Built

    def consumer(*args: Any, **kwargs: Any) -> AIOKafkaConsumer:
        built.append(AIOKafkaConsumer(*args, **kwargs))
        return built[-1]

    monkeypatch.setattr(AIOKafkaAdminClient, "start", stop)
    monkeypatch.setattr(admin, "AIOKafkaConsumer", consumer)
    return built


@pytest.mark.parametrize("mechanism", list(SaslMechanism))
async def test_topics_create_builds_its_admin_client_with_the_sasl_user(
    tmp_path: Path, mechanism: SaslMechanism, stop_at_start: list[Any]
) -> None:
    with pytest.raises(_Built):
        await ensure_topics(_sasl_settings(tmp_path, mechanism), ALL_TOPICS)
    (client,) = stop_at_start
    assert isinstance(client, AIOKafkaAdminClient)
    _assert_sasl(client._client, mechanism)


@pytest.mark.parametrize("mechanism", list(SaslMechanism))
async def test_the_lag_gauge_builds_its_admin_client_and_consumer_with_the_sasl_user(
    tmp_path: Path, mechanism: SaslMechanism, stop_at_start: list[Any]
) -> None:
    with pytest.raises(_Built):
        await consumer_lag(_sasl_settings(tmp_path, mechanism), {"hub-router": ["t"]})
    reader, client = stop_at_start
    try:
        assert isinstance(reader, AIOKafkaConsumer)
        assert isinstance(client, AIOKafkaAdminClient)
        _assert_sasl(reader._client, mechanism)
        _assert_sasl(client._client, mechanism)
    finally:
        await reader.stop()


def test_plaintext_and_ssl_carry_no_sasl(tmp_path: Path) -> None:
    assert client_security(KafkaSettings()) == {"security_protocol": "PLAINTEXT"}
    tls = client_security(
        KafkaSettings(security_protocol=SecurityProtocol.SSL, ssl_cafile=_ca_file(tmp_path))
    )
    assert tls["security_protocol"] == "SSL"
    assert isinstance(tls["ssl_context"], ssl.SSLContext)
    assert "sasl_mechanism" not in tls
