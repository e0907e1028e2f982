"""One call to a partner's HTTP API as plain data: the request the hub sends, the answer
it gets, and the one-method interface that carries the one to the other.

Connectors and their tests see only these types, never the HTTP client's own, so the
client on the network (``hub.connectors.network``, aiohttp) and the fake partner of the
tests (``hub.connectors.testing.MockTransport``) are interchangeable.
"""

from __future__ import annotations

import json as jsonlib
from collections.abc import Iterable, Iterator, Mapping
from typing import Any, Protocol
from urllib.parse import urlsplit

_NO_BODY: Any = object()


class Headers(Mapping[str, str]):
    """Header names compare without regard to case, as HTTP has them; read-only."""

    __slots__ = ("_items",)

    def __init__(self, items: Mapping[str, str] | Iterable[tuple[str, str]] = ()) -> None:
        pairs = items.items() if isinstance(items, Mapping) else items
        self._items = {name.lower(): (name, value) for name, value in pairs}

    def __getitem__(self, name: str) -> str:
        return self._items[name.lower()][1]

    def __iter__(self) -> Iterator[str]:
        return (name for name, _ in self._items.values())

    def __len__(self) -> int:
        return len(self._items)

    def __repr__(self) -> str:
        return f"Headers({list(self)!r})"  # names only: values carry credentials


class PartnerRequest:
    """What the hub sends: the method, the whole URL, the headers, the body as bytes."""

    __slots__ = ("content", "headers", "method", "url")

    def __init__(self, method: str, url: str, headers: Mapping[str, str], content: bytes) -> None:
        self.method = method
        self.url = url
        self.headers = headers
        self.content = content

    @property
    def path(self) -> str:
        """The URL's path, ``/api/meldingen``."""
        return urlsplit(self.url).path

    def __repr__(self) -> str:
        return f"<PartnerRequest {self.method} {self.path}>"  # no query: it may hold a BSN


class PartnerResponse:
    """What the partner answered: the status, the headers, the whole body.

    In a fake partner: ``PartnerResponse(200, json={"ok": True})``, or ``content=b"..."``.
    """

    __slots__ = ("content", "headers", "status_code")

    def __init__(
        self,
        status_code: int,
        *,
        headers: Mapping[str, str] | None = None,
        content: bytes = b"",
        json: Any = _NO_BODY,
    ) -> None:
        self.status_code = status_code
        if json is not _NO_BODY:
            content = jsonlib.dumps(json).encode()
            headers = {"Content-Type": "application/json", **(headers or {})}
        self.headers: Mapping[str, str] = (
            headers if isinstance(headers, Headers) else Headers(headers or {})
        )
        self.content = content

    def json(self) -> Any:
        """The body as JSON. Partner JSON is better read with ``read_json``, which refuses
        what would exhaust the hub."""
        return jsonlib.loads(self.content)

    @property
    def text(self) -> str:
        return self.content.decode()

    def __repr__(self) -> str:
        return f"<PartnerResponse {self.status_code}>"


class Transport(Protocol):
    """Carries one request to the partner and brings its answer back.

    Raise ``TimeoutError`` when the partner did not answer in time and ``OSError`` (say
    ``ConnectionRefusedError``) when it could not be reached or broke its answer off; any
    answer, whatever its status, is a ``PartnerResponse``. A redirect is an answer: never
    follow one.

    Example, a partner that knows nobody::

        class NobodyHome:
            async def send(self, request: PartnerRequest) -> PartnerResponse:
                return PartnerResponse(404)

            async def aclose(self) -> None:
                pass
    """

    async def send(self, request: PartnerRequest) -> PartnerResponse: ...

    async def aclose(self) -> None:
        """Let go of the connections it holds."""
