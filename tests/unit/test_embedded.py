"""The embedded broker says why it cannot start."""

from __future__ import annotations

import stat
from pathlib import Path

import pytest

from hub.bus.embedded import EmbeddedBrokerError, EmbeddedKafka, answers_kafka, free_port


def test_missing_binary_is_explained(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv("CALF_TANSU_BIN", str(tmp_path / "no-such-tansu"))
    with pytest.raises(EmbeddedBrokerError, match="no tansu binary found") as info:
        EmbeddedKafka().start()
    assert "does not point at an executable" in str(info.value)


def test_broker_that_dies_at_start_is_explained(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    fake = tmp_path / "tansu"
    fake.write_text("#!/bin/sh\necho 'address already in use' >&2\nexit 3\n")
    fake.chmod(fake.stat().st_mode | stat.S_IEXEC)
    monkeypatch.setenv("CALF_TANSU_BIN", str(fake))
    with pytest.raises(EmbeddedBrokerError, match="exited with code 3") as info:
        EmbeddedKafka(startup_timeout_s=5).start()
    assert "address already in use" in str(info.value)


def test_a_closed_port_does_not_answer_kafka() -> None:
    assert not answers_kafka("127.0.0.1", free_port(), timeout=0.2)
