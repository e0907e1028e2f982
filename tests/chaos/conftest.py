"""The chaos tests run on both paths: embedded (tansu, SQLite) and production (Apache
Kafka with the idempotent producer, PostgreSQL), each on a broker of its own."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from tests.backends import BOTH_PATHS, EMBEDDED, PRODUCTION, Backend, apache_kafka_or_skip
from tests.chaos.rig import own_backend


@pytest.fixture(params=BOTH_PATHS)
def chaos_backend(request: pytest.FixtureRequest) -> Iterator[Backend]:
    if request.param == EMBEDDED:
        with own_backend() as backend:
            yield backend
        return
    apache_kafka_or_skip()
    admin_url: str = request.getfixturevalue("postgres_admin_url")
    with own_backend(PRODUCTION, admin_url) as backend:
        yield backend
