"""Starts the partner simulators on loopback and says how to point the hub at them."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import uvicorn
from pydantic import SecretStr

from hub.bus.embedded import free_port
from hub.connectors.runtime.signing import new_secret
from hub.core.errors import ConfigurationError
from hub.simulators.population import zvh_events
from hub.simulators.server import SENDS_TO, make_simulator

PARTNERS = (
    "injus",
    "kedo",
    "gemeente",
    "zvh",
    "pi",
    "llc",
    "politie",
    "reclassering",
    "crisis",
)


def _demo_secrets() -> dict[str, str]:
    """One new Standard Webhooks secret per webhook connector: no partner signs for
    another."""
    return {connector: new_secret() for connector in SENDS_TO.values()}


def _secret_of(settings: Mapping[str, Any]) -> str | None:
    """The webhook secret an operator's connector settings give, if any (inline or from
    its file, as the hub reads it); a file that cannot be read gives none here, and the
    hub's own settings check names it."""
    if settings.get("webhook_secret_file"):
        try:
            secret_file = Path(str(settings["webhook_secret_file"]))
            return secret_file.read_text(encoding="utf-8").rstrip("\r\n")
        except OSError:
            return None
    value = settings.get("webhook_secret")
    if value is None:
        return None
    return value.get_secret_value() if isinstance(value, SecretStr) else str(value)


@dataclass
class SimulatorSet:
    hub_url: str
    secrets: dict[str, str] = field(default_factory=_demo_secrets)
    """Each webhook connector's secret, by connector name, new for every run; the
    simulator that sends to the connector signs with it."""
    host: str = "127.0.0.1"
    urls: dict[str, str] = field(default_factory=dict)
    _servers: list[uvicorn.Server] = field(default_factory=list)
    _apps: dict[str, Any] = field(default_factory=dict)
    _tasks: list[asyncio.Task[None]] = field(default_factory=list)

    async def start(self) -> None:
        for name in PARTNERS:
            port = free_port()
            secret = self.secrets.get(SENDS_TO.get(name, ""))
            app = make_simulator(name, hub_url=self.hub_url, secret=secret)
            self._apps[name] = app
            config = uvicorn.Config(
                app, host=self.host, port=port, log_config=None, access_log=False, lifespan="off"
            )
            server = uvicorn.Server(config)
            self._servers.append(server)
            self._tasks.append(asyncio.create_task(server.serve()))
            self.urls[name] = f"http://{self.host}:{port}"
        async with asyncio.timeout(10):
            while not all(s.started for s in self._servers):  # noqa: ASYNC110 - uvicorn has no event
                await asyncio.sleep(0.02)

    async def stop(self) -> None:
        for server in self._servers:
            server.should_exit = True
        for task in self._tasks:
            with contextlib.suppress(asyncio.CancelledError):
                await task

    def state(self, name: str) -> Any:
        """The simulator's own record (``SimState``) of what it received, in-process."""
        return self._apps[name].state.sim

    def connectors(self) -> dict[str, dict[str, Any]]:
        """The hub's connector settings that point every connector at its simulator."""
        return {
            "politie-meldingen": {"base_url": f"{self.urls['politie']}/api"},
            "kedo-regie": {"base_url": f"{self.urls['kedo']}/api", "budget_s": 5.0},
            "gemeente-casusregisseur": {"base_url": f"{self.urls['gemeente']}/api"},
            "zvh-notifications": {"base_url": f"{self.urls['zvh']}/api"},
            "pi-backoffice": {"base_url": f"{self.urls['pi']}/api"},
            "llc-communication": {"base_url": f"{self.urls['llc']}/fhir"},
            "politie-abonnementen": {"base_url": f"{self.urls['politie']}/api"},
            "reclassering-iris-meldingen": {"base_url": f"{self.urls['reclassering']}/iris"},
            "crisis-vooraanmelding": {"base_url": f"{self.urls['crisis']}/fhir"},
            **{name: {"webhook_secret": secret} for name, secret in self.secrets.items()},
        }

    def configure(self, overrides: Mapping[str, Mapping[str, Any]]) -> dict[str, dict[str, Any]]:
        """The hub's connector settings: ``connectors()`` merged, connector by connector,
        with the operator's own (``HUB_CONNECTORS``), which win. Where they give a
        connector its own webhook secret, its simulator signs with that one."""
        merged = {name: dict(conf) for name, conf in self.connectors().items()}
        for name, conf in overrides.items():
            ours = merged.setdefault(name, {})
            if "webhook_secret_file" in conf:
                ours.pop("webhook_secret", None)
            ours.update(conf)
            secret = _secret_of(conf)
            if secret is not None and name in self.secrets:
                self.secrets[name] = secret
                partner = next(p for p, c in SENDS_TO.items() if c == name)
                if partner in self._apps:
                    self.state(partner).secret = secret
        return merged

    async def seed(self) -> int:
        """Tell the hub about the demo population through the ZVH simulator, as the ZVHs
        would; returns how many events the hub accepted. A refusal raises
        ConfigurationError naming the connector and the hub's reason."""
        accepted = 0
        async with httpx.AsyncClient(timeout=10) as client:
            for data in zvh_events():
                answer = await client.post(f"{self.urls['zvh']}/_sim/send", json=data)
                answer.raise_for_status()
                sent = answer.json()
                if sent.get("status") != 202:
                    problem = sent.get("answer") or {}
                    reason = problem.get("detail") if isinstance(problem, dict) else None
                    raise ConfigurationError(
                        f"the hub refused the demo seed at {SENDS_TO['zvh']}: "
                        f"{sent.get('status')} {reason or sent.get('reason', '')}".rstrip(),
                        field=f"connectors.{SENDS_TO['zvh']}",
                    )
                accepted += int(sent["answer"]["accepted"])
        return accepted
