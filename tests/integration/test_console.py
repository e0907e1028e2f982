"""The console over HTTP after a detention intake through the simulators: a login, the
flows, a trace, the decisions, and each role seeing only what it may."""

from __future__ import annotations

import datetime as dt
import html
import re
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from urllib.parse import parse_qs, urlsplit
from zoneinfo import ZoneInfo

import httpx
import pytest

from hub.connectors.testing.harness import wait_until
from hub.console import accounts, paging
from hub.console.accounts import Role
from hub.console.web import COOKIE
from hub.core.errors import RetryableError
from hub.settings import KafkaSettings
from hub.state import audit, dead_letters, labels
from hub.state.audit import Action, AuditEntry
from hub.state.database import sessionmaker
from hub.state.dead_letters import LetterQuery, Source
from hub.state.failures import Failure
from hub.state.labels import LabelAction
from tests.data import TEST_BSNS, TEST_NAMES
from tests.integration.simulated_chain import Chain, simulated_chain

pytestmark = pytest.mark.integration
INCLUDED = "111222333"
PASSWORD = "correct-horse-battery-staple"
AMSTERDAM = ZoneInfo("Europe/Amsterdam")
ISO_UTC = re.compile(r"T\d\d:\d\d|\.\d{6}")
"""A stored moment shown as stored: an ISO ``T``, or microseconds."""


@pytest.fixture
async def chain(kafka_settings: KafkaSettings, tmp_path: Path) -> AsyncIterator[Chain]:
    # Tuned: the console and API tests need a dead letter within seconds, not after the
    # shipped 72-hour horizon; the promise under the shipped defaults is shown by
    # tests/chaos/test_partner_faults.py (a 30 s outage) and test_long_partner_outage.py.
    fast = {"max_attempts": 2, "backoff_initial_s": 0.05, "backoff_max_s": 0.1}
    connectors = {"llc-communication": fast, "gemeente-casusregisseur": fast}
    async with simulated_chain(kafka_settings, tmp_path, connectors=connectors) as running:
        async with sessionmaker(running.hub.engine).begin() as session:
            await accounts.create(session, "ops", PASSWORD, Role.OPERATOR)
            await accounts.create(session, "privacy", PASSWORD, Role.PRIVACY_OFFICER)
            await accounts.create(session, "fivoor", PASSWORD, Role.PARTNER, "llz:fivoor")
        await running.send("injus", {"kind": "START", "bsn": INCLUDED, "event_id": "CONSOLE-1"})
        await running.until("llc", 1, INCLUDED)
        await running.until("gemeente", 1, INCLUDED)
        yield running


@asynccontextmanager
async def _console(chain: Chain, user: str) -> AsyncIterator[httpx.AsyncClient]:
    """A browser-like client, logged in as ``user``: it sends its Origin on a POST, and
    sends the Secure session cookie to http://127.0.0.1 as browsers do (Python's cookie
    jar keeps Secure cookies for https)."""
    origin = {"Origin": chain.hub.http_url}
    async with httpx.AsyncClient(
        base_url=chain.hub.http_url, follow_redirects=False, headers=origin
    ) as client:
        answer = await client.post("/console/login", data={"username": user, "password": PASSWORD})
        assert answer.status_code == 303, answer.text
        client.headers["Cookie"] = f"{COOKIE}={answer.cookies[COOKIE]}"
        yield client


async def _csrf(console: httpx.AsyncClient) -> dict[str, str]:
    """The session's CSRF token, as a form field: every console POST carries it."""
    found = re.search(
        r'name="csrf" value="([0-9a-f]{64})"', (await console.get("/console/flows")).text
    )
    assert found is not None
    return {"csrf": found[1]}


def _clean(page: str) -> None:
    leaked = [v for v in (*TEST_BSNS, *TEST_NAMES, "Demo-Jansen") if v in page]
    assert not leaked, f"the console showed personal data: {leaked}"


async def test_login_is_needed_and_a_wrong_password_is_refused(chain: Chain) -> None:
    async with httpx.AsyncClient(base_url=chain.hub.http_url) as anonymous:
        page = await anonymous.get("/console/flows", follow_redirects=False)
        assert page.status_code == 303
        assert page.headers["location"] == "/console/login"
        wrong = await anonymous.post(
            "/console/login",
            data={"username": "ops", "password": "not-the-password"},
            headers={"Origin": chain.hub.http_url},
        )
        assert wrong.status_code == 401
        assert "Wrong name or password" in wrong.text


async def test_an_operator_sees_the_intake_flow_and_its_trace_without_personal_data(
    chain: Chain,
) -> None:
    async with _console(chain, "ops") as console:
        row = r"<td>dji</td><td>llz:fivoor</td><td>1</td><td>0</td>\s*<td>1</td>"
        flows = ""

        async def delivered() -> bool:
            """The receipt is written just after the LLC answered: wait for it."""
            nonlocal flows
            flows = (await console.get("/console/flows")).text
            return re.search(row, flows) is not None

        await wait_until(delivered, timeout_s=10)
        assert "<td>dji</td><td>gemeente:GM0363</td>" in flows
        decisions = (await console.get("/console/decisions", params={"outcome": "PERMIT"})).text
        correlation = re.search(r"correlation_id=([0-9a-f-]{36})", decisions)
        assert correlation is not None
        trace = (
            await console.get("/console/trace", params={"correlation_id": correlation[1]})
        ).text
        for stage in ("received", "decided", "delivered"):
            assert f"<td>{stage}</td>" in trace
        assert "<th>at (Amsterdam)</th>" in trace
        stamps = re.findall(r"<td>(\d{4}-\d\d-\d\d \d\d:\d\d:\d\d\.\d{3})</td>", trace)
        assert len(stamps) >= 3, "each stage's moment, to the millisecond"
        assert "wgs-samenwerkingsverband" in trace
        (llc,) = await chain.received("llc", INCLUDED)
        trace_id = llc["traceparent"].split("-")[1]
        assert f'<code id="trace-id">{trace_id}</code>' in trace, "the flow's trace id"
        assert "legal bases" not in decisions, "audit details are for the privacy officer"
        when = re.search(r"<td>(\d{4}-\d\d-\d\d \d\d:\d\d:\d\d)</td>", decisions)
        assert when is not None, "a decision's moment to the second"
        assert not re.search(r"\d\d:\d\d\.\d{6}", decisions), "no microseconds"
        assert "page 1" not in decisions, "no pager while one page holds the list"
        later = (await console.get("/console/decisions", params={"page": "2"})).text
        assert "page 2" in later
        assert 'rel="prev" href="/console/decisions?page=1"' in later
        assert correlation[1] not in later, "the first page's rows are not on the second"
        wrongs = [
            ("decisions", {"page": "0"}),
            ("decisions", {"outcome": "BOGUS"}),
            ("labels", {"state": "bogus"}),
            ("dead-letters", {"state": "bogus"}),
        ]
        for where, wrong in wrongs:
            refused = await console.get(f"/console/{where}", params=wrong)
            assert refused.status_code == 422, (where, wrong)
            assert refused.headers["content-type"].startswith("application/problem+json")
        for where in ("labels", "dead-letters"):
            listed = await console.get(f"/console/{where}", params={"state": ""})
            assert listed.status_code == 200, "an empty filter is no filter"
        every = (await console.get("/console/decisions", params={"outcome": ""})).text
        assert correlation[1] in every, "an empty filter is no filter"
        report = await console.get("/console/report", params={"subject": "psn-x"})
        assert report.status_code == 403
        for page in (flows, decisions, trace, (await console.get("/console/labels")).text):
            _clean(page)


async def test_a_partner_sees_only_its_own_paths(chain: Chain) -> None:
    async with _console(chain, "fivoor") as console:
        flows = (await console.get("/console/flows")).text
        assert "<td>llz:fivoor</td>" in flows
        assert "gemeente:GM0363" not in flows
        connectors = (await console.get("/console/connectors")).text
        assert "llc-communication" in connectors
        assert "injus-detentie" not in connectors


async def test_an_operator_pauses_and_resumes_a_connector_on_its_page(chain: Chain) -> None:
    async with _console(chain, "fivoor") as partner:
        page = (await partner.get("/console/connectors")).text
        assert 'id="pause-llc-communication"' not in page, "a partner does not pause"
        assert "<td>llc-communication</td><td>outbound</td><td>1.0.0</td>" in page
        form = {**(await _csrf(partner)), "why": "night move"}
        refused = await partner.post("/console/connectors/llc-communication/pause", data=form)
        assert refused.status_code == 403
    async with _console(chain, "ops") as console:
        form = {**(await _csrf(console)), "why": "the LLC moves its servers"}
        paused = await console.post("/console/connectors/llc-communication/pause", data=form)
        assert paused.status_code == 303
        page = (await console.get("/console/connectors")).text
        assert "by console:ops since " in page
        assert ": the LLC moves its servers" in page
        assert 'id="resume-llc-communication"' in page
        assert 'id="pause-injus-detentie"' not in page, "one that receives has no pause"
        async with _console(chain, "fivoor") as partner:
            seen = (await partner.get("/console/connectors")).text
        assert "<td>since " in seen, "a partner sees when its connector was paused"
        assert "None" not in seen
        assert "the LLC moves its servers" not in seen, "not who paused it or why"
        inbound = await console.post("/console/connectors/injus-detentie/pause", data=form)
        assert inbound.status_code == 409
        resumed = await console.post(
            "/console/connectors/llc-communication/resume", data=await _csrf(console)
        )
        assert resumed.status_code == 303
        page = (await console.get("/console/connectors")).text
        assert 'id="pause-llc-communication"' in page


async def test_a_privacy_officers_look_at_a_persons_report_is_audited(chain: Chain) -> None:
    subject = chain.subject(INCLUDED)
    async with _console(chain, "privacy") as console:
        report = await console.get("/console/report", params={"subject": subject})
        decisions = (await console.get("/console/decisions")).text
    assert report.status_code == 200
    assert "wgs-samenwerkingsverband" in report.text
    assert "legal bases" in decisions
    _clean(report.text)
    async with sessionmaker(chain.hub.engine)() as session:
        query = audit.AuditQuery(subjects=[subject], outcome="VIEWED")
        (viewed,) = [r async for r in audit.search(session, query)]
    assert viewed["sender"] == "urn:ketenhub:console:privacy"
    assert viewed["object"] == "disclosure report"


async def test_a_partner_sees_only_its_own_dead_letters_and_cannot_replay(chain: Chain) -> None:
    await chain.faults("gemeente", down=True)
    await chain.faults("llc", down=True)
    corrected = {"facility_code": "PI-VUG", "facility_name": "PI Vught"}  # the fixture's went
    await chain.send(
        "injus", {"kind": "START", "bsn": INCLUDED, "event_id": "CONSOLE-DLQ", **corrected}
    )

    async def both() -> bool:
        async with sessionmaker(chain.hub.engine)() as session:
            found = await dead_letters.find(session, LetterQuery())
        return {x.recipient for x in found} >= {"llz:fivoor", "gemeente:GM0363"}

    await wait_until(both, timeout_s=90)
    async with sessionmaker(chain.hub.engine)() as session:
        letters = {x.recipient: x.id for x in await dead_letters.find(session, LetterQuery())}
    async with _console(chain, "fivoor") as partner:
        listing = (await partner.get("/console/dead-letters")).text
        assert letters["llz:fivoor"][:12] in listing
        assert letters["gemeente:GM0363"][:12] not in listing
        other = await partner.get(f"/console/dead-letters/{letters['gemeente:GM0363']}")
        assert other.status_code == 404
        own = await partner.get(f"/console/dead-letters/{letters['llz:fivoor']}")
        assert own.status_code == 200
        assert 'id="replay"' not in own.text
        refused = await partner.post(
            f"/console/dead-letters/{letters['llz:fivoor']}/replay", data=await _csrf(partner)
        )
        assert refused.status_code == 403
        assert "operators replay them" in refused.json()["detail"], "the role refuses"
    async with _console(chain, "ops") as ops:
        page = (await ops.get(f"/console/dead-letters/{letters['gemeente:GM0363']}")).text
        _clean(page)
        assert 'id="replay"' in page
        assert "gave up after" in page


def _amsterdam(moment: dt.datetime | str) -> str:
    """The test's own reading of a moment in Amsterdam time, to the second."""
    when = dt.datetime.fromisoformat(moment) if isinstance(moment, str) else moment
    return when.astimezone(AMSTERDAM).strftime("%Y-%m-%d %H:%M:%S")


def _next(page: str) -> dict[str, list[str]]:
    """The query of the page's link to the next page."""
    found = re.search(r'rel="next" href="([^"]+)"', page)
    assert found is not None, "a next-page link"
    return parse_qs(urlsplit(html.unescape(found[1])).query)


async def _dead_letters(
    chain: Chain,
    recipient: str,
    count: int,
    failed_at: dt.datetime | None = None,
    history: tuple[Failure, ...] = (),
) -> set[str]:
    """``count`` open dead letters for ``recipient``, straight into the store; their ids."""
    now = failed_at or dt.datetime.now(dt.UTC)
    ids = set()
    async with sessionmaker(chain.hub.engine).begin() as session:
        for offset in range(count):
            source = Source(
                consumer=f"outbound.seeded-{recipient}",
                topic="seeded",
                partition=0,
                offset=offset,
                key=None,
                headers={},
                value=b"{}",
                recipient=recipient,
                subject="psn-seeded",
                event_type="nl.ketenhub.seeded",
            )
            error = RetryableError("the partner answered 503")
            ids.add(
                await dead_letters.record(
                    session, source, error, list(history), attempts=2, now=now
                )
            )
    return ids


def _letter_ids(page: str) -> set[str]:
    return set(re.findall(r'<a href="/console/dead-letters/([0-9a-f-]{36})">', page))


async def _disclosures(chain: Chain, subject: str, recipient: str, count: int) -> None:
    """``count`` disclosures about ``subject`` to ``recipient``, appended to the trail."""
    now = dt.datetime.now(dt.UTC)
    entries = [
        AuditEntry(
            event_id=f"seeded-{recipient}-{n}",
            event_type="nl.ketenhub.seeded",
            event_time=now,
            action=Action.DISCLOSE,
            sender="urn:ketenhub:partner:dji",
            subject=subject,
            object="seeded",
            outcome="PERMIT",
            correlation_id=f"seeded-{recipient}-{n}",
            recipient=recipient,
            flow="seeded",
            legal_bases=["seeded-basis"],
            disclosed_fields=["facility"],
        )
        for n in range(count)
    ]
    async with sessionmaker(chain.hub.engine).begin() as session:
        await audit.append(session, entries)


async def test_a_denial_reads_as_its_sentence_and_a_label_shows_its_reason(chain: Chain) -> None:
    now = dt.datetime.now(dt.UTC)
    denied = AuditEntry(
        event_id="console-deny",
        event_type="nl.ketenhub.seeded",
        event_time=now,
        action=Action.WITHHOLD,
        sender="urn:ketenhub:partner:dji",
        subject="psn-denied",
        object="seeded",
        outcome="DENY",
        correlation_id="console-deny",
        recipient="llz:fivoor",
        missing=["geen-grondslag-medisch"],
    )
    async with sessionmaker(chain.hub.engine).begin() as session:
        await audit.append(session, [denied])
        await labels.request(
            session,
            subject="psn-label",
            partner="politie",
            action=LabelAction.SET,
            reference=labels.new_reference(),
            delivery_id="console-label",
            record=None,
            now=now,
        )
        await labels.note_attempt(
            session, "console-label", attempt=1, detail="503 from the partner", now=now
        )
    async with _console(chain, "ops") as console:
        decisions = (await console.get("/console/decisions", params={"outcome": "DENY"})).text
        shown = (await console.get("/console/labels", params={"partner": "politie"})).text
    assert "Voor medische gegevens is er geen toestemming van de cliënt" in decisions
    assert ">geen-grondslag-medisch<" not in decisions, "the sentence, not the code"
    reason = "the set is on its way to the partner; attempt 1 failed: 503 from the partner"
    assert f"<td>{reason}</td>" in shown
    for page in (decisions, shown):
        _clean(page)


async def test_the_report_and_dead_letters_show_amsterdam_time_to_the_second(
    chain: Chain,
) -> None:
    winter = dt.datetime(2026, 1, 15, 11, 22, 33, 456789, tzinfo=dt.UTC)
    summer = dt.datetime(2026, 7, 15, 11, 22, 33, 456789, tzinfo=dt.UTC)
    assert (_amsterdam(winter), _amsterdam(summer)) == (
        "2026-01-15 12:22:33",
        "2026-07-15 13:22:33",
    )
    tried = Failure(attempt=1, at=summer.isoformat(), error="retryable", detail="503")
    (letter,) = await _dead_letters(chain, "politie", 1, failed_at=winter, history=(tried,))
    subject = chain.subject(INCLUDED)
    async with sessionmaker(chain.hub.engine)() as session:
        query = audit.AuditQuery(subjects=[subject])
        stored = [r["recorded_at"] async for r in audit.search(session, query)]
    async with _console(chain, "privacy") as console:
        listing = (
            await console.get(
                "/console/dead-letters", params={"state": "all", "partner": "politie"}
            )
        ).text
        one = (await console.get(f"/console/dead-letters/{letter}")).text
        report = (await console.get("/console/report", params={"subject": subject})).text
    assert f"<td>{_amsterdam(winter)}</td>" in listing
    assert f"<td>{_amsterdam(winter)}</td>" in one, "failed at"
    assert f"<td>{_amsterdam(summer)}</td>" in one, "the attempt, in summer time"
    assert any(f"<td>{_amsterdam(moment)}</td>" in report for moment in stored)
    for page in (listing, one, report):
        assert not ISO_UTC.search(page), ISO_UTC.search(page)
        _clean(page)


async def test_dead_letters_filter_by_partner_across_pages(chain: Chain) -> None:
    fivoor = await _dead_letters(chain, "llz:fivoor", paging.PAGE_SIZE + 3)
    gemeente = await _dead_letters(chain, "gemeente:GM0363", paging.PAGE_SIZE + 3)
    async with _console(chain, "ops") as console:
        filtered = {"state": "open", "partner": "llz:fivoor"}
        first = (await console.get("/console/dead-letters", params=filtered)).text
        following = _next(first)
        assert following == {"state": ["open"], "partner": ["llz:fivoor"], "page": ["2"]}
        second = (await console.get("/console/dead-letters", params=following)).text
        everyone = (await console.get("/console/dead-letters")).text
    assert len(_letter_ids(first)) == paging.PAGE_SIZE
    assert _letter_ids(first) | _letter_ids(second) == fivoor
    assert "<td>gemeente:GM0363</td>" not in first + second
    assert _letter_ids(everyone) <= fivoor | gemeente
    assert _letter_ids(everyone) & gemeente, "without the filter, the other partner's too"
    async with _console(chain, "fivoor") as partner:
        asked = {"partner": "gemeente:GM0363"}
        own = (await partner.get("/console/dead-letters", params=asked)).text
    assert _letter_ids(own) <= fivoor, "a partner sees its own whatever it asks for"
    assert _letter_ids(own)


async def test_a_persons_report_filters_by_recipient_across_pages(chain: Chain) -> None:
    subject = chain.subject(INCLUDED)
    await _disclosures(chain, subject, "llz:fivoor", paging.PAGE_SIZE + 3)
    await _disclosures(chain, subject, "gemeente:GM0363", 2)
    async with _console(chain, "privacy") as console:
        chosen = {"subject": subject, "recipient": "gemeente:GM0363"}
        few = (await console.get("/console/report", params=chosen)).text
        first = (
            await console.get(
                "/console/report", params={"subject": subject, "recipient": "llz:fivoor"}
            )
        ).text
        following = _next(first)
        second = (await console.get("/console/report", params=following)).text
    assert following == {"subject": [subject], "recipient": ["llz:fivoor"], "page": ["2"]}
    assert "<td>llz:fivoor</td>" not in few
    assert few.count("<td>gemeente:GM0363</td>") >= 2
    assert 'rel="next"' not in few
    rows = first.count("<td>llz:fivoor</td>")
    assert rows == paging.PAGE_SIZE
    assert "<td>gemeente:GM0363</td>" not in first + second
    assert second.count("<td>llz:fivoor</td>") >= 3
    _clean(first)


async def test_connectors_filter_by_kind_and_partner_across_pages(
    chain: Chain, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A handful of connectors: pages of two, to see the pager keep the filter."""
    monkeypatch.setattr(paging, "PAGE_SIZE", 2)
    async with _console(chain, "ops") as console:
        first = (await console.get("/console/connectors", params={"kind": "outbound"})).text
        following = _next(first)
        second = (await console.get("/console/connectors", params=following)).text
        llz = (await console.get("/console/connectors", params={"partner": "llz:fivoor"})).text
    assert following == {"kind": ["outbound"], "page": ["2"]}
    kinds = re.findall(r"<td>(inbound|outbound|lookup)</td>", first + second)
    assert kinds == ["outbound"] * 4
    assert "llc-communication" in llz
    assert "gemeente-casusregisseur" not in llz
    assert "<td>inbound</td>" not in llz
