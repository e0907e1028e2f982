"""Console login through an organisation's own OpenID Connect provider: the
authorization-code flow with PKCE (S256), a state and a nonce, the ID token's signature
checked against the provider's JWKS and its claims (issuer, audience, expiry, nonce)
checked before anything of it is believed. One claim names the console role; an unknown
role, or none, gets no access. The result is the same :class:`Viewer` a local account
gets, so the pages and their checks stay as they are.

authlib builds the authorization request (PKCE challenge, query); joserfc (authlib's
successor to ``authlib.jose``) verifies the ID token.
"""

from __future__ import annotations

import datetime as dt
import hmac
import secrets
from dataclasses import dataclass
from typing import Any, cast

import httpx
from authlib.oauth2.rfc6749.parameters import prepare_grant_uri
from authlib.oauth2.rfc7636 import create_s256_code_challenge
from itsdangerous import BadSignature, URLSafeTimedSerializer
from joserfc import jwt
from joserfc.errors import JoseError
from joserfc.jwk import KeySet, KeySetSerialization

from hub.console.accounts import Role, Viewer
from hub.core.errors import AuthenticationError, ConfigurationError, Forbidden, RetryableError
from hub.schemas.partners import partner_kind
from hub.settings import ConsoleSettings

STATE_MAX_AGE_S = 600
"""A login at the provider must come back within ten minutes."""
ALGORITHMS = ["RS256", "PS256", "ES256", "EdDSA"]
"""Signatures by the provider's published keys only: no ``none``, no shared secret."""
LEEWAY_S = 60
MAX_NAME = 200


@dataclass(frozen=True)
class Provider:
    issuer: str
    authorization_endpoint: str
    token_endpoint: str
    jwks_uri: str


class OidcLogin:
    """The console's side of the flow: :meth:`start` sends the browser to the provider,
    :meth:`finish` turns the code it brings back into a viewer, or refuses."""

    def __init__(
        self,
        settings: ConsoleSettings,
        secret: bytes,
        transport: httpx.AsyncBaseTransport | None = None,
    ) -> None:
        if (
            settings.oidc_issuer is None
            or settings.oidc_client_id is None
            or settings.oidc_redirect_uri is None
        ):
            raise ConfigurationError("OIDC login needs an issuer, a client id and a redirect")
        self.settings = settings
        self.issuer = str(settings.oidc_issuer).rstrip("/")
        self.client_id = settings.oidc_client_id
        self.redirect_uri = str(settings.oidc_redirect_uri)
        self._signer = URLSafeTimedSerializer(secret, salt="ketenhub-console-oidc")
        self._transport = transport

    def _client(self, auth: httpx.Auth | None = None) -> httpx.AsyncClient:
        return httpx.AsyncClient(
            transport=self._transport, auth=auth, timeout=10, follow_redirects=False
        )

    async def _get_json(self, url: str) -> dict[str, Any]:
        try:
            async with self._client() as client:
                answer = await client.get(url)
                answer.raise_for_status()
                found = answer.json()
        except (httpx.HTTPError, ValueError) as error:
            raise RetryableError(f"the identity provider did not answer: {error}") from None
        if not isinstance(found, dict):
            raise RetryableError("the identity provider answered something else than JSON")
        return found

    async def provider(self) -> Provider:
        """The provider's endpoints, from its discovery document; its issuer must be ours."""
        found = await self._get_json(f"{self.issuer}/.well-known/openid-configuration")
        fields = ("issuer", "authorization_endpoint", "token_endpoint", "jwks_uri")
        if not all(isinstance(found.get(f), str) for f in fields):
            raise RetryableError("the identity provider's discovery document is incomplete")
        if found["issuer"].rstrip("/") != self.issuer:
            raise RetryableError(
                "the identity provider names another issuer: check HUB_CONSOLE__OIDC_ISSUER"
            )
        return Provider(*(found[f] for f in fields))

    async def start(self) -> tuple[str, str]:
        """The provider's authorization URL, and the signed state cookie that the callback
        checks (state, nonce and the PKCE verifier; HttpOnly, ten minutes)."""
        provider = await self.provider()
        state, nonce = secrets.token_urlsafe(32), secrets.token_urlsafe(32)
        verifier = secrets.token_urlsafe(48)
        url = prepare_grant_uri(
            provider.authorization_endpoint,
            self.client_id,
            "code",
            redirect_uri=self.redirect_uri,
            scope=self.settings.oidc_scopes,
            state=state,
            nonce=nonce,
            code_challenge=create_s256_code_challenge(verifier),
            code_challenge_method="S256",
        )
        cookie = self._signer.dumps({"state": state, "nonce": nonce, "verifier": verifier})
        return str(url), cookie

    async def finish(self, code: str, state: str, cookie: str, now: dt.datetime) -> Viewer:
        """The viewer the provider vouches for; AuthenticationError or Forbidden otherwise."""
        try:
            kept = self._signer.loads(cookie, max_age=STATE_MAX_AGE_S)
        except BadSignature:
            raise AuthenticationError("the login at the identity provider expired") from None
        if not hmac.compare_digest(str(kept["state"]), state):
            raise AuthenticationError("the login's state does not match: start again")
        provider = await self.provider()
        claims = await self._id_token(
            provider, code, str(kept["verifier"]), str(kept["nonce"]), now
        )
        return self.viewer(claims)

    async def _id_token(
        self, provider: Provider, code: str, verifier: str, nonce: str, now: dt.datetime
    ) -> dict[str, Any]:
        form = {
            "grant_type": "authorization_code",
            "code": code,
            "redirect_uri": self.redirect_uri,
            "code_verifier": verifier,
            "client_id": self.client_id,
        }
        secret = self.settings.oidc_client_secret
        auth = httpx.BasicAuth(self.client_id, secret.get_secret_value()) if secret else None
        try:
            async with self._client(auth) as client:
                answer = await client.post(provider.token_endpoint, data=form)
                tokens = answer.json() if answer.status_code == 200 else None
        except (httpx.HTTPError, ValueError) as error:
            raise RetryableError(f"the identity provider's token endpoint: {error}") from None
        if not isinstance(tokens, dict) or not isinstance(tokens.get("id_token"), str):
            raise AuthenticationError("the identity provider gave no ID token for this code")
        keys = await self._get_json(provider.jwks_uri)
        try:
            token = jwt.decode(
                tokens["id_token"],
                KeySet.import_key_set(cast(KeySetSerialization, keys)),
                ALGORITHMS,
            )
            jwt.JWTClaimsRegistry(
                now=int(now.timestamp()),
                leeway=LEEWAY_S,
                iss={"essential": True, "value": provider.issuer},
                aud={"essential": True, "value": self.client_id},
                sub={"essential": True},
                exp={"essential": True},
                iat={"essential": True},
                nonce={"essential": True, "value": nonce},
            ).validate(token.claims)
        except (JoseError, ValueError) as error:
            raise AuthenticationError(f"the ID token does not hold: {error}") from None
        audience = token.claims["aud"]
        if isinstance(audience, list) and token.claims.get("azp") != self.client_id:
            raise AuthenticationError("the ID token is for several clients, not issued to us")
        return token.claims

    def viewer(self, claims: dict[str, Any]) -> Viewer:
        """Map the claims onto a console viewer; fail closed on anything unclear."""
        raw = claims.get(self.settings.oidc_role_claim)
        values = [raw] if isinstance(raw, str) else raw if isinstance(raw, list) else []
        mapping = self.settings.oidc_roles or {role.value: role.value for role in Role}
        roles = {Role(mapping[v]) for v in values if isinstance(v, str) and v in mapping}
        if len(roles) != 1:
            why = "no console role" if not roles else "more than one console role"
            raise Forbidden(f"the identity provider gives this user {why}")
        (role,) = roles
        name = claims.get("preferred_username") or claims["sub"]
        if not isinstance(name, str) or not 0 < len(name) <= MAX_NAME:
            raise Forbidden("the identity provider gives this user no usable name")
        partner = None
        if role is Role.PARTNER:
            partner = claims.get(self.settings.oidc_partner_claim)
            try:
                partner_kind(partner if isinstance(partner, str) else "")
            except ValueError:
                raise Forbidden("a partner user needs a known partner in its claims") from None
        return Viewer(name=name, role=role, partner=partner)
