"""For connectors that talk to a partner's HTTP JSON API: the settings every such
connector has, and one place that maps the partner's failures onto the error tree.

    timeouts, connection failures, 408, 425, 429, 5xx →  RetryableError
    any other 3xx or 4xx                              →  PermanentError
    409 (the partner has it already)                  →  delivered
"""

from __future__ import annotations

import asyncio
import functools
import ssl
from pathlib import Path
from typing import Any, ClassVar

import httpx
from pydantic import Field, HttpUrl, SecretStr, model_validator

from hub import tracing
from hub.core.errors import PermanentError, RetryableError
from hub.secret_files import SecretFiles

RETRY_STATUSES = frozenset({408, 425, 429})


class HttpApiConfig(SecretFiles):
    """Mix into a connector's config: ``class MyConfig(OutboundConfig, HttpApiConfig)``."""

    base_url: HttpUrl = Field(description="The partner's API, e.g. https://partner.example/api.")
    api_key: SecretStr | None = Field(None, description="Sent as a bearer token when set.")
    timeout_s: float = Field(5.0, gt=0, description="Longest one request may take.")
    client_cert: Path | None = Field(
        None, description="PEM certificate the hub shows the partner (mutual TLS)."
    )
    client_key: Path | None = Field(None, description="The private key of ``client_cert``.")
    ca_file: Path | None = Field(
        None, description="PEM bundle of the CAs trusted for this partner; the system's if unset."
    )

    @model_validator(mode="after")
    def _whole_certificate(self) -> HttpApiConfig:
        if (self.client_cert is None) != (self.client_key is None):
            raise ValueError("client_cert and client_key go together")
        return self


@functools.cache
def _tls_context(
    ca_file: Path | None, client_cert: Path | None, client_key: Path | None
) -> ssl.SSLContext:
    """One TLS context per partner setting: building one reads the CA bundle, which
    cost more than the call itself when every delivery made its own."""
    context = ssl.create_default_context(cafile=str(ca_file) if ca_file else None)
    if client_cert is not None:
        context.load_cert_chain(str(client_cert), str(client_key) if client_key else None)
    return context


class HttpApi:
    """One partner API. ``transport`` is None on the network, a fake partner in tests.

    One client, kept open, serves every call: its connections are reused, where a
    client per call paid a new TCP (and TLS) connection and the client's own set-up
    for every delivery."""

    def __init__(
        self, config: HttpApiConfig, partner: str, transport: httpx.AsyncBaseTransport | None
    ):
        self._config = config
        self._partner = partner
        self.transport = transport
        self._shared: httpx.AsyncClient | None = None
        self._loop: asyncio.AbstractEventLoop | None = None

    def _client(self) -> httpx.AsyncClient:
        loop = asyncio.get_running_loop()
        if self._shared is not None and self._loop is loop and not self._shared.is_closed:
            return self._shared
        headers = {"Accept": "application/json"}
        if self._config.api_key is not None:
            headers["Authorization"] = f"Bearer {self._config.api_key.get_secret_value()}"
        self._loop = loop
        self._shared = httpx.AsyncClient(
            base_url=str(self._config.base_url),
            headers=headers,
            timeout=self._config.timeout_s,
            transport=self.transport,
            verify=_tls_context(
                self._config.ca_file, self._config.client_cert, self._config.client_key
            ),
        )
        return self._shared

    async def aclose(self) -> None:
        if self._shared is not None and self._loop is asyncio.get_running_loop():
            await self._shared.aclose()
        self._shared = None

    async def call(self, method: str, path: str, **kwargs: Any) -> httpx.Response:
        """The response, whatever its status; a network failure is a RetryableError."""
        headers = dict(kwargs.pop("headers", None) or {})
        tracing.inject(headers)
        try:
            return await self._client().request(method, path, headers=headers, **kwargs)
        except httpx.TimeoutException:
            raise RetryableError(f"{self._partner} did not answer in time") from None
        except httpx.TransportError as exc:
            raise RetryableError(f"{self._partner} unreachable: {type(exc).__name__}") from None

    def settle(self, response: httpx.Response, *, accept: frozenset[int] = frozenset()) -> None:
        """Return for success (or a status in ``accept``); raise the categorised error."""
        status = response.status_code
        if status < 300 or status in accept:
            return
        if status >= 500 or status in RETRY_STATUSES:
            raise RetryableError(f"{self._partner} answered {status}")
        raise PermanentError(f"{self._partner} refused: {status}")

    async def check(self, path: str = "health") -> None:
        """A health probe: only a failure to answer, or a 5xx, counts as down."""
        response = await self.call("GET", path)
        if response.status_code >= 500:
            raise RetryableError(f"{self._partner} health answered {response.status_code}")


class HttpPartnerApi:
    """Mix into a connector whose config mixes in :class:`HttpApiConfig`, before the
    connector base (``class Mine(HttpPartnerApi, OutboundConnector[MyConfig])``): it gives
    ``self.api()`` for the calls and a ``check()`` that probes ``health_path``."""

    name: ClassVar[str]
    config: Any
    transport: httpx.AsyncBaseTransport | None = None
    """Set by tests to a fake partner; None uses the network."""
    api_name: ClassVar[str | None] = None
    """How errors name the partner ("politie answered 503"); the connector's name if unset."""
    health_path: ClassVar[str] = "health"

    def api(self) -> HttpApi:
        """The partner's API, one per connector (a new one when a test swaps the fake)."""
        cached: HttpApi | None = self.__dict__.get("_http_api")
        if cached is None or cached.transport is not self.transport:
            cached = HttpApi(self.config, self.api_name or self.name, self.transport)
            self.__dict__["_http_api"] = cached
        return cached

    async def close(self) -> None:
        cached: HttpApi | None = self.__dict__.get("_http_api")
        if cached is not None:
            await cached.aclose()

    async def check(self) -> None:
        await self.api().check(self.health_path)
