"""Starts the partner simulators on loopback and says how to point the hub at them."""

from __future__ import annotations

import asyncio
import contextlib
import secrets
from dataclasses import dataclass, field
from typing import Any

import httpx
import uvicorn

from hub.bus.embedded import free_port
from hub.simulators.population import zvh_events
from hub.simulators.server import make_simulator

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


@dataclass
class SimulatorSet:
    hub_url: str
    secret: str = field(default_factory=lambda: secrets.token_hex(16))
    """The Injus simulator's webhook key, new for every run."""
    host: str = "127.0.0.1"
    urls: dict[str, str] = field(default_factory=dict)
    _servers: list[uvicorn.Server] = field(default_factory=list)
    _apps: dict[str, Any] = field(default_factory=dict)
    _tasks: list[asyncio.Task[None]] = field(default_factory=list)

    async def start(self) -> None:
        for name in PARTNERS:
            port = free_port()
            app = make_simulator(name, hub_url=self.hub_url, secret=self.secret)
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
            "injus-detentie": {"webhook_secret": self.secret},
            "kedo-regie": {"base_url": f"{self.urls['kedo']}/api", "budget_s": 5.0},
            "gemeente-casusregisseur": {"base_url": f"{self.urls['gemeente']}/api"},
            "zvh-notifications": {"base_url": f"{self.urls['zvh']}/api"},
            "pi-backoffice": {"base_url": f"{self.urls['pi']}/api"},
            "llc-communication": {"base_url": f"{self.urls['llc']}/fhir"},
            "zvh-events": {"webhook_secret": self.secret},
            "pi-transfers": {"webhook_secret": self.secret},
            "politie-abonnementen": {"base_url": f"{self.urls['politie']}/api"},
            "politie-signalen": {"webhook_secret": self.secret},
            "reclassering-iris-meldingen": {"base_url": f"{self.urls['reclassering']}/iris"},
            "reclassering-iris-signals": {"webhook_secret": self.secret},
            "crisis-vooraanmelding": {"base_url": f"{self.urls['crisis']}/fhir"},
            "crisis-contacten": {"webhook_secret": self.secret},
        }

    async def seed(self) -> int:
        """Tell the hub about the demo population through the ZVH simulator, as the ZVHs
        would; returns how many events the hub accepted."""
        accepted = 0
        async with httpx.AsyncClient(timeout=10) as client:
            for data in zvh_events():
                answer = await client.post(f"{self.urls['zvh']}/_sim/send", json=data)
                answer.raise_for_status()
                accepted += int(answer.json()["answer"]["accepted"])
        return accepted
