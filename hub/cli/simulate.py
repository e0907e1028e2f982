"""``hub simulate SCENARIO``: drive the detention flows through the partner simulators of
a running ``hub up --simulators``, for a demo or a load test."""

from __future__ import annotations

import json
import time
import uuid
from pathlib import Path
from typing import Any

import httpx
import typer

from hub.settings import HubSettings
from hub.simulators.population import POPULATION

SCENARIOS = ("intake", "transfer", "release", "no-case", "load")
INCLUDED = [p.bsn for p in POPULATION if p.included]
NOT_IN_A_CASE = [p.bsn for p in POPULATION if not p.included]


def endpoints_path(settings: HubSettings) -> Path:
    return settings.data_dir / "endpoints.json"


def _simulators() -> dict[str, str]:
    path = endpoints_path(HubSettings())
    try:
        urls: dict[str, str] = json.loads(path.read_text())["simulators"]
    except (OSError, KeyError, ValueError):
        typer.secho(
            f"error: no simulators in {path}; start the hub with `make up` "
            "(or `hub up --simulators`) first",
            fg=typer.colors.RED,
            err=True,
        )
        raise typer.Exit(2) from None
    return urls


def _commands(scenario: str, count: int) -> list[dict[str, Any]]:
    run = uuid.uuid4().hex[:8]
    person = INCLUDED[0]
    if scenario == "intake":
        return [{"kind": "START", "bsn": person, "event_id": f"SIM-{run}-1"}]
    if scenario == "transfer":
        return [
            {
                "kind": "OVERPLAATSING",
                "bsn": person,
                "event_id": f"SIM-{run}-1",
                "facility_code": "PI-VUG",
                "facility_name": "PI Vught",
                "previous_facility_code": "PI-AMS",
            }
        ]
    if scenario == "release":
        return [{"kind": "EINDE", "bsn": person, "event_id": f"SIM-{run}-1"}]
    if scenario == "no-case":
        return [{"kind": "START", "bsn": NOT_IN_A_CASE[0], "event_id": f"SIM-{run}-1"}]
    return [
        {"kind": "START", "bsn": INCLUDED[n % len(INCLUDED)], "event_id": f"SIM-{run}-{n}"}
        for n in range(count)
    ]


def simulate(
    scenario: str = typer.Argument(..., help=f"One of: {', '.join(SCENARIOS)}."),
    count: int = typer.Option(100, min=1, help="Messages for the load scenario."),
    wait_s: float = typer.Option(10.0, help="How long to wait for the LLC to have it."),
) -> None:
    """Send Injus messages through the simulator and show what the LLC received."""
    if scenario not in SCENARIOS:
        raise typer.BadParameter(f"one of: {', '.join(SCENARIOS)}", param_hint="SCENARIO")
    urls = _simulators()
    commands = _commands(scenario, count)
    with httpx.Client(timeout=30) as client:
        before = len(client.get(f"{urls['llc']}/_sim/received").json()["received"])
        started = time.perf_counter()
        with typer.progressbar(commands, label=f"{scenario}: sending", show_pos=True) as bar:
            for command in bar:
                answer = client.post(f"{urls['injus']}/_sim/send", json=command).json()
                if answer.get("status") != 202:
                    typer.secho(f"refused: {answer}", fg=typer.colors.RED, err=True)
                    raise typer.Exit(1)
        expected = 0 if scenario == "no-case" else len(commands)
        received: list[dict[str, Any]] = []
        while time.perf_counter() - started < wait_s:
            received = client.get(f"{urls['llc']}/_sim/received").json()["received"][before:]
            if len(received) >= expected and expected:
                break
            time.sleep(0.1)
    elapsed = time.perf_counter() - started
    typer.echo(f"sent {len(commands)}; the LLC received {len(received)} in {elapsed:.2f} s")
    for item in received[:3]:
        body = item["body"]
        typer.echo(f"  {body['resourceType']}: {body['payload'][0]['contentString']}")
    if scenario == "no-case" and not received:
        typer.echo("  nothing was sent to anyone (the audit records 'no case')")
