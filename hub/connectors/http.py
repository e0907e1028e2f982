"""For connectors that talk to a partner's HTTP JSON API: the settings every such
connector has, and one place that maps the partner's failures onto the error tree.

    timeouts, connection failures, 408, 425, 429, 5xx →  RetryableError
    any other 3xx or 4xx                              →  PermanentError
    409 (the partner has it already)                  →  delivered (``accept=ALREADY_THERE``)

No redirect is followed: a 3xx is the partner's answer. A ``Retry-After`` is not read:
the runtime's backoff decides when a retryable delivery goes again.
"""

from __future__ import annotations

import functools
import json as jsonlib
import ssl
from collections.abc import Mapping
from pathlib import Path
from typing import Any, ClassVar

from pydantic import Field, HttpUrl, SecretStr, model_validator

from hub import tracing
from hub.connectors.exchange import Headers, PartnerRequest, PartnerResponse, Transport
from hub.connectors.network import NetworkTransport
from hub.core.errors import PermanentError, RetryableError
from hub.secret_files import SecretFiles

RETRY_STATUSES = frozenset({408, 425, 429})
ALREADY_THERE = frozenset({409})
"""What a partner answers a delivery it has already (its idempotency key seen before):
a delivery settles with ``accept=ALREADY_THERE``, so the repeat after a crash counts as
delivered, not as a refusal (the kit's ``repeat-the-partner-has-is-delivered``)."""


class HttpApiConfig(SecretFiles):
    """Mix into a connector's config: ``class MyConfig(OutboundConfig, HttpApiConfig)``."""

    base_url: HttpUrl = Field(description="The partner's API, e.g. https://partner.example/api.")
    api_key: SecretStr | None = Field(None, description="Sent as a bearer token when set.")
    timeout_s: float = Field(
        5.0,
        gt=0,
        description="Longest one request may take: connecting, sending and the whole answer.",
    )
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

    On the network one aiohttp session, kept open, serves every call
    (:class:`~hub.connectors.network.NetworkTransport`): its connections are reused, where
    a client per call paid a new TCP (and TLS) connection for every delivery."""

    def __init__(self, config: HttpApiConfig, partner: str, transport: Transport | None):
        self._config = config
        self._partner = partner
        self.transport = transport
        self._network: NetworkTransport | None = None
        self._base = str(config.base_url).rstrip("/") + "/"
        self._headers = {"Accept": "application/json"}
        if config.api_key is not None:
            self._headers["Authorization"] = f"Bearer {config.api_key.get_secret_value()}"

    def _carrier(self) -> Transport:
        if self.transport is not None:
            return self.transport
        if self._network is None:
            tls = _tls_context(
                self._config.ca_file, self._config.client_cert, self._config.client_key
            )
            self._network = NetworkTransport(timeout_s=self._config.timeout_s, tls=tls)
        return self._network

    async def aclose(self) -> None:
        """Close the connections to the partner (a fake partner is the test's to close)."""
        if self._network is not None:
            await self._network.aclose()

    async def call(
        self,
        method: str,
        path: str,
        *,
        json: Any = None,
        content: bytes | str | None = None,
        headers: Mapping[str, str] | None = None,
    ) -> PartnerResponse:
        """The response, whatever its status; a network failure is a RetryableError.

        ``path`` is relative to ``base_url``; the body is ``json`` (sent as compact UTF-8
        JSON, ``application/json``) or ``content`` as it is, with your ``Content-Type``."""
        pairs = list(self._headers.items())
        if json is not None:
            body = _compact(json)
            pairs.append(("Content-Type", "application/json"))
        else:
            body = content.encode() if isinstance(content, str) else content or b""
        if headers:
            pairs.extend(headers.items())
        trace: dict[str, str] = {}
        tracing.inject(trace)
        pairs.extend(trace.items())
        request = PartnerRequest(method, self._base + path.lstrip("/"), Headers(pairs), body)
        carrier = self._carrier()
        try:
            return await carrier.send(request)
        except TimeoutError:
            raise RetryableError(f"{self._partner} did not answer in time") from None
        except OSError as exc:
            cause = type(exc.__cause__ or exc).__name__  # the name only: a message may hold the URL
            raise RetryableError(f"{self._partner} unreachable: {cause}") from None

    def settle(self, response: PartnerResponse, *, accept: frozenset[int] = frozenset()) -> None:
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


def _compact(body: Any) -> bytes:
    """JSON as httpx encoded it, so partners see the same bytes as before."""
    return jsonlib.dumps(body, ensure_ascii=False, separators=(",", ":"), allow_nan=False).encode()


class HttpPartnerApi:
    """Mix into a connector whose config mixes in :class:`HttpApiConfig`, before the
    connector base (``class Mine(HttpPartnerApi, OutboundConnector[MyConfig])``): it gives
    ``self.api()`` for the calls and a ``check()`` that probes ``health_path``."""

    name: ClassVar[str]
    config: Any
    transport: Transport | None = None
    """Set by tests to a fake partner (``hub.connectors.testing.MockTransport``); None
    uses the network."""
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
