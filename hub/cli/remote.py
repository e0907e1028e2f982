"""The CLI as a client of a running hub's management API (``/api/v1``).

``hub login`` signs in with a console account and keeps the token in the data
directory (``cli-session.json``, readable by its owner only); from then on the commands
that act on dead letters and connectors go through the hub, under that account's role
and with its name on what they settle, and ``hub logout`` ends the session. Without a
login the commands work on the state store directly, as on a hub machine.

Anything the CLI cannot trust ends the command with one line and exit code 2, never a
traceback and never a silent fall-back to the local store: a hub that does not answer,
a session that has ended, a session file it cannot read, an answer that is not the
management API's. ``hub login`` asks the address for the hub's OpenAPI document before
it sends a password there.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import json
import os
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, Generic, TypeVar
from urllib.parse import urlsplit

from pydantic import BaseModel, ConfigDict, TypeAdapter, ValidationError

from hub.cli.endpoints import endpoints_path
from hub.cli.failure import failed
from hub.settings import HubSettings

if TYPE_CHECKING:
    import httpx

# httpx is imported where a call is made: the commands that never call pay nothing
# for it (about 0.1 s).
TIMEOUT_S = 30.0
"""A replay decides and sends before it answers: generous, but never a hang."""
T = TypeVar("T")
Item = TypeVar("Item", bound=BaseModel)


class LetterSummary(BaseModel):
    """The fields the CLI reads; the rest of the API's summary is kept for ``--json``."""

    model_config = ConfigDict(extra="allow")
    id: str
    state: str
    recipient: str | None
    attempts: int
    held_behind: int
    reason: str
    detail: str


class LabelRow(BaseModel):
    """A client's label at a partner, as ``hub labels status`` shows it from either
    source (the API, or the store on a hub machine)."""

    subject: str
    partner: str
    state: str
    asked: str
    attempts: int
    resends: int
    reason: str
    requested_at: dt.datetime
    updated_at: dt.datetime
    incomplete: bool


class Page(BaseModel, Generic[Item]):
    items: list[Item]
    more: bool


class ReplayAnswer(BaseModel):
    letter: LetterSummary
    verdict: str
    explanation: str
    state: str | None


class ShownLetter(BaseModel):
    letter: dict[str, Any]


class PauseInfo(BaseModel):
    paused_at: str
    paused_by: str | None = None
    why: str | None = None


class ConnectorState(BaseModel):
    name: str
    kind: str
    version: str = "?"  # a hub of 0.1.0 before its API said it
    partner: str
    topics: list[str] = []
    health: str
    held: int
    paused: PauseInfo | None


class PausedAnswer(BaseModel):
    paused: PauseInfo


class DueAnswer(BaseModel):
    due_now: int


class SessionAnswer(BaseModel):
    token: str
    account: str
    role: str


class KeptSession(BaseModel):
    url: str
    token: str
    account: str


def session_path(settings: HubSettings) -> Path:
    return settings.data_dir / "cli-session.json"


def running_hub_url(settings: HubSettings) -> str | None:
    """The HTTP address of a `hub up` in this data directory, if one wrote it."""
    try:
        return str(json.loads(endpoints_path(settings).read_text())["http"])
    except (OSError, ValueError, KeyError, TypeError):
        return None


def _shaped(shape: type[T], value: Any, url: str) -> T:
    """``value`` as ``shape``; an answer of another shape is not the management API's."""
    try:
        return TypeAdapter(shape).validate_python(value)
    except ValidationError:
        raise failed(f"{url} did not answer as a Ketenhub hub's management API") from None


@dataclass(frozen=True)
class Remote:
    """A signed-in session on a hub's management API."""

    url: str
    token: str
    account: str

    def call(
        self,
        shape: type[T],
        method: str,
        path: str,
        *,
        params: dict[str, Any] | None = None,
        body: dict[str, Any] | None = None,
    ) -> T:
        """The JSON answer, checked to be of ``shape``; a refusal (problem+json), a hub
        that does not answer or an answer of another shape ends the command."""
        answer = _send(
            method,
            self.url,
            f"/api/v1{path}",
            params={k: v for k, v in (params or {}).items() if v is not None},
            json=body,
            headers={"Authorization": f"Bearer {self.token}"},
        )
        if answer.status_code == 401:
            raise failed("the session has ended: run `hub login` again")
        if answer.status_code >= 400:
            raise failed(_problem_text(answer))
        return _shaped(shape, _json(answer, self.url), self.url)

    def listed(
        self, shape: type[Item], path: str, params: dict[str, Any], limit: int
    ) -> list[Item]:
        """The items of a paged list, page by page, up to ``limit``."""
        items: list[Item] = []
        number = 1
        while len(items) < limit:
            page = self.call(Page[shape], "GET", path, params={**params, "page": number})  # type: ignore[valid-type]
            items += page.items
            if not page.more:
                break
            number += 1
        return items[:limit]


def _send(
    method: str, url: str, path: str, *, unanswered: str = "", **request: Any
) -> httpx.Response:
    """One request to the hub at ``url``; one that does not reach it ends the command
    (saying ``unanswered`` after why)."""
    import httpx

    try:
        return httpx.request(method, f"{url}{path}", timeout=TIMEOUT_S, **request)
    except (httpx.HTTPError, httpx.InvalidURL) as error:
        raise failed(
            f"the hub at {url} does not answer ({type(error).__name__}){unanswered}"
        ) from None


def _json(answer: httpx.Response, url: str) -> Any:
    try:
        return answer.json()
    except ValueError:
        raise failed(f"{url} did not answer as a Ketenhub hub's management API") from None


def _problem_text(answer: httpx.Response) -> str:
    try:
        problem = answer.json()
        return str(problem.get("detail") or problem.get("title"))
    except (ValueError, AttributeError):
        return f"the hub answered {answer.status_code}"


class Damaged(Exception):
    """The session file is there but holds no session."""


def _kept(path: Path) -> KeptSession | None:
    try:
        text = path.read_text()
    except FileNotFoundError:
        return None
    except OSError as error:
        raise Damaged(error.strerror) from None
    try:
        return TypeAdapter(KeptSession).validate_json(text)
    except ValidationError:
        raise Damaged("not a session") from None


def signed_in(settings: HubSettings) -> Remote | None:
    """The session `hub login` left, if any; a file that is there but cannot be read
    ends the command (it must not be taken for no login)."""
    path = session_path(settings)
    try:
        kept = _kept(path)
    except Damaged as error:
        raise failed(
            f"the CLI session {path} cannot be used ({error}): run `hub login` again, "
            "or `hub logout` to remove it"
        ) from None
    if kept is None:
        return None
    return Remote(url=kept.url, token=kept.token, account=kept.account)


def hub_address(given: str) -> str:
    """``given`` as an http(s) address without credentials or a trailing slash."""
    url = given.strip().rstrip("/")
    try:
        parts = urlsplit(url)
        parts.port  # noqa: B018 (it raises for a port that is not a number)
    except ValueError:
        raise failed(f"{given!r} is not an address") from None
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise failed(f"{given!r} is not an http(s) address")
    if parts.username or parts.password:
        raise failed("give the address without a user name or password")
    return url


def sign_in(url: str, username: str, password: str) -> SessionAnswer:
    """POST /api/v1/sessions, once the address has shown it is a Ketenhub hub."""
    document = _send("GET", url, "/openapi.json")
    try:
        described = document.json() if document.status_code == 200 else None
    except ValueError:
        described = None
    paths = described.get("paths", {}) if isinstance(described, dict) else {}
    if "/api/v1/sessions" not in paths:
        raise failed(f"{url} is not a Ketenhub hub (no management API); no password was sent")
    credentials = {"username": username, "password": password}
    answer = _send("POST", url, "/api/v1/sessions", json=credentials)
    if answer.status_code != 201:
        raise failed(_problem_text(answer))
    return _shaped(SessionAnswer, _json(answer, url), url)


def keep(settings: HubSettings, url: str, given: SessionAnswer) -> Path:
    """Write the session for the next commands, readable by its owner only."""
    path = session_path(settings)
    path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
    kept = KeptSession(url=url, token=given.token, account=given.account)
    with contextlib.suppress(FileNotFoundError):
        path.unlink()  # a file left by another user keeps its mode when overwritten
    descriptor = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(descriptor, "w") as file:
        file.write(kept.model_dump_json())
    return path


def forget(settings: HubSettings) -> Remote | None:
    """End the kept session at the hub and remove it. A hub that cannot be told ends
    the command and keeps the file, so that the logout can be tried again."""
    path = session_path(settings)
    try:
        kept = _kept(path)
    except Damaged:
        path.unlink(missing_ok=True)  # it holds no session to end
        return None
    if kept is None:
        return None
    remote = Remote(url=kept.url, token=kept.token, account=kept.account)
    answer = _send(
        "DELETE",
        remote.url,
        "/api/v1/sessions",
        headers={"Authorization": f"Bearer {remote.token}"},
        unanswered=": the session was not ended there (it ends by itself after 30 minutes "
        "unused); try again",
    )
    if answer.status_code not in (204, 401):
        raise failed(f"the hub did not end the session: {_problem_text(answer)}")
    path.unlink(missing_ok=True)
    return remote
