"""The console's login and sessions, in process (no broker, no server): throttling and
lockout, the password check off the event loop, server-side sessions that logout and
expiry revoke, CSRF and Origin checks on every POST, Secure cookies, and bounded query
parameters. Everything runs on the shipped :class:`ConsoleSettings` defaults; the test
clock moves instead of waiting."""

from __future__ import annotations

import asyncio
import re
import threading
from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any, cast

import anyio.to_thread
import httpx
import pytest
from argon2 import PasswordHasher
from fastapi import FastAPI
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker

from hub.console import accounts
from hub.console.accounts import Role
from hub.console.web import COOKIE, console_router
from hub.core.errors import ContractError
from hub.ops_api import Readiness, make_ops_app
from hub.routing.replay import Replayer
from hub.settings import ConsoleSettings
from hub.state import audit
from hub.state.database import make_engine, migrate, sessionmaker
from hub.state.tables import ConsoleSession
from tests.clock import ManualClock

BASE = "https://console.example"
SAME_ORIGIN = {"Origin": BASE}
PASSWORD = "correct-horse-battery-staple"
WRONG = "not-the-password-at-all"
DEFAULTS = ConsoleSettings()


@dataclass
class Console:
    app: FastAPI
    sessions: async_sessionmaker[AsyncSession]
    clock: ManualClock

    @asynccontextmanager
    async def client(
        self, source: str = "203.0.113.9", base_url: str = BASE
    ) -> AsyncIterator[httpx.AsyncClient]:
        """A browser at ``source``: it sends its own Origin on a POST, as browsers do."""
        transport = httpx.ASGITransport(app=self.app, client=(source, 40000))
        async with httpx.AsyncClient(transport=transport, base_url=base_url) as client:
            yield client

    async def audited(self, outcome: str) -> list[dict[str, Any]]:
        async with self.sessions() as session:
            query = audit.AuditQuery(outcome=outcome)
            return [row async for row in audit.search(session, query)]


async def _ready() -> Readiness:
    return Readiness(checks={})


async def _no_send(*_: object) -> None:
    raise AssertionError("nothing is sent in these tests")


def _app(
    sessions: async_sessionmaker[AsyncSession], clock: ManualClock, settings: ConsoleSettings
) -> FastAPI:
    router = console_router(
        sessions,
        settings,
        list,
        replayer=cast(Replayer, None),  # no dead letters exist: the replayer is never asked
        send=_no_send,
        clock=clock,
    )
    return make_ops_app(_ready, "test", [router])


@pytest.fixture(autouse=True)
def _cheap_argon2(monkeypatch: pytest.MonkeyPatch) -> None:
    """argon2 at its lowest cost: these tests check dozens of passwords, and the login's
    limits, not argon2's cost, are what they test (the shipped cost is ~0.3 s a check on
    this machine's two busy cores)."""
    cheap = PasswordHasher(time_cost=1, memory_cost=8, parallelism=1)
    monkeypatch.setattr(accounts, "_hasher", cheap)
    monkeypatch.setattr(accounts, "_DUMMY", cheap.hash("not-a-password-anyone-has"))


async def _console(engine: AsyncEngine) -> Console:
    sessions = sessionmaker(engine)
    async with sessions.begin() as session:
        await accounts.create(session, "ops", PASSWORD, Role.OPERATOR)
        await accounts.create(session, "fivoor", PASSWORD, Role.PARTNER, "llz:fivoor")
    clock = ManualClock()
    return Console(_app(sessions, clock, DEFAULTS), sessions, clock)


@pytest.fixture
async def console(tmp_path: Path) -> AsyncIterator[Console]:
    """On SQLite: the throttle's locking is tested on PostgreSQL too (``both``)."""
    engine = make_engine(f"sqlite+aiosqlite:///{tmp_path}/hub.db")
    await migrate(engine)
    yield await _console(engine)
    await engine.dispose()


@pytest.fixture
async def both(engine: AsyncEngine) -> Console:
    return await _console(engine)


async def _log_in(client: httpx.AsyncClient, user: str = "ops", password: str = PASSWORD) -> str:
    """Log in; the page's CSRF token."""
    answer = await client.post(
        "/console/login", data={"username": user, "password": password}, headers=SAME_ORIGIN
    )
    assert answer.status_code == 303, answer.text
    return _csrf((await client.get("/console/flows")).text)


def _csrf(page: str) -> str:
    found = re.search(r'name="csrf" value="([0-9a-f]{64})"', page)
    assert found is not None, "every page with a form carries the session's CSRF token"
    return found[1]


async def _attempt(client: httpx.AsyncClient, user: str, password: str) -> httpx.Response:
    return await client.post(
        "/console/login", data={"username": user, "password": password}, headers=SAME_ORIGIN
    )


async def test_a_locked_account_refuses_even_the_right_password_until_the_lockout_ends(
    both: Console, no_personal_data_in_logs: Any
) -> None:
    console = both
    async with console.client() as client:
        for _ in range(DEFAULTS.login_max_failures):
            assert (await _attempt(client, "ops", WRONG)).status_code == 401
        locked = await _attempt(client, "ops", PASSWORD)
        assert locked.status_code == 429, "the right password does not open a locked account"
        assert COOKIE not in locked.cookies
        assert int(locked.headers["Retry-After"]) == DEFAULTS.lockout_s
        console.clock.advance(DEFAULTS.lockout_s - 1)
        still = await _attempt(client, "ops", PASSWORD)
        assert still.status_code == 429
        assert still.headers["Retry-After"] == "1", "a knock on the lock does not extend it"
        console.clock.advance(1)
        assert (await _attempt(client, "ops", PASSWORD)).status_code == 303, "lockout over"
    failed = await console.audited(audit.AuditOutcome.LOGIN_FAILED)
    assert len(failed) == DEFAULTS.login_max_failures
    assert {row["sender"] for row in failed} == {"urn:ketenhub:console:ops"}
    assert all("203.0.113.9" in row["object"] for row in failed)
    (lockout,) = await console.audited(audit.AuditOutcome.LOCKED_OUT)
    assert lockout["object"].startswith("account ops locked out")
    logged = "\n".join(no_personal_data_in_logs.lines)
    assert "console_login_locked" in logged
    assert WRONG not in logged, "never a password in the logs"
    assert PASSWORD not in logged
    assert not [row for row in failed if WRONG in str(row) or PASSWORD in str(row)]


async def test_one_source_locks_a_few_accounts_then_itself_not_everyone(
    console: Console,
) -> None:
    """The per-source limit bounds how many accounts one address can lock: after
    ``login_source_max_failures`` failures the address itself is locked out, and the
    other accounts still log in from elsewhere."""
    names = ["ops", "nobody-1", "nobody-2", "nobody-3"]
    assert len(names) * DEFAULTS.login_max_failures == DEFAULTS.login_source_max_failures
    async with console.client("198.51.100.7") as attacker:
        for name in names:
            for _ in range(DEFAULTS.login_max_failures):
                assert (await _attempt(attacker, name, WRONG)).status_code == 401
        assert (await _attempt(attacker, "fivoor", PASSWORD)).status_code == 429
    async with console.client("203.0.113.9") as elsewhere:
        assert (await _attempt(elsewhere, "fivoor", PASSWORD)).status_code == 303
    lockouts = [row["object"] for row in await console.audited(audit.AuditOutcome.LOCKED_OUT)]
    assert any(o.startswith("source address 198.51.100.7 locked out") for o in lockouts)
    assert sum(o.startswith("account (unknown)") for o in lockouts) == 3
    assert not [o for o in lockouts if "nobody" in o], "typed unknown names are not recorded"


class _HeldHasher:
    """A stand-in for argon2 that holds every check until the test lets it go, and notes
    the threads it ran in and how many ran at once."""

    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.running = 0
        self.most = 0
        self.threads: set[int] = set()
        self.started = threading.Event()
        self.release = threading.Event()
        self.finished = 0

    def verify(self, _stored: str, _password: str) -> bool:
        with self.lock:
            self.running += 1
            self.most = max(self.most, self.running)
            self.threads.add(threading.get_ident())
        self.started.set()
        self.release.wait(timeout=5)  # on the event loop this would block it for 5 s
        with self.lock:
            self.running -= 1
            self.finished += 1
        return False


@pytest.fixture
def held(monkeypatch: pytest.MonkeyPatch) -> Iterator[_HeldHasher]:
    hasher = _HeldHasher()
    monkeypatch.setattr(accounts, "_hasher", hasher)
    yield hasher
    hasher.release.set()


async def test_a_password_check_does_not_block_the_event_loop(
    console: Console, held: _HeldHasher
) -> None:
    async with console.client() as client:
        login = asyncio.create_task(_attempt(client, "ops", WRONG))
        assert await anyio.to_thread.run_sync(held.started.wait, 5)
        health = await client.get("/healthz")
        assert health.status_code == 200
        assert held.finished == 0, "/healthz answered while the password check still ran"
        held.release.set()
        assert (await login).status_code == 401
    assert threading.get_ident() not in held.threads, "argon2 runs in a worker thread"


async def test_a_flood_of_logins_hashes_at_most_a_few_at_once(
    console: Console, held: _HeldHasher
) -> None:
    async with console.client() as client:
        logins = [
            asyncio.create_task(_attempt(client, f"user-{n}", WRONG))
            for n in range(DEFAULTS.max_concurrent_hashes + 3)
        ]
        assert await anyio.to_thread.run_sync(held.started.wait, 5)
        await asyncio.sleep(0.3)  # time for unbounded checks to start (none may)
        assert held.running == DEFAULTS.max_concurrent_hashes
        held.release.set()
        answers = await asyncio.gather(*logins)
    assert {a.status_code for a in answers} == {401}
    assert held.most == DEFAULTS.max_concurrent_hashes


@pytest.mark.parametrize("name", ["", " ", "a b", "a b<script>", "-ops", "x" * 65, "ops\n"])
async def test_an_account_needs_a_name_that_reads_as_one(console: Console, name: str) -> None:
    """What an account settles is signed api:<name>: an empty or odd name was taken."""
    async with console.sessions.begin() as session:
        with pytest.raises(ContractError, match="login name") as refused:
            await accounts.create(session, name, PASSWORD, Role.OPERATOR)
    assert refused.value.field == "username"


async def test_an_account_name_may_be_an_address(console: Console) -> None:
    async with console.sessions.begin() as session:
        await accounts.create(session, "j.de-vries_2@ggz.example", PASSWORD, Role.OPERATOR)


async def test_logout_revokes_the_session_wherever_the_cookie_went(console: Console) -> None:
    async with console.client() as browser, console.client("192.0.2.1") as thief:
        csrf = await _log_in(browser)
        token = browser.cookies[COOKIE]
        thief.cookies.set(COOKIE, token, domain="console.example")
        assert (await thief.get("/console/flows")).status_code == 200
        async with console.sessions() as session:
            stored = list(await session.scalars(select(ConsoleSession)))
        assert len(stored) == 1
        assert token not in {stored[0].token_hash, stored[0].username}, "stored hashed"
        out = await browser.post("/console/logout", data={"csrf": csrf}, headers=SAME_ORIGIN)
        assert out.status_code == 303
        copied = await thief.get("/console/flows")
        assert copied.status_code == 303, "a copied cookie dies with the logout"
        assert copied.headers["location"] == "/console/login"


async def test_a_session_ends_when_idle_and_at_its_absolute_age(console: Console) -> None:
    async with console.client() as client:
        await _log_in(client)
        console.clock.advance(DEFAULTS.session_idle_s)
        assert (await client.get("/console/flows")).status_code == 303, "idle expiry"
        await _log_in(client)
        step = DEFAULTS.session_idle_s - 60
        for _ in range(DEFAULTS.session_max_age_s // step):
            console.clock.advance(step)
        assert (await client.get("/console/flows")).status_code == 303, "absolute expiry"


async def test_a_cross_site_post_is_refused(console: Console) -> None:
    async with console.client() as client:
        csrf = await _log_in(client)
        replay = "/console/dead-letters/no-such-letter/replay"
        without_token = await client.post(replay, headers=SAME_ORIGIN)
        assert without_token.status_code == 403
        assert without_token.headers["content-type"] == "application/problem+json"
        wrong_token = await client.post(replay, data={"csrf": "0" * 64}, headers=SAME_ORIGIN)
        assert wrong_token.status_code == 403
        evil = {"Origin": "https://evil.example"}
        assert (await client.post(replay, data={"csrf": csrf}, headers=evil)).status_code == 403
        assert (await client.post(replay, data={"csrf": csrf})).status_code == 403, "no origin"
        referer = {"Referer": f"{BASE}/console/dead-letters/no-such-letter"}
        assert (await client.post(replay, data={"csrf": csrf}, headers=referer)).status_code == 404
        assert (
            await client.post(replay, data={"csrf": csrf}, headers=SAME_ORIGIN)
        ).status_code == (404), (
            "with the token and its own origin the request passes (and finds no letter)"
        )
        out = await client.post("/console/logout", headers=SAME_ORIGIN)
        assert out.status_code == 403, "logout is a POST like any other"
        assert (await client.get("/console/flows")).status_code == 200, "still logged in"
    async with console.client() as other:
        login = await other.post(
            "/console/login", data={"username": "ops", "password": PASSWORD}, headers=evil
        )
        assert login.status_code == 403
        assert COOKIE not in login.cookies


@pytest.mark.parametrize("base_url", [BASE, "http://127.0.0.1:8480"])
async def test_the_session_cookie_is_secure_by_default(console: Console, base_url: str) -> None:
    async with console.client(base_url=base_url) as client:
        answer = await client.post(
            "/console/login",
            data={"username": "ops", "password": PASSWORD},
            headers={"Origin": base_url},
        )
    assert answer.status_code == 303
    cookie = answer.headers["set-cookie"].lower()
    for flag in ("secure", "httponly", "samesite=strict", "path=/console"):
        assert flag in cookie, flag


async def test_the_secure_flag_can_be_turned_off_for_plain_http(console: Console) -> None:
    plain = _app(console.sessions, console.clock, ConsoleSettings(secure_cookie=False))
    transport = httpx.ASGITransport(app=plain, client=("127.0.0.1", 40000))
    async with httpx.AsyncClient(transport=transport, base_url="http://hub.lan") as client:
        answer = await client.post(
            "/console/login",
            data={"username": "ops", "password": PASSWORD},
            headers={"Origin": "http://hub.lan"},
        )
        assert answer.status_code == 303
        assert "secure" not in answer.headers["set-cookie"].lower()
        assert (await client.get("/console/flows")).status_code == 200


async def test_the_decisions_window_is_bounded(console: Console) -> None:
    async with console.client() as client:
        await _log_in(client)
        for hours in ["1e12", "-1", "0", "nan", "inf", "-inf", "x"]:
            answer = await client.get("/console/decisions", params={"hours": hours})
            assert answer.status_code == 422, hours
            assert answer.headers["content-type"] == "application/problem+json"


async def test_every_console_query_parameter_is_bounded(console: Console) -> None:
    long = "x" * 10_000
    async with console.client() as client:
        await _log_in(client)
        assert (await client.get("/console/decisions", params={"hours": "48"})).status_code == 200
        for path, name in [
            ("/console/decisions", "outcome"),
            ("/console/decisions", "partner"),
            ("/console/decisions", "rule"),
            ("/console/flows", "window"),
            ("/console/trace", "correlation_id"),
            ("/console/report", "subject"),
            ("/console/dead-letters", "state"),
        ]:
            answer = await client.get(path, params={name: long})
            assert answer.status_code == 422, (path, name)
        assert (await client.get(f"/console/dead-letters/{long}")).status_code == 422
        assert (await _attempt(client, long, PASSWORD)).status_code == 422
        assert (await _attempt(client, "ops", long)).status_code == 422
    async with console.sessions.begin() as session:
        with pytest.raises(ContractError, match="12 to 200 characters"):
            await accounts.create(session, "long", "x" * 201, Role.OPERATOR)
