"""Where `hub up` writes the addresses it listens on (HTTP, Kafka, the simulators, the
store), for the other commands on this machine to find the running hub."""

from __future__ import annotations

from pathlib import Path

from hub.settings import HubSettings


def endpoints_path(settings: HubSettings) -> Path:
    return settings.data_dir / "endpoints.json"
