"""The transport to a partner on the network: one aiohttp session per partner API.

aiohttp, not httpx: a call costs about a sixth of the CPU (``scripts/http_client_cost.py``,
docs/performance.md), and the outbound connectors make one for every delivery. The
session is kept open, so its connections are reused; it is made in the event loop that
first calls, and again when a later call comes from another loop (the connector kit runs
each check in its own).

What the partner sees is what httpx sent before: no redirect is followed (a 3xx is the
partner's answer), no Content-Type is added to a body that has none, the TLS context is
the partner's (its CA bundle, the hub's client certificate), and a proxy named in the
environment is used. The environment is read once, when the session is made: aiohttp's
own ``trust_env`` looked for the proxy and a ``.netrc`` file in a thread on every call,
an eighth of the hub's CPU per intake (docs/performance.md). No ``.netrc`` is read; a
partner's credentials come from its connector's settings.
"""

from __future__ import annotations

import asyncio
import ssl
import urllib.request
from urllib.parse import urlsplit

import aiohttp

from hub.connectors.exchange import Headers, PartnerRequest, PartnerResponse


class NetworkTransport:
    """Calls over TCP (and TLS) with a time limit for the whole call: connecting,
    waiting for a connection from the pool, sending, and reading the answer to its end."""

    def __init__(self, *, timeout_s: float, tls: ssl.SSLContext) -> None:
        self._timeout = aiohttp.ClientTimeout(total=timeout_s)
        self._tls = tls
        self._session: aiohttp.ClientSession | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self._proxies: dict[str, str] = {}
        self._proxy_for: dict[tuple[str, str], str | None] = {}

    def _current(self) -> aiohttp.ClientSession:
        loop = asyncio.get_running_loop()
        if self._session is not None and self._loop is loop and not self._session.closed:
            return self._session
        self._loop = loop
        self._session = aiohttp.ClientSession(
            connector=aiohttp.TCPConnector(ssl=self._tls),
            timeout=self._timeout,
            # aiohttp labels a body without one application/octet-stream; httpx sent none.
            skip_auto_headers=("Content-Type",),
        )
        # An egress proxy from HTTPS_PROXY, HTTP_PROXY and NO_PROXY, as httpx took it.
        self._proxies = urllib.request.getproxies_environment()
        self._proxy_for = {}
        return self._session

    def _proxy(self, url: str) -> str | None:
        """The proxy for ``url``'s scheme and host, unless NO_PROXY exempts the host."""
        parts = urlsplit(url)
        where = (parts.scheme, parts.hostname or "")
        if where not in self._proxy_for:
            exempt = bool(where[1]) and bool(urllib.request.proxy_bypass(where[1]))
            self._proxy_for[where] = None if exempt else self._proxies.get(where[0])
        return self._proxy_for[where]

    async def send(self, request: PartnerRequest) -> PartnerResponse:
        """The partner's answer; TimeoutError past the time limit, an ``OSError`` (with
        aiohttp's error as its cause) when the partner could not be reached or broke off."""
        try:
            session = self._current()
            async with session.request(
                request.method,
                request.url,
                headers=request.headers,
                data=request.content or None,
                allow_redirects=False,
                proxy=self._proxy(request.url),
            ) as response:
                content = await response.read()
                return PartnerResponse(
                    response.status, headers=Headers(response.headers.items()), content=content
                )
        except (TimeoutError, OSError):
            raise
        except aiohttp.ClientError as error:  # disconnected, a broken answer: not an OSError
            raise ConnectionError(type(error).__name__) from error

    async def aclose(self) -> None:
        """Close the session and its connections (those of a loop that has gone with it)."""
        if self._session is not None and self._loop is asyncio.get_running_loop():
            await self._session.close()
        self._session = None
