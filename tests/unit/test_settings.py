"""Settings: the HUB_ prefix, nested keys, embedded defaults, and the configuration reference."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from pydantic import ValidationError
from sqlalchemy.engine import make_url

from hub.bus.broker import make_broker, security_from_settings
from hub.connectors.base import InboundConfig
from hub.connectors.http import HttpApiConfig
from hub.core.topics import ALL_TOPICS
from hub.settings import HubSettings, KafkaSettings, RoutingSettings, SecurityProtocol
from hub.settings_reference import BEGIN, END, settings_markdown, splice

README = Path(__file__).parents[2] / "README.md"
RUNBOOK = Path(__file__).parents[2] / "deploy" / "README.md"


def test_nested_keys_come_from_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("HUB_KAFKA__BOOTSTRAP_SERVERS", "kafka-1:9093,kafka-2:9093")
    monkeypatch.setenv("HUB_KAFKA__IDEMPOTENT_PRODUCER", "true")
    monkeypatch.setenv("HUB_HTTP__PORT", "9000")
    settings = HubSettings()
    assert settings.kafka.bootstrap_servers == "kafka-1:9093,kafka-2:9093"
    assert settings.kafka.idempotent_producer is True
    assert settings.http.port == 9000


def test_embedded_defaults_need_no_configuration(tmp_path: Path) -> None:
    settings = HubSettings(data_dir=tmp_path)
    assert settings.database_url == f"sqlite+aiosqlite:///{tmp_path.resolve()}/hub.db"
    assert settings.kafka.idempotent_producer is False
    assert settings.kafka.acks == "all"


def test_postgres_url_is_used_unchanged(monkeypatch: pytest.MonkeyPatch) -> None:
    url = "postgresql+asyncpg://hub:secret@db:5432/hub"
    monkeypatch.setenv("HUB_DATABASE__URL", url)
    assert HubSettings().database_url == url


def test_sasl_ssl_without_credentials_names_the_fields() -> None:
    with pytest.raises(ValidationError, match="sasl_username"):
        KafkaSettings(security_protocol=SecurityProtocol.SASL_SSL)


def test_unknown_setting_is_an_error(monkeypatch: pytest.MonkeyPatch) -> None:
    with pytest.raises(ValidationError, match="bogus"):
        HubSettings(bogus=1)  # type: ignore[call-arg]


def test_sasl_scram_security_is_built() -> None:
    settings = KafkaSettings(
        security_protocol=SecurityProtocol.SASL_SSL,
        sasl_username="router",
        sasl_password="pw",
    )
    security = security_from_settings(settings)
    assert security is not None
    assert security.use_ssl is True
    assert type(security).__name__ == "SASLScram512"


def test_broker_factory_uses_the_producer_settings(monkeypatch: pytest.MonkeyPatch) -> None:
    seen: dict[str, Any] = {}

    def fake_broker(servers: list[str], **kwargs: Any) -> str:
        seen.update(kwargs, servers=servers)
        return "broker"

    monkeypatch.setattr("hub.bus.broker.KafkaBroker", fake_broker)
    make_broker(KafkaSettings(bootstrap_servers="k1:9092, k2:9092", idempotent_producer=True))
    # FastStream takes one string as one address: a cluster's list reaches it split.
    assert seen["servers"] == ["k1:9092", "k2:9092"]
    assert seen["enable_idempotence"] is True
    assert seen["acks"] == "all"


@pytest.mark.parametrize("document", [README, RUNBOOK], ids=["README", "runbook"])
def test_the_settings_reference_is_current(document: Path) -> None:
    text = document.read_text(encoding="utf-8")
    assert BEGIN in text
    assert END in text
    assert splice(text) == text, f"{document.name}'s settings table is stale: run `hub settings`"
    assert "`HUB_KAFKA__SECURITY_PROTOCOL`" in settings_markdown()


def test_every_secret_can_come_from_a_file(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    """Docker and Kubernetes secrets are files: ``<secret>_FILE`` names one."""
    secret = tmp_path / "secret"
    secret.write_text("from-a-file\n")
    monkeypatch.setenv("HUB_KAFKA__SASL_PASSWORD_FILE", str(secret))
    monkeypatch.setenv("HUB_CONSOLE__SESSION_SECRET_FILE", str(secret))
    settings = HubSettings()
    assert settings.kafka.sasl_password is not None
    assert settings.kafka.sasl_password.get_secret_value() == "from-a-file"
    assert settings.console.session_secret is not None
    assert settings.console.session_secret.get_secret_value() == "from-a-file"
    assert "from-a-file" not in repr(settings)
    inbound = InboundConfig.model_validate({"webhook_secret_file": str(secret)})
    assert inbound.webhook_secret is not None
    assert inbound.webhook_secret.get_secret_value() == "from-a-file"
    api = HttpApiConfig.model_validate({"base_url": "https://x.example", "api_key_file": secret})
    assert api.api_key is not None
    assert api.api_key.get_secret_value() == "from-a-file"


def test_a_secret_file_that_cannot_be_read_or_a_secret_given_twice_is_refused(
    tmp_path: Path,
) -> None:
    with pytest.raises(ValidationError, match="cannot read"):
        KafkaSettings(sasl_password_file=tmp_path / "missing")
    secret = tmp_path / "secret"
    secret.write_text("x")
    with pytest.raises(ValidationError, match="both set"):
        InboundConfig.model_validate({"webhook_secret": "y", "webhook_secret_file": str(secret)})


def test_connector_settings_and_the_database_password_can_come_from_files(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    connectors = tmp_path / "connectors.json"
    connectors.write_text('{"injus-detentie": {"webhook_secret": "s3"}, "kedo-regie": {}}')
    password = tmp_path / "pg"
    password.write_text("p@ss word\n")
    monkeypatch.setenv("HUB_CONNECTORS_FILE", str(connectors))
    monkeypatch.setenv("HUB_CONNECTORS__INJUS-DETENTIE__RATE_PER_S", "5")
    monkeypatch.setenv("HUB_DATABASE__URL", "postgresql+asyncpg://hub@db:5432/hub")
    monkeypatch.setenv("HUB_DATABASE__PASSWORD_FILE", str(password))
    settings = HubSettings()
    assert settings.connectors["injus-detentie"] == {"webhook_secret": "s3", "rate_per_s": "5"}
    assert "kedo-regie" in settings.connectors
    url = make_url(settings.database_url)
    assert (url.username, url.password, url.host, url.database) == ("hub", "p@ss word", "db", "hub")
    assert "p@ss" not in repr(settings)


def test_a_connectors_file_that_is_not_an_object_is_refused(tmp_path: Path) -> None:
    broken = tmp_path / "connectors.json"
    broken.write_text("[1, 2]")
    with pytest.raises(ValidationError, match="JSON object"):
        HubSettings(connectors_file=broken)


def test_an_event_claim_outlives_every_topic_that_could_hand_the_event_out_again() -> None:
    """A claim forgotten while Kafka still holds its record would let a redelivery (a
    consumer group reset) take the event twice."""
    longest_days = max(topic.retention_ms for topic in ALL_TOPICS) / 86_400_000
    assert RoutingSettings().processed_claim_retention_days > longest_days
    with pytest.raises(ValidationError):
        RoutingSettings(processed_claim_retention_days=int(longest_days))


def test_a_connector_named_with_underscores_is_the_connector_with_dashes(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    """A shell cannot export HUB_CONNECTORS__INJUS-DETENTIE__...; connector names never
    hold an underscore, so INJUS_DETENTIE is injus-detentie, from the file too."""
    connectors = tmp_path / "connectors.json"
    connectors.write_text('{"kedo_regie": {"base_url": "https://kedo.example"}}')
    monkeypatch.setenv("HUB_CONNECTORS_FILE", str(connectors))
    monkeypatch.setenv("HUB_CONNECTORS__INJUS_DETENTIE__WEBHOOK_SECRET", "s3")
    monkeypatch.setenv("HUB_CONNECTORS__INJUS_DETENTIE__RATE_PER_S", "4")
    monkeypatch.setenv("HUB_CONNECTORS__injus-detentie__RATE_PER_S", "5")
    settings = HubSettings()
    assert settings.connectors == {
        "injus-detentie": {"webhook_secret": "s3", "rate_per_s": "5"},
        "kedo-regie": {"base_url": "https://kedo.example"},
    }
