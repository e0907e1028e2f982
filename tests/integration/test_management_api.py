"""The management API over HTTP on a running hub: a bearer token from the console's
accounts, the roles as the console has them, dead letters listed, previewed and
replayed, labels and connectors, a person's report for the privacy officer only (and
audited), problem+json for every refusal, and the OpenAPI document against its
committed snapshot (``docs/management-api.json``; ``UPDATE_API_SNAPSHOT=1`` rewrites
it after a deliberate change)."""

from __future__ import annotations

import asyncio
import json
import os
import stat
import sys
from pathlib import Path
from typing import Any

import httpx
import pytest

from hub.connectors.testing.harness import wait_until
from hub.simulators.population import inclusion, person
from hub.state import audit
from hub.state.database import sessionmaker
from tests.data import TEST_NAMES
from tests.integration.simulated_chain import Chain
from tests.integration.test_console import INCLUDED, PASSWORD, chain

pytestmark = pytest.mark.integration
SNAPSHOT = Path(__file__).parents[2] / "docs" / "management-api.json"
HUB = str(Path(sys.executable).with_name("hub"))
__all__ = ["chain"]


async def _token(api: httpx.AsyncClient, user: str) -> dict[str, str]:
    answer = await api.post("/api/v1/sessions", json={"username": user, "password": PASSWORD})
    assert answer.status_code == 201, answer.text
    return {"Authorization": f"Bearer {answer.json()['token']}"}


def _problem(answer: httpx.Response, status: int) -> dict[str, Any]:
    assert answer.status_code == status, answer.text
    assert answer.headers["content-type"].startswith("application/problem+json")
    body: dict[str, Any] = answer.json()
    assert body["status"] == status
    return body


async def _dead_letter(api: httpx.AsyncClient, headers: dict[str, str]) -> dict[str, Any]:
    """The one open dead letter for the LLC, once the hub has given it up."""
    found: list[dict[str, Any]] = []

    async def given_up() -> bool:
        query = {"state": "open"}
        listing = await api.get("/api/v1/dead-letters", params=query, headers=headers)
        found[:] = [i for i in listing.json()["items"] if i["recipient"] == "llz:fivoor"]
        return bool(found)

    await wait_until(given_up, timeout_s=90)
    (letter,) = found
    return letter


async def test_an_operator_replays_a_dead_letter_through_the_api(chain: Chain) -> None:
    async with httpx.AsyncClient(base_url=chain.hub.http_url, timeout=10) as api:
        anonymous = await api.get("/api/v1/dead-letters")
        _problem(anonymous, 401)
        assert anonymous.headers["WWW-Authenticate"] == "Bearer", "RFC 6750: what to send"
        wrong = {"username": "ops", "password": "not-the-password"}
        _problem(await api.post("/api/v1/sessions", json=wrong), 401)
        _problem(await api.get("/api/v1/labels", headers={"Authorization": "Bearer made-up"}), 401)
        ops, partner = await _token(api, "ops"), await _token(api, "fivoor")

        await chain.faults("llc", down=True)
        corrected = {"facility_code": "PI-VUG", "facility_name": "PI Vught"}
        await chain.send(
            "injus", {"kind": "START", "bsn": INCLUDED, "event_id": "API-1", **corrected}
        )
        discarded = await _dead_letter(api, ops)
        listing = await api.get("/api/v1/dead-letters", headers=ops)
        assert INCLUDED not in listing.text, "no content"
        assert TEST_NAMES[0] not in listing.text
        assert listing.json()["page"] == 1
        discard = f"/api/v1/dead-letters/{discarded['id']}/discard"
        why = {"why": "the LLC has it from the phone call"}
        _problem(await api.post(discard, json=why, headers=partner), 403)
        _problem(await api.post(discard, json={"why": ""}, headers=ops), 422)
        _problem(await api.post(discard, json={"why": "     "}, headers=ops), 422)
        with_bsn = {"why": f"client {INCLUDED} phoned"}
        refused = _problem(await api.post(discard, json=with_bsn, headers=ops), 422)
        assert INCLUDED not in refused["detail"]
        settled = await api.post(discard, json=why, headers=ops)
        assert settled.status_code == 200, settled.text
        assert (settled.json()["state"], settled.json()["settled_by"]) == ("discarded", "api:ops")

        await chain.send("injus", {"kind": "OVERPLAATSING", "bsn": INCLUDED, "event_id": "API-2"})
        letter = await _dead_letter(api, ops)
        shown = await api.get(f"/api/v1/dead-letters/{letter['id']}", headers=ops)
        assert shown.status_code == 200, shown.text
        assert shown.json()["verdict"] == "send"
        _problem(await api.get("/api/v1/dead-letters/no-such-letter", headers=ops), 404)

        await chain.send("injus", {"kind": "EINDE", "bsn": INCLUDED, "event_id": "API-3"})
        shown_url = f"/api/v1/dead-letters/{letter['id']}"

        async def held_behind() -> bool:
            answer = await api.get(shown_url, headers=ops)
            return bool(answer.json()["letter"]["held_behind"])

        await wait_until(held_behind, timeout_s=60)
        await chain.faults("llc", down=False)
        before = len(await chain.received("llc", INCLUDED))
        replay = f"/api/v1/dead-letters/{letter['id']}/replay"
        preview = await api.post(replay, params={"preview": "true"}, headers=ops)
        assert preview.status_code == 200, preview.text
        assert preview.json()["state"] is None
        assert preview.json()["letter"]["held_behind"] == 1, "as the letter shows it"
        refused = _problem(await api.post(replay, headers=partner), 403)
        assert "operators replay them" in refused["detail"]
        done = await api.post(replay, headers=ops)
        assert done.status_code == 200, done.text
        assert done.json()["state"] == "replayed"
        await chain.until("llc", before + 2, INCLUDED)  # the letter, then what waited
        again = await api.get(f"/api/v1/dead-letters/{letter['id']}", headers=ops)
        assert again.json()["letter"]["state"] == "replayed"
        twice = _problem(await api.post(replay, headers=ops), 409)
        assert "nothing was done" in twice["detail"], "a replay settled first is not a success"
        assert again.json()["letter"]["settled_by"] == "api:ops"

        labels = await api.get("/api/v1/labels", headers=ops)
        assert labels.status_code == 200, labels.text
        _problem(await api.get("/api/v1/labels", params={"state": "bogus"}, headers=ops), 422)
        assert labels.json()["page"] == 1
        connectors = {
            c["name"]: c for c in (await api.get("/api/v1/connectors", headers=ops)).json()
        }
        assert connectors["llc-communication"]["partner"] == "llz"
        mine = {c["name"] for c in (await api.get("/api/v1/connectors", headers=partner)).json()}
        assert "llc-communication" in mine
        assert "gemeente-casusregisseur" not in mine, "a partner sees its own connectors"


async def test_an_operator_pauses_a_connector_and_resuming_delivers_what_it_held(
    chain: Chain,
) -> None:
    pause = "/api/v1/connectors/llc-communication/pause"
    why = {"why": "the LLC moves its servers tonight"}
    async with httpx.AsyncClient(base_url=chain.hub.http_url, timeout=10) as api:
        ops, partner = await _token(api, "ops"), await _token(api, "fivoor")
        _problem(await api.post(pause, json=why, headers=partner), 403)
        _problem(
            await api.post("/api/v1/connectors/injus-detentie/pause", json=why, headers=ops), 409
        )
        _problem(await api.post("/api/v1/connectors/nothing/pause", json=why, headers=ops), 404)
        paused = await api.post(pause, json=why, headers=ops)
        assert paused.status_code == 200, paused.text
        assert paused.json()["paused"]["paused_by"] == "api:ops"

        before = len(await chain.received("llc", INCLUDED))
        await chain.send("injus", {"kind": "OVERPLAATSING", "bsn": INCLUDED, "event_id": "API-P"})
        held: dict[str, Any] = {}

        async def holding() -> bool:
            listing = (await api.get("/api/v1/connectors", headers=ops)).json()
            held.update({c["name"]: c for c in listing})
            return bool(held["llc-communication"]["held"])

        await wait_until(holding, timeout_s=60)
        assert len(await chain.received("llc", INCLUDED)) == before, "nothing while paused"
        assert held["llc-communication"]["paused"]["why"] == why["why"]
        assert held["gemeente-casusregisseur"]["paused"] is None
        mine = {c["name"]: c for c in (await api.get("/api/v1/connectors", headers=partner)).json()}
        shown = mine["llc-communication"]
        assert (shown["held"], shown["paused"]["why"], shown["paused"]["paused_by"]) == (
            1,
            None,
            None,
        )
        hurry = "/api/v1/connectors/llc-communication/retry-now"
        assert "resume it" in _problem(await api.post(hurry, headers=ops), 409)["detail"]

        resumed = await api.post("/api/v1/connectors/llc-communication/resume", headers=ops)
        assert resumed.status_code == 200, resumed.text
        assert resumed.json()["due_now"] == 1
        await chain.until("llc", before + 1, INCLUDED)
        listing = (await api.get("/api/v1/connectors", headers=ops)).json()
        llc = next(c for c in listing if c["name"] == "llc-communication")
        assert (llc["paused"], llc["held"]) == (None, 0)


async def _hub(data: Path, *args: str) -> tuple[int, str]:
    """The CLI in a process of its own (the hub answers on this test's event loop)."""
    process = await asyncio.create_subprocess_exec(
        HUB,
        *args,
        env={**os.environ, "HUB_DATA_DIR": str(data)},
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.STDOUT,
    )
    output, _ = await process.communicate()
    assert process.returncode is not None
    return process.returncode, output.decode()


async def test_after_hub_login_the_cli_works_through_the_api(chain: Chain, tmp_path: Path) -> None:
    """Its data directory has no store: every command below that succeeds went through
    the hub, and what it settled carries the account's name."""
    data = tmp_path / "cli"
    wrong = await _hub(
        data, "login", "--url", chain.sims.urls["llc"], "--username", "ops", "--password", PASSWORD
    )
    assert wrong == (
        2,
        f"error: {chain.sims.urls['llc']} is not a Ketenhub hub (no management API); "
        "no password was sent\n",
    )
    assert PASSWORD not in json.dumps(await chain.received("llc"))
    signed = await _hub(
        data,
        "login",
        "--url",
        chain.hub.http_url + "/ ",
        "--username",
        "ops",
        "--password",
        PASSWORD,
    )
    assert signed == (
        0,
        f"signed in to {chain.hub.http_url} as ops (operator); kept in "
        f"{data / 'cli-session.json'}\n",
    )
    assert stat.S_IMODE((data / "cli-session.json").stat().st_mode) == 0o600
    token = {
        "Authorization": f"Bearer {json.loads((data / 'cli-session.json').read_text())['token']}"
    }

    await chain.faults("llc", down=True)
    corrected = {"facility_code": "PI-VUG", "facility_name": "PI Vught"}
    await chain.send("injus", {"kind": "START", "bsn": INCLUDED, "event_id": "CLI-1", **corrected})
    async with httpx.AsyncClient(base_url=chain.hub.http_url, timeout=10) as api:
        letter = await _dead_letter(api, token)
    code, listed = await _hub(data, "dlq", "list", "--json")
    assert code == 0, listed
    assert [json.loads(line)["id"] for line in listed.splitlines()] == [letter["id"]]
    code, planned = await _hub(data, "dlq", "replay", letter["id"], "--dry-run")
    assert (code, planned.splitlines()[-1]) == (
        0,
        "1 dead letter(s) decided again; nothing sent (--dry-run)",
    )
    await chain.faults("llc", down=False)
    before = len(await chain.received("llc", INCLUDED))
    code, replayed = await _hub(data, "dlq", "replay", letter["id"])
    assert (code, replayed.splitlines()[-1]) == (
        0,
        "1 replayed, 0 denied by today's policy, 0 left as they were",
    )
    await chain.until("llc", before + 1, INCLUDED)
    code, shown = await _hub(data, "dlq", "show", letter["id"])
    assert json.loads(shown)["settled_by"] == "api:ops"

    code, paused = await _hub(
        data, "connectors", "pause", "llc-communication", "--why", "night move"
    )
    assert code == 0, paused
    assert paused.startswith("llc-communication paused by api:ops at ")
    code, listed = await _hub(data, "connectors", "list", "--json")
    rows = {r["name"]: r for r in json.loads(listed)}
    llc = rows["llc-communication"]
    assert (llc["paused"], llc["held"], llc["version"]) == ("by api:ops: night move", 0, "1.0.0")
    assert llc["health"] != "not configured", "as the running hub has it, not this shell"
    assert await _hub(data, "connectors", "pause", "injus-detentie", "--why", "night move") == (
        2,
        "error: injus-detentie receives; only a connector that delivers can be paused\n",
    )
    code, resumed = await _hub(data, "connectors", "resume", "llc-communication")
    assert (code, resumed) == (0, "llc-communication resumed; nothing was held\n")

    kept = (data / "cli-session.json").read_text()
    (data / "cli-session.json").write_text("{bad json")
    code, damaged = await _hub(data, "connectors", "resume", "llc-communication")
    assert code == 2, "a damaged session is not taken for no login"
    assert "cannot be used" in damaged
    (data / "cli-session.json").write_text(
        json.dumps({**json.loads(kept), "url": chain.sims.urls["llc"]})
    )
    code, stranger = await _hub(data, "dlq", "list")
    assert (code, stranger.strip()) == (
        2,
        f"error: {chain.sims.urls['llc']} did not answer as a Ketenhub hub's management API",
    )
    (data / "cli-session.json").write_text(
        json.dumps({**json.loads(kept), "url": "http://127.0.0.1:9"})
    )
    code, away = await _hub(data, "logout")
    assert code == 2, away
    assert "the session was not ended there" in away
    assert (data / "cli-session.json").exists(), "kept, to try the logout again"
    (data / "cli-session.json").write_text(kept)

    assert await _hub(data, "logout") == (0, f"signed out of {chain.hub.http_url}\n")
    async with httpx.AsyncClient(base_url=chain.hub.http_url, timeout=10) as api:
        _problem(await api.get("/api/v1/labels", headers=token), 401)
    code, local = await _hub(data, "dlq", "list")
    assert code == 2, "signed out, the CLI works on the (here missing) local store"
    assert f"no state store at {data / 'hub.db'}" in local


async def test_labels_and_a_persons_report_through_the_api_and_the_cli(
    chain: Chain, tmp_path: Path
) -> None:
    """The label list names its reason and whether it is late, one client's by
    pseudonym; after `hub login` the CLI's `labels status` and `audit report` ask the
    hub (their data directory has no store), and a BSN is refused there, not echoed."""
    subject = chain.subject(INCLUDED)
    included = person(INCLUDED)
    assert included is not None
    await chain.send("zvh", inclusion(included, "API-LABELS-1"))
    async with httpx.AsyncClient(base_url=chain.hub.http_url, timeout=10) as api:
        privacy = await _token(api, "privacy")
        rows: list[dict[str, Any]] = []

        async def listed() -> bool:
            answer = await api.get("/api/v1/labels", params={"subject": subject}, headers=privacy)
            rows[:] = answer.json()["items"]
            return bool(rows) and all(r["state"] == "set" for r in rows)

        await wait_until(listed, timeout_s=30)
        assert {r["subject"] for r in rows} == {subject}
        assert all(r["reason"].startswith("set at the partner after 1 attempt") for r in rows)
        late = await api.get(
            "/api/v1/labels", params={"subject": subject, "incomplete_after": 0}, headers=privacy
        )
        assert [r["incomplete"] for r in late.json()["items"]] == [False] * len(rows), "set"
        bsn = _problem(
            await api.get("/api/v1/labels", params={"subject": INCLUDED}, headers=privacy), 422
        )
        assert INCLUDED not in bsn["detail"]
    data = tmp_path / "cli"
    login = ("login", "--url", chain.hub.http_url, "--username", "privacy")
    assert (await _hub(data, *login, "--password", PASSWORD))[0] == 0
    code, shown = await _hub(data, "labels", "status", subject, "--json")
    assert code == 0, shown
    assert sorted(json.loads(line)["partner"] for line in shown.splitlines()) == sorted(
        r["partner"] for r in rows
    )
    code, refused = await _hub(data, "labels", "status", INCLUDED)
    assert code == 2
    assert "never a BSN" in refused
    assert INCLUDED not in refused
    code, report = await _hub(data, "audit", "report", subject)
    assert code == 0, report
    assert json.loads(report)["disclosures"]
    async with sessionmaker(chain.hub.engine)() as session:
        query = audit.AuditQuery(subjects=[subject], outcome="VIEWED")
        looks = [r async for r in audit.search(session, query)]
    assert [r["sender"] for r in looks] == ["urn:ketenhub:console:privacy"], "the look, audited"


async def test_a_persons_report_is_for_the_privacy_officer_and_the_look_is_audited(
    chain: Chain,
) -> None:
    subject = chain.subject(INCLUDED)
    report = f"/api/v1/subjects/{subject}/disclosures"
    async with httpx.AsyncClient(base_url=chain.hub.http_url, timeout=10) as api:
        _problem(await api.get(report, headers=await _token(api, "ops")), 403)
        privacy = await _token(api, "privacy")
        found = await api.get(report, headers=privacy)
        assert found.status_code == 200, found.text
        assert found.json()["disclosures"]
        nobody = "/api/v1/subjects/psn-k1-" + "0" * 40 + "/disclosures"
        _problem(await api.get(nobody, headers=privacy), 404)
        bsn = _problem(
            await api.get(f"/api/v1/subjects/{INCLUDED}/disclosures", headers=privacy), 422
        )
        assert INCLUDED not in bsn["detail"], "a BSN is refused, not echoed"
    async with sessionmaker(chain.hub.engine)() as session:
        query = audit.AuditQuery(subjects=[subject], outcome="VIEWED")
        (viewed,) = [r async for r in audit.search(session, query)]
    assert viewed["object"] == "disclosure report (API)"
    assert viewed["sender"] == "urn:ketenhub:console:privacy"


async def test_the_openapi_document_matches_its_snapshot(chain: Chain) -> None:
    async with httpx.AsyncClient(base_url=chain.hub.http_url, timeout=10) as api:
        document = (await api.get("/openapi.json")).json()
    paths = {p: v for p, v in document["paths"].items() if p.startswith("/api/v1/")}
    wanted = {"paths": paths, "schemas": _used_schemas(paths, document["components"]["schemas"])}
    text = json.dumps(wanted, indent=2, sort_keys=True) + "\n"
    if os.environ.get("UPDATE_API_SNAPSHOT"):
        SNAPSHOT.write_text(text)
    assert text == SNAPSHOT.read_text(), (
        "the management API changed; if on purpose: UPDATE_API_SNAPSHOT=1 pytest " + __file__
    )
    assert set(paths) >= {
        "/api/v1/sessions",
        "/api/v1/dead-letters",
        "/api/v1/dead-letters/{letter_id}",
        "/api/v1/dead-letters/{letter_id}/replay",
        "/api/v1/labels",
        "/api/v1/connectors",
        "/api/v1/connectors/{name}/pause",
        "/api/v1/connectors/{name}/resume",
        "/api/v1/connectors/{name}/retry-now",
        "/api/v1/subjects/{subject}/disclosures",
    }


def _used_schemas(paths: dict[str, Any], schemas: dict[str, Any]) -> dict[str, Any]:
    """The component schemas the paths refer to, and those they refer to in turn."""
    wanted: dict[str, Any] = {}
    todo = [json.dumps(paths)]
    while todo:
        text = todo.pop()
        for name, schema in schemas.items():
            if f'"#/components/schemas/{name}"' in text and name not in wanted:
                wanted[name] = schema
                todo.append(json.dumps(schema))
    return wanted
