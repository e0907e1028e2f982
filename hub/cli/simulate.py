"""``hub simulate SCENARIO``: drive the detention flows through the partner simulators of
a running ``hub up --simulators``, for a demo or a load test."""

from __future__ import annotations

import asyncio
import datetime as dt
import json
import time
import uuid
from typing import Any

import httpx
import typer

from hub.cli.endpoints import endpoints_path
from hub.cli.failure import failed
from hub.cli.store import current_store, run_or_exit, store_url, subjects_of
from hub.settings import HubSettings
from hub.simulators.population import POPULATION, inclusion
from hub.state import audit
from hub.state.database import sessionmaker

SCENARIOS = ("intake", "transfer", "release", "no-case", "load", "include", "exclude")
LABEL_SCENARIOS = ("include", "exclude")
LABEL_PARTNERS = ("politie", "reclassering", "crisis")
INCLUDED = [p.bsn for p in POPULATION if p.included]
LIVE_DEMO = next(p for p in POPULATION if p.included and not p.seeded)
"""The demo client the ZVH includes live (not at start), so the label set can be watched."""
NOT_IN_A_CASE = [p.bsn for p in POPULATION if not p.included]


def _simulators() -> dict[str, str]:
    path = endpoints_path(HubSettings())
    try:
        urls: dict[str, str] = json.loads(path.read_text())["simulators"]
    except (OSError, KeyError, ValueError):
        raise failed(
            f"no simulators in {path}; start the hub with `make up` "
            "(or `hub up --simulators`) first"
        ) from None
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
    # A stay has one start notice, so each client's messages alternate between EINDE and
    # START: every one of them is news for the LLC, whatever the last run left open.
    return [
        {
            "kind": "START" if (n // len(INCLUDED)) % 2 else "EINDE",
            "bsn": INCLUDED[n % len(INCLUDED)],
            "event_id": f"SIM-{run}-{n}",
        }
        for n in range(count)
    ]


def simulate(
    scenario: str = typer.Argument(
        ..., help=f"One of: {', '.join(SCENARIOS)}.", autocompletion=lambda: list(SCENARIOS)
    ),
    count: int = typer.Option(100, min=1, help="Messages for the load scenario."),
    wait_s: float = typer.Option(
        10.0,
        min=0,
        help="How long to wait, after the last is sent, for the LLC to have them all.",
    ),
) -> None:
    """Drive a flow through the simulators: Injus messages (intake, transfer, release,
    no-case, load) and what the LLC received, or the ZVH including or excluding the live
    demo client (include, exclude) and what the label partners heard."""
    if scenario not in SCENARIOS:
        raise typer.BadParameter(f"one of: {', '.join(SCENARIOS)}", param_hint="SCENARIO")
    urls = _simulators()
    if scenario in LABEL_SCENARIOS:
        try:
            _label_demo(scenario, urls, wait_s)
        except httpx.HTTPError as error:
            raise _stopped_answering(error, "the ZVH's message may not have been sent") from None
        return
    commands = _commands(scenario, count)
    accepted = 0
    try:
        with httpx.Client(timeout=30) as client:
            before = len(client.get(f"{urls['llc']}/_sim/received").json()["received"])
            started = time.perf_counter()
            since = dt.datetime.now(dt.UTC) - dt.timedelta(seconds=1)
            with typer.progressbar(commands, label=f"{scenario}: sending", show_pos=True) as bar:
                for command in bar:
                    answer = client.post(f"{urls['injus']}/_sim/send", json=command).json()
                    if answer.get("status") != 202:
                        typer.secho(f"refused: {answer}", fg=typer.colors.RED, err=True)
                        raise typer.Exit(1)
                    accepted += 1
            decided = scenario == "no-case" and run_or_exit(
                lambda: _no_case_recorded(NOT_IN_A_CASE[0], since, wait_s)
            )
            received = client.get(f"{urls['llc']}/_sim/received").json()["received"][before:]
            expected = 0 if scenario == "no-case" else len(commands)
            sent = time.perf_counter()
            while len(received) < expected and time.perf_counter() - sent < wait_s:
                time.sleep(0.1)
                received = client.get(f"{urls['llc']}/_sim/received").json()["received"][before:]
    except httpx.HTTPError as error:
        raise _stopped_answering(
            error, f"after {accepted} of {len(commands)} were answered 202"
        ) from None
    elapsed = time.perf_counter() - started
    typer.echo(f"sent {len(commands)}; the LLC received {len(received)} in {elapsed:.2f} s")
    for item in received[:3]:
        body = item["body"]
        typer.echo(f"  {body['resourceType']}: {body['payload'][0]['contentString']}")
    if scenario == "no-case":
        typer.echo(
            "  nothing was sent to anyone (the audit records 'no case')"
            if decided and not received
            else f"  the audit shows no NO_CASE decision within {wait_s:g} s"
            if not decided
            else "  the LLC received something for a person in no case: see `hub audit search`"
        )
    if scenario != "no-case" and len(received) < len(commands):
        typer.echo(
            "  not all reached the LLC: a START for a stay that had its start notice is a "
            "repeat and sends nothing (DUPLICATE_START in `hub audit search --outcome "
            "DUPLICATE_START`; `hub simulate release` ends the stay); a delivery the LLC "
            "refused is in `hub dlq list`, with what waits behind it; one it could not take "
            "yet is retried"
        )


async def _no_case_recorded(bsn: str, since: dt.datetime, wait_s: float) -> bool:
    """Whether the audit records NO_CASE for ``bsn`` (decided since ``since``) within
    ``wait_s``: the command ends as soon as the router has decided, not after its
    whole wait for an LLC that is never to hear of it."""
    query = audit.AuditQuery(subjects=subjects_of(bsn), outcome="NO_CASE", since=since)
    deadline = time.perf_counter() + wait_s
    async with current_store(store_url(HubSettings())) as engine:
        sessions = sessionmaker(engine)
        while True:
            async with sessions() as session:
                if [record async for record in audit.search(session, query)]:
                    return True
            if time.perf_counter() >= deadline:
                return False
            await asyncio.sleep(0.1)


def _zvh_message(scenario: str) -> dict[str, Any]:
    run = uuid.uuid4().hex[:8]
    if scenario == "include":
        return inclusion(LIVE_DEMO, f"SIM-INCL-{run}")
    return {
        "schemaVersie": "1",
        "id": f"SIM-EXCL-{run}",
        "soort": "EXCLUSIE",
        "bsn": LIVE_DEMO.bsn,
        "zvh": LIVE_DEMO.zvh,
        "datum": dt.date.today().isoformat(),
        "reden": "stable-two-years",
    }


def _stopped_answering(error: httpx.HTTPError, when: str) -> typer.Exit:
    return failed(
        f"the hub or its simulators stopped answering ({type(error).__name__}) {when}", code=1
    )


def _label_demo(scenario: str, urls: dict[str, str], wait_s: float) -> None:
    """The ZVH includes (or excludes) the live demo client; wait until the police, Iris
    and the crisis service each have heard of it."""
    with httpx.Client(timeout=30) as client:

        def heard() -> dict[str, int]:
            return {
                p: len(client.get(f"{urls[p]}/_sim/received").json()["received"])
                for p in LABEL_PARTNERS
            }

        before = heard()
        started = time.perf_counter()
        answer = client.post(f"{urls['zvh']}/_sim/send", json=_zvh_message(scenario)).json()
        if answer.get("status") != 202:
            typer.secho(f"refused: {answer}", fg=typer.colors.RED, err=True)
            raise typer.Exit(1)
        done: list[str] = []
        while time.perf_counter() - started < wait_s:
            now = heard()
            done = [p for p in LABEL_PARTNERS if now[p] > before[p]]
            if len(done) == len(LABEL_PARTNERS):
                break
            time.sleep(0.1)
    elapsed = time.perf_counter() - started
    what = "label set" if scenario == "include" else "label withdrawn"
    typer.echo(
        f"{what} for demo client {LIVE_DEMO.name}: {len(done)} of {len(LABEL_PARTNERS)} "
        f"partners heard of it in {elapsed:.2f} s ({', '.join(done) or 'none'})"
    )
    typer.echo("see where it stands: hub labels status")
