"""Apache Kafka's storage is formatted under any cluster id the hub makes. One id in 64
starts with "-": CI once failed because ``kafka-storage format -t -Xy…`` read the id
as an option."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest

from hub.bus import apache_kafka
from hub.bus.apache_kafka import ApacheKafka
from tests.backends import apache_kafka_or_skip

_LEADING_DASH = uuid.UUID(bytes=bytes([0xF8]) + bytes(15))
"""Its URL-safe base64 starts with "-" (the first six bits are 62)."""


def test_a_new_cluster_id_never_starts_with_a_dash(monkeypatch: pytest.MonkeyPatch) -> None:
    drawn: Iterator[uuid.UUID] = iter([_LEADING_DASH, _LEADING_DASH, uuid.UUID(int=1)])
    monkeypatch.setattr(uuid, "uuid4", lambda: next(drawn))
    cluster_id = apache_kafka._cluster_id()
    assert not cluster_id.startswith("-")
    assert cluster_id == "AAAAAAAAAAAAAAAAAAAAAQ", "the first id without a dash is kept"


@pytest.mark.apache_kafka
def test_storage_is_formatted_under_an_id_that_starts_with_a_dash(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    apache_kafka_or_skip()
    dashed = "-" + "A" * 21
    monkeypatch.setattr(apache_kafka, "_cluster_id", lambda: dashed)
    cluster = ApacheKafka(1, data_dir=tmp_path)
    cluster._format()
    meta = (tmp_path / "node-1" / "data" / "meta.properties").read_text()
    assert f"cluster.id={dashed}" in meta.splitlines()
