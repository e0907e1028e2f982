"""The console's OIDC login against a fake identity provider in process (httpx
MockTransport: discovery, token endpoint, JWKS; no network). The provider checks the PKCE
verifier against the challenge as a real one does, and signs ID tokens with a test key;
each test bends one thing the console must refuse."""

from __future__ import annotations

import base64
import hashlib
import secrets
import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, cast
from urllib.parse import parse_qs, urlsplit

import httpx
import pytest
from fastapi import FastAPI
from joserfc import jwt
from joserfc.jwk import ECKey
from sqlalchemy.ext.asyncio import AsyncEngine

from hub.console.oidc import OidcLogin
from hub.console.web import COOKIE, console_router
from hub.ops_api import Readiness, make_ops_app
from hub.routing.replay import Replayer
from hub.settings import ConsoleSettings
from hub.state.database import make_engine, migrate, sessionmaker

BASE = "https://console.example"
ISSUER = "https://idp.example"
CLIENT = "ketenhub-console"
CLIENT_SECRET = "client-secret-for-tests"


@dataclass
class FakeIdP:
    """An OpenID provider that issues a code for any authorization request and an ID
    token for that code, if the PKCE verifier and the client's secret hold."""

    key: ECKey = field(default_factory=lambda: ECKey.generate_key("P-256", {"kid": "idp-1"}))
    claims: dict[str, Any] = field(
        default_factory=lambda: (
            {"sub": "u-1", "preferred_username": "anna"} | {"ketenhub_role": "operator"}
        )
    )
    token_overrides: dict[str, Any] = field(default_factory=dict)
    signing_key: ECKey | None = None
    codes: dict[str, dict[str, str]] = field(default_factory=dict)
    verified: list[str] = field(default_factory=list)

    def authorize(self, url: str) -> tuple[str, str]:
        """The user logs in at the provider: a code for the request, and its state."""
        asked = {k: v[0] for k, v in parse_qs(urlsplit(url).query).items()}
        assert url.startswith(f"{ISSUER}/authorize?")
        assert asked["response_type"] == "code"
        assert asked["client_id"] == CLIENT
        assert asked["code_challenge_method"] == "S256"
        code = secrets.token_urlsafe(16)
        self.codes[code] = asked
        return code, asked["state"]

    def handle(self, request: httpx.Request) -> httpx.Response:
        path = request.url.path
        if path == "/.well-known/openid-configuration":
            return httpx.Response(
                200,
                json={
                    "issuer": ISSUER,
                    "authorization_endpoint": f"{ISSUER}/authorize",
                    "token_endpoint": f"{ISSUER}/token",
                    "jwks_uri": f"{ISSUER}/jwks",
                },
            )
        if path == "/jwks":
            return httpx.Response(200, json={"keys": [self.key.as_dict(private=False)]})
        if path == "/token":
            return self._token(request)
        return httpx.Response(404)

    def _token(self, request: httpx.Request) -> httpx.Response:
        form = {k: v[0] for k, v in parse_qs(request.content.decode()).items()}
        basic = base64.b64encode(f"{CLIENT}:{CLIENT_SECRET}".encode()).decode()
        asked = self.codes.pop(form.get("code", ""), None)
        if asked is None or request.headers.get("authorization") != f"Basic {basic}":
            return httpx.Response(400, json={"error": "invalid_grant"})
        digest = hashlib.sha256(form["code_verifier"].encode()).digest()
        challenge = base64.urlsafe_b64encode(digest).rstrip(b"=").decode()
        if challenge != asked["code_challenge"] or form["redirect_uri"] != asked["redirect_uri"]:
            return httpx.Response(400, json={"error": "invalid_grant"})
        self.verified.append(form["code_verifier"])
        now = int(time.time())
        claims = {"iss": ISSUER, "aud": CLIENT, "iat": now, "exp": now + 300}
        claims |= {"nonce": asked["nonce"], **self.claims, **self.token_overrides}
        claims = {k: v for k, v in claims.items() if v is not None}
        key = self.signing_key or self.key
        token = jwt.encode({"alg": "ES256", "kid": "idp-1"}, claims, key)
        return httpx.Response(200, json={"id_token": token, "token_type": "Bearer"})


async def _ready() -> Readiness:
    return Readiness(checks={})


async def _no_send(*_: object) -> None:
    raise AssertionError("nothing is sent in these tests")


def _settings(**more: Any) -> ConsoleSettings:
    return ConsoleSettings.model_validate(
        {
            "oidc_issuer": ISSUER,
            "oidc_client_id": CLIENT,
            "oidc_client_secret": CLIENT_SECRET,
            "oidc_redirect_uri": f"{BASE}/console/oidc/callback",
            **more,
        }
    )


@dataclass
class Console:
    engine: AsyncEngine
    idp: FakeIdP

    def app(self, settings: ConsoleSettings) -> FastAPI:
        """The console (real-time clock: the ID token's times are the provider's now)."""
        oidc = OidcLogin(settings, b"k" * 32, httpx.MockTransport(self.idp.handle))
        router = console_router(
            sessionmaker(self.engine),
            settings,
            list,
            replayer=cast(Replayer, None),  # no dead letters here: never asked
            send=_no_send,
            oidc=oidc,
        )
        return make_ops_app(_ready, "test", [router])

    @asynccontextmanager
    async def browser(self, **settings: Any) -> AsyncIterator[httpx.AsyncClient]:
        transport = httpx.ASGITransport(app=self.app(_settings(**settings)))
        async with httpx.AsyncClient(transport=transport, base_url=BASE) as client:
            yield client


@pytest.fixture
async def engine(tmp_path: Path) -> AsyncIterator[AsyncEngine]:
    """SQLite only: the login's database work is the local login's, tested on both."""
    engine = make_engine(f"sqlite+aiosqlite:///{tmp_path}/hub.db")
    await migrate(engine)
    yield engine
    await engine.dispose()


@pytest.fixture
def console(engine: AsyncEngine) -> Console:
    return Console(engine, FakeIdP())


async def _round_trip(browser: httpx.AsyncClient, idp: FakeIdP) -> httpx.Response:
    """Start the login, log in at the provider, come back with the code."""
    start = await browser.get("/console/oidc/login")
    assert start.status_code == 303
    code, state = idp.authorize(start.headers["location"])
    return await browser.get("/console/oidc/callback", params={"code": code, "state": state})


async def _refused(browser: httpx.AsyncClient, answer: httpx.Response, status: int) -> None:
    assert answer.status_code == status, answer.text
    assert answer.headers["content-type"] == "application/problem+json"
    assert COOKIE not in answer.cookies
    assert (await browser.get("/console/flows")).status_code == 303, "no session"


async def test_a_user_of_the_organisations_provider_logs_in(console: Console) -> None:
    async with console.browser() as browser:
        login_page = (await browser.get("/console/login")).text
        assert 'href="/console/oidc/login"' in login_page
        back = await _round_trip(browser, console.idp)
        assert back.status_code == 200
        assert 'content="0;url=/console/flows"' in back.text
        assert "secure" in back.headers["set-cookie"].lower()
        flows = await browser.get("/console/flows")
        assert flows.status_code == 200
        assert "anna (operator)" in flows.text
    assert len(console.idp.verified) == 1, "the provider checked the PKCE verifier"


async def test_a_role_mapping_maps_a_group_and_nothing_else(console: Console) -> None:
    console.idp.claims["ketenhub_role"] = ["staff", "hub-privacy"]
    async with console.browser(oidc_roles={"hub-privacy": "privacy-officer"}) as browser:
        assert (await _round_trip(browser, console.idp)).status_code == 200
        assert "anna (privacy-officer)" in (await browser.get("/console/flows")).text
    console.idp.claims["ketenhub_role"] = "operator"  # the role's own name, not mapped
    async with console.browser(oidc_roles={"hub-privacy": "privacy-officer"}) as browser:
        await _refused(browser, await _round_trip(browser, console.idp), 403)


@pytest.mark.parametrize(
    "claims",
    [
        {"ketenhub_role": None},
        {"ketenhub_role": "admin"},
        {"ketenhub_role": ["operator", "privacy-officer"]},
        {"ketenhub_role": "partner"},
        {"ketenhub_role": "partner", "ketenhub_partner": "nobody"},
        {"ketenhub_role": {"operator": True}},
    ],
    ids=["no-role", "unknown-role", "two-roles", "partner-without-partner", "bad-partner", "odd"],
)
async def test_a_user_without_one_known_role_gets_no_access(
    console: Console, claims: dict[str, Any]
) -> None:
    console.idp.token_overrides = claims
    async with console.browser() as browser:
        await _refused(browser, await _round_trip(browser, console.idp), 403)


async def test_a_partner_user_sees_as_its_partner(console: Console) -> None:
    console.idp.token_overrides = {"ketenhub_role": "partner", "ketenhub_partner": "llz:fivoor"}
    async with console.browser() as browser:
        assert (await _round_trip(browser, console.idp)).status_code == 200
        assert "anna (partner, llz:fivoor)" in (await browser.get("/console/flows")).text


@pytest.mark.parametrize(
    "overrides",
    [
        {"nonce": "another-login"},
        {"aud": "another-client"},
        {"aud": [CLIENT, "another-client"]},
        {"iss": "https://evil.example"},
        {"exp": int(time.time()) - 3600},
        {"sub": None},
    ],
    ids=["nonce", "audience", "audiences-without-azp", "issuer", "expired", "no-subject"],
)
async def test_an_id_token_that_does_not_hold_is_refused(
    console: Console, overrides: dict[str, Any]
) -> None:
    console.idp.token_overrides = overrides
    async with console.browser() as browser:
        await _refused(browser, await _round_trip(browser, console.idp), 401)


async def test_an_id_token_signed_by_another_key_is_refused(console: Console) -> None:
    console.idp.signing_key = ECKey.generate_key("P-256", {"kid": "idp-1"})
    async with console.browser() as browser:
        await _refused(browser, await _round_trip(browser, console.idp), 401)


async def test_the_state_must_come_back_from_the_same_browser(console: Console) -> None:
    async with console.browser() as browser, console.browser() as other:
        start = await browser.get("/console/oidc/login")
        code, state = console.idp.authorize(start.headers["location"])
        wrong = await browser.get(
            "/console/oidc/callback", params={"code": code, "state": state[::-1]}
        )
        await _refused(browser, wrong, 401)
        elsewhere = await other.get("/console/oidc/callback", params={"code": code, "state": state})
        await _refused(other, elsewhere, 401)
        error = await browser.get("/console/oidc/callback", params={"error": "access_denied"})
        await _refused(browser, error, 401)


async def test_without_oidc_settings_there_is_no_oidc_login(engine: AsyncEngine) -> None:
    router = console_router(
        sessionmaker(engine), ConsoleSettings(), list, replayer=cast(Replayer, None), send=_no_send
    )
    transport = httpx.ASGITransport(app=make_ops_app(_ready, "test", [router]))
    async with httpx.AsyncClient(transport=transport, base_url=BASE) as browser:
        assert (await browser.get("/console/oidc/login")).status_code == 404
        assert "oidc" not in (await browser.get("/console/login")).text


def test_oidc_settings_come_whole() -> None:
    with pytest.raises(ValueError, match="oidc_client_id"):
        ConsoleSettings.model_validate({"oidc_issuer": ISSUER})
