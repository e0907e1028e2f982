"""The management API under ``/api/v1``: what an operator does in the console, for
scripts and the CLI, with the console's accounts and roles.

Sign in with ``POST /api/v1/sessions`` (throttled and audited as the console's login
form is) and send the token as ``Authorization: Bearer …``; a bearer token is never
sent by a browser on its own, so no CSRF token is needed. Every answer is ids, states
and reasons, never a message's content; every error is problem+json.

It covers dead letters (list, show with the replay's preview, replay, discard), labels
(status with reasons), connectors (health, what they hold, pause, resume, retry what
they hold now) and a person's disclosure report (a privacy officer only, and the look is
audited). ``DELETE /api/v1/sessions`` ends a session. The CLI calls it after ``hub
login`` (``hub.cli.remote``).
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable, Sequence
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Path, Query, Request, Response
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer
from pydantic import BaseModel, Field
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from hub.connectors.base import Connector
from hub.console import connector_ops, paging, queries, wording
from hub.console.accounts import Viewer
from hub.console.connector_ops import ConnectorRow, Released
from hub.console.signin import LockedOut, Refused, SignIn
from hub.core.errors import (
    AuthenticationError,
    BearerRequired,
    Conflict,
    ContractError,
    Forbidden,
    TooManyRequests,
)
from hub.core.notes import OperatorNote
from hub.core.subjects import is_pseudonym
from hub.logs import get_logger
from hub.routing.replay import Replayer, discard
from hub.schemas.labels import LabelState
from hub.state import dead_letters, holdback, outbox
from hub.state.dead_letters import LetterQuery
from hub.state.letter_states import LetterState

MAX_TEXT = 200
Id = Annotated[str, Path(max_length=MAX_TEXT)]
PageNumber = Annotated[int, Query(alias="page", ge=1, le=paging.MAX_PAGE)]
log = get_logger(__name__)
BEARER = HTTPBearer(auto_error=False, description="A token from POST /api/v1/sessions.")


class Credentials(BaseModel):
    username: str = Field(max_length=MAX_TEXT)
    password: str = Field(max_length=1024)


class Session(BaseModel):
    token: str = Field(description="Send as `Authorization: Bearer <token>`.")
    account: str
    role: str
    partner: str | None


class DeadLetterPage(BaseModel):
    items: list[dict[str, Any]] = Field(description="Ids, states and reasons; no content.")
    page: int
    more: bool


class ReplayPlan(BaseModel):
    letter: dict[str, Any]
    verdict: str = Field(description="What a replay would do now: send, reroute, denied, …")
    explanation: str
    state: str | None = Field(
        None, description="The letter's state after the replay; none for a preview."
    )


class Discard(BaseModel):
    why: OperatorNote = Field(description="Why it is given up: seen by every operator.")


class LabelRow(BaseModel):
    subject: str
    partner: str
    state: str
    asked: str
    attempts: int
    resends: int
    reason: str
    requested_at: dt.datetime
    updated_at: dt.datetime
    incomplete: bool = Field(
        description="Not where it was asked to be, the incomplete-after time after it was asked."
    )


class LabelPage(BaseModel):
    items: list[LabelRow]
    page: int
    more: bool


class PauseRequest(BaseModel):
    why: OperatorNote = Field(description="Why it is paused: seen by every operator.")


def management_router(
    sessions: async_sessionmaker[AsyncSession],
    connectors: Callable[[], Sequence[Connector[Any]]],
    *,
    gate: SignIn,
    replayer: Replayer,
    send: outbox.Send,
    incomplete_after_s: float,
) -> APIRouter:
    """The API's routes; ``gate`` is the console's sign-in, shared with its form."""
    router = APIRouter(prefix="/api/v1", tags=["management"])

    async def caller(
        credentials: HTTPAuthorizationCredentials | None = Depends(BEARER),
    ) -> Viewer:
        if credentials is None:
            raise BearerRequired("send a bearer token (POST /api/v1/sessions gives one)")
        viewer = await gate.viewer(credentials.credentials)
        if viewer is None:
            raise BearerRequired("the token is unknown or has expired; sign in again")
        return viewer

    @router.post("/sessions", status_code=201)
    async def sign_in(request: Request, credentials: Credentials, response: Response) -> Session:
        """Sign in with a console account; throttled per account and source address."""
        source = request.client.host if request.client else "unknown"
        outcome = await gate.attempt(credentials.username, credentials.password, source)
        if isinstance(outcome, LockedOut):
            raise TooManyRequests(
                "too many failed logins; try again later",
                retry_after_s=outcome.retry_after_s,
            )
        if isinstance(outcome, Refused):
            raise AuthenticationError("wrong name or password")
        viewer = outcome.viewer
        return Session(
            token=outcome.token, account=viewer.name, role=viewer.role.value, partner=viewer.partner
        )

    @router.delete("/sessions", status_code=204)
    async def sign_out(credentials: HTTPAuthorizationCredentials | None = Depends(BEARER)) -> None:
        """End the session of the token sent: it is dead wherever a copy of it went."""
        if credentials is not None:
            await gate.end(credentials.credentials)

    @router.get("/dead-letters")
    async def list_dead_letters(
        state: LetterState | None = None,
        partner: Annotated[str | None, Query(max_length=MAX_TEXT)] = None,
        number: PageNumber = 1,
        viewer: Viewer = Depends(caller),
    ) -> DeadLetterPage:
        """Dead letters, newest first, for ``partner`` (a partner account sees its own)
        and in ``state`` when given."""
        if viewer.partner is not None and partner not in (None, viewer.partner):
            raise Forbidden("a partner account sees its own dead letters")
        recipient = viewer.partner or partner
        query = LetterQuery(state=state, recipient=recipient, limit=paging.wanted(number))
        async with sessions() as session:
            found = paging.page_of(await dead_letters.find(session, query), number)
            behind = await holdback.held_behind(session, [letter.id for letter in found.rows])
        items = [dead_letters.summary(letter, behind.get(letter.id, 0)) for letter in found.rows]
        return DeadLetterPage(items=items, page=found.number, more=found.more)

    async def summary_of(letter: dead_letters.Letter) -> dict[str, Any]:
        """The letter's summary with what waits behind it in its lane."""
        async with sessions() as session:
            behind = await holdback.held_behind(session, [letter.id])
        return dead_letters.summary(letter, behind.get(letter.id, 0))

    @router.get("/dead-letters/{letter_id}")
    async def show_dead_letter(letter_id: Id, viewer: Viewer = Depends(caller)) -> ReplayPlan:
        """One dead letter, and what a replay would do now (decided with today's
        consents and titles; nothing is sent)."""
        letter = await queries.dead_letter(sessions, viewer, letter_id)
        plan = await replayer.plan(letter, dt.datetime.now(dt.UTC))
        return ReplayPlan(
            letter=await summary_of(letter),
            verdict=plan.verdict.value,
            explanation=plan.explanation,
        )

    @router.post("/dead-letters/{letter_id}/replay")
    async def replay(
        letter_id: Id, preview: bool = False, viewer: Viewer = Depends(caller)
    ) -> ReplayPlan:
        """Decide again and send (an operator or privacy officer); ``preview`` decides
        and sends nothing."""
        if not viewer.may_replay():
            raise Forbidden("a partner account sees its dead letters; operators replay them")
        letter = await queries.dead_letter(sessions, viewer, letter_id)
        now = dt.datetime.now(dt.UTC)
        plan = await replayer.plan(letter, now)
        summary = await summary_of(letter)  # what waited behind it when it was decided
        state = None
        if not preview:
            done = await replayer.replay(plan, send, by=f"api:{viewer.name}", now=now)
            if done is None:
                raise Conflict(
                    f"nothing was done: {plan.explanation} (or another request settled it "
                    "meanwhile); look at the dead letter again"
                )
            state = done.value
        return ReplayPlan(
            letter=summary,
            verdict=plan.verdict.value,
            explanation=plan.explanation,
            state=state,
        )

    @router.post("/dead-letters/{letter_id}/discard")
    async def discard_letter(
        letter_id: Id, body: Discard, viewer: Viewer = Depends(caller)
    ) -> dict[str, Any]:
        """Give a dead letter up; what waited behind it goes on. Kept with who and why."""
        if not viewer.may_replay():
            raise Forbidden("a partner account sees its dead letters; operators discard them")
        letter = await queries.dead_letter(sessions, viewer, letter_id)
        now = dt.datetime.now(dt.UTC)
        if not await discard(sessions, letter, by=f"api:{viewer.name}", why=body.why, now=now):
            raise Conflict(f"dead letter {letter.id} was {letter.state.value} already")
        async with sessions() as session:
            settled = await dead_letters.get(session, letter.id)
        return dead_letters.summary(settled or letter)

    @router.get("/labels")
    async def label_status(
        partner: Annotated[str | None, Query(max_length=MAX_TEXT)] = None,
        state: LabelState | None = None,
        subject: Annotated[str | None, Query(max_length=MAX_TEXT)] = None,
        incomplete_after: Annotated[float | None, Query(ge=0)] = None,
        number: PageNumber = 1,
        viewer: Viewer = Depends(caller),
    ) -> LabelPage:
        """Each client's label at each partner, with the reason it is where it is; one
        client's by pseudonym; incomplete after ``incomplete_after`` seconds (the hub's
        setting by default)."""
        if subject is not None and not is_pseudonym(subject):
            raise ContractError(
                "a person is named by a pseudonym (psn-…), never a BSN", field="subject"
            )
        async with sessions() as session:
            chosen = await queries.label_rows(
                session, viewer, partner, state.value if state else None
            )
        found = paging.page_of([v for v in chosen if subject in (None, v.subject)], number)
        now = dt.datetime.now(dt.UTC)
        late_after = incomplete_after_s if incomplete_after is None else incomplete_after
        items = [LabelRow(**wording.label_shown(v, now, late_after)) for v in found.rows]
        return LabelPage(items=items, page=found.number, more=found.more)

    @router.get("/connectors")
    async def connector_status(viewer: Viewer = Depends(caller)) -> list[ConnectorRow]:
        """The connectors this account may see: their last health check, what they hold
        and whether an operator paused them."""
        return await connector_ops.rows(
            sessions, queries.visible_connectors(connectors(), viewer), viewer
        )

    @router.post("/connectors/{name}/pause")
    async def pause_connector(
        name: Id, body: PauseRequest, viewer: Viewer = Depends(caller)
    ) -> ConnectorRow:
        """Hold the connector's deliveries in their lanes, in order, until it is resumed
        (kept across restarts; nothing is lost or counted as an attempt). Pausing a
        paused connector keeps the first pause."""
        connector = connector_ops.operated(connectors(), viewer, name)
        return await connector_ops.pause(
            sessions, connector, viewer, by=f"api:{viewer.name}", why=body.why
        )

    @router.post("/connectors/{name}/resume")
    async def resume_connector(name: Id, viewer: Viewer = Depends(caller)) -> Released:
        """Lift the pause; what it held is due at once, each lane in its order."""
        connector = connector_ops.operated(connectors(), viewer, name)
        return await connector_ops.resume(sessions, connector, by=f"api:{viewer.name}")

    @router.post("/connectors/{name}/retry-now")
    async def retry_held_now(name: Id, viewer: Viewer = Depends(caller)) -> Released:
        """Make the connector's held deliveries due at once instead of after their
        backoff (the partner is back); dead letters' stops stay for a replay."""
        connector = connector_ops.operated(connectors(), viewer, name)
        return await connector_ops.retry_now(sessions, connector, by=f"api:{viewer.name}")

    @router.get("/subjects/{subject}/disclosures")
    async def disclosure_report(subject: Id, viewer: Viewer = Depends(caller)) -> dict[str, Any]:
        """A person's disclosure report (GDPR art. 15): a privacy officer only, and the
        look itself is written to the audit trail."""
        if not is_pseudonym(subject):
            raise ContractError(
                "a person is named by a pseudonym (psn-…), never a BSN", field="subject"
            )
        return await queries.audited_report(sessions, viewer, subject, "disclosure report (API)")

    return router
