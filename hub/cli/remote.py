"""The CLI as a client of a running hub's management API (``/api/v1``).

``hub login`` signs in with a console account and keeps the token in the data
directory (``cli-session.json``, readable by its owner only); from then on the commands
that act on dead letters and connectors go through the hub, under that account's role
and with its name on what they settle, and ``hub logout`` ends the session. Without a
login the commands work on the state store directly, as on a hub machine.

A hub that does not answer, or a session that has ended, ends the command with one line
and exit code 2: once signed in, the CLI never falls back to the local store behind the
operator's back.
"""

from __future__ import annotations

import contextlib
import json
import os
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import typer

from hub.cli.endpoints import endpoints_path
from hub.settings import HubSettings

if TYPE_CHECKING:
    import httpx

# httpx is imported where a call is made: the commands that never call pay nothing
# for it (about 0.1 s).
TIMEOUT_S = 30.0
"""A replay decides and sends before it answers: generous, but never a hang."""


def session_path(settings: HubSettings) -> Path:
    return settings.data_dir / "cli-session.json"


def running_hub_url(settings: HubSettings) -> str | None:
    """The HTTP address of a `hub up` in this data directory, if one wrote it."""
    try:
        return str(json.loads(endpoints_path(settings).read_text())["http"])
    except (OSError, ValueError, KeyError):
        return None


def _fail(message: str) -> typer.Exit:
    typer.secho(f"error: {message}", fg=typer.colors.RED, err=True)
    return typer.Exit(2)


@dataclass(frozen=True)
class Remote:
    """A signed-in session on a hub's management API."""

    url: str
    token: str
    account: str

    def call(
        self,
        method: str,
        path: str,
        *,
        params: dict[str, Any] | None = None,
        body: dict[str, Any] | None = None,
    ) -> Any:
        """The JSON answer; a refusal (problem+json) or a hub that does not answer ends
        the command with its reason."""
        import httpx

        headers = {"Authorization": f"Bearer {self.token}"}
        try:
            answer = httpx.request(
                method,
                f"{self.url}/api/v1{path}",
                params={k: v for k, v in (params or {}).items() if v is not None},
                json=body,
                headers=headers,
                timeout=TIMEOUT_S,
            )
        except httpx.HTTPError as error:
            raise _fail(f"the hub at {self.url} does not answer ({type(error).__name__})") from None
        if answer.status_code == 401:
            raise _fail("the session has ended: run `hub login` again")
        if answer.status_code >= 400:
            raise _fail(_problem_text(answer))
        return answer.json() if answer.content else None

    def pages(self, path: str, params: dict[str, Any], limit: int) -> list[dict[str, Any]]:
        """The items of a paged list, page by page, up to ``limit``."""
        items: list[dict[str, Any]] = []
        number = 1
        while len(items) < limit:
            page = self.call("GET", path, params={**params, "page": number})
            items += page["items"]
            if not page["more"]:
                break
            number += 1
        return items[:limit]


def _problem_text(answer: httpx.Response) -> str:
    try:
        problem = answer.json()
        return str(problem.get("detail") or problem.get("title"))
    except ValueError:
        return f"the hub answered {answer.status_code}"


def signed_in(settings: HubSettings) -> Remote | None:
    """The session `hub login` left, if any."""
    try:
        kept = json.loads(session_path(settings).read_text())
        return Remote(url=kept["url"], token=kept["token"], account=kept["account"])
    except (OSError, ValueError, KeyError):
        return None


def sign_in(url: str, username: str, password: str) -> dict[str, Any]:
    """POST /api/v1/sessions: the token and the account's role."""
    import httpx

    try:
        answer = httpx.post(
            f"{url}/api/v1/sessions",
            json={"username": username, "password": password},
            timeout=TIMEOUT_S,
        )
    except httpx.HTTPError as error:
        raise _fail(f"the hub at {url} does not answer ({type(error).__name__})") from None
    if answer.status_code != 201:
        raise _fail(_problem_text(answer))
    given: dict[str, Any] = answer.json()
    return given


def keep(settings: HubSettings, url: str, given: dict[str, Any]) -> Path:
    """Write the session for the next commands, readable by its owner only."""
    path = session_path(settings)
    path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
    text = json.dumps({"url": url, "token": given["token"], "account": given["account"]})
    descriptor = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(descriptor, "w") as file:
        file.write(text)
    return path


def forget(settings: HubSettings) -> Remote | None:
    """End the kept session at the hub (when it answers) and remove it."""
    import httpx

    remote = signed_in(settings)
    if remote is not None:
        # A hub that is away cannot be told: the session then ends by itself when idle.
        with contextlib.suppress(httpx.HTTPError):
            httpx.delete(
                f"{remote.url}/api/v1/sessions",
                headers={"Authorization": f"Bearer {remote.token}"},
                timeout=TIMEOUT_S,
            )
        session_path(settings).unlink(missing_ok=True)
    return remote
