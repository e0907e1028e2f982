"""The console's pages, server-rendered with Jinja2: flows, trace, decisions, labels and
connectors, behind a login. Every page passes through the viewer's role; a privacy
officer's look at a person's audit details is itself written to the audit trail."""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

from fastapi import APIRouter, Depends, Form, HTTPException, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from fastapi.templating import Jinja2Templates
from itsdangerous import BadSignature, URLSafeTimedSerializer
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from hub.connectors.base import Connector
from hub.console import accounts, queries
from hub.console.accounts import Viewer
from hub.core.errors import Forbidden, NotFound
from hub.monitoring import HEALTH
from hub.routing.replay import Replayer, discard
from hub.state import audit, dead_letters, holdback, outbox
from hub.state.dead_letters import Letter, LetterQuery, LetterState

COOKIE = "ketenhub_console"
WINDOWS = {"15m": dt.timedelta(minutes=15), "24h": dt.timedelta(hours=24)}
templates = Jinja2Templates(directory=str(Path(__file__).parent / "templates"))


def console_router(
    sessions: async_sessionmaker[AsyncSession],
    secret: bytes,
    connectors: Callable[[], Sequence[Connector[Any]]],
    *,
    replayer: Replayer,
    send: outbox.Send,
    max_age_s: int = 8 * 3600,
) -> APIRouter:
    router = APIRouter(prefix="/console", include_in_schema=False)
    signer = URLSafeTimedSerializer(secret, salt="ketenhub-console")

    async def viewer_of(request: Request) -> Viewer | None:
        token = request.cookies.get(COOKIE)
        if not token:
            return None
        try:
            name = signer.loads(token, max_age=max_age_s)
        except BadSignature:
            return None
        async with sessions() as session:
            return await accounts.viewer(session, str(name))

    def page(request: Request, name: str, viewer: Viewer, **context: Any) -> HTMLResponse:
        return templates.TemplateResponse(
            request, name, {"viewer": viewer, "active": name.removesuffix(".html"), **context}
        )

    async def signed_in(request: Request) -> Viewer:
        """The page's viewer; without a valid login, a redirect to the login page."""
        viewer = await viewer_of(request)
        if viewer is None:
            raise HTTPException(status_code=303, headers={"Location": "/console/login"})
        return viewer

    @router.get("/login")
    async def login_form(request: Request) -> HTMLResponse:
        return templates.TemplateResponse(request, "login.html", {"viewer": None, "error": None})

    @router.post("/login")
    async def login(
        request: Request, username: str = Form(...), password: str = Form(...)
    ) -> Response:
        async with sessions() as session:
            viewer = await accounts.verify(session, username, password)
        if viewer is None:
            return templates.TemplateResponse(
                request,
                "login.html",
                {"viewer": None, "error": "Wrong name or password."},
                status_code=401,
            )
        response = RedirectResponse("/console/flows", 303)
        response.set_cookie(
            COOKIE,
            signer.dumps(viewer.name),
            max_age=max_age_s,
            httponly=True,
            samesite="strict",
            secure=request.url.scheme == "https",
        )
        return response

    @router.post("/logout")
    async def logout() -> Response:
        response = RedirectResponse("/console/login", 303)
        response.delete_cookie(COOKIE)
        return response

    @router.get("")
    @router.get("/")
    async def home() -> Response:
        return RedirectResponse("/console/flows", 303)

    @router.get("/flows")
    async def flows(
        request: Request, window: str = "15m", viewer: Viewer = Depends(signed_in)
    ) -> Response:
        span = WINDOWS.get(window, WINDOWS["15m"])
        async with sessions() as session:
            picture = await queries.flow_picture(session, viewer, dt.datetime.now(dt.UTC) - span)
        return page(request, "flows.html", viewer, picture=picture, window=window)

    @router.get("/decisions")
    async def decisions(
        request: Request,
        outcome: str | None = None,
        partner: str | None = None,
        rule: str | None = None,
        hours: float = 24.0,
        viewer: Viewer = Depends(signed_in),
    ) -> Response:
        filters = queries.Filters(
            outcome=outcome or None,
            partner=partner or None,
            rule=rule or None,
            since=dt.datetime.now(dt.UTC) - dt.timedelta(hours=hours),
        )
        async with sessions() as session:
            rows = await queries.decisions(session, viewer, filters)
        return page(request, "decisions.html", viewer, rows=rows, filters=filters, hours=hours)

    @router.get("/trace")
    async def trace(
        request: Request, correlation_id: str = "", viewer: Viewer = Depends(signed_in)
    ) -> Response:
        found = None
        if correlation_id:
            async with sessions() as session:
                found = await queries.trace(session, viewer, correlation_id.strip())
        return page(request, "trace.html", viewer, trace=found, correlation_id=correlation_id)

    @router.get("/labels")
    async def label_page(request: Request, viewer: Viewer = Depends(signed_in)) -> Response:
        async with sessions() as session:
            rows = await queries.label_rows(session, viewer)
        return page(request, "labels.html", viewer, rows=rows)

    @router.get("/connectors")
    async def connector_page(request: Request, viewer: Viewer = Depends(signed_in)) -> Response:
        shown = [c for c in connectors() if viewer.sees_partner(c.partner) or _serves(c, viewer)]
        return page(request, "connectors.html", viewer, connectors=shown, health=HEALTH)

    @router.get("/report")
    async def report(
        request: Request, subject: str, viewer: Viewer = Depends(signed_in)
    ) -> Response:
        """A person's disclosure report: a privacy officer only, and the look is audited."""
        if not viewer.may_see_audit_details():
            raise Forbidden("only a privacy officer sees a person's audit details")
        async with sessions.begin() as session:
            found = await audit.disclosure_report(session, [subject])
            if not found["disclosures"] and not found["consent_and_title_changes"]:
                raise NotFound("no audit records for this pseudonym")
            await audit.append(
                session, [queries.view_audited(viewer, subject, "disclosure report")]
            )
        return page(request, "report.html", viewer, report=found, subject=subject)

    async def letter_for(viewer: Viewer, letter_id: str) -> Letter:
        async with sessions() as session:
            letter = await dead_letters.get(session, letter_id)
        if letter is None or not viewer.sees_partner(letter.recipient):
            raise NotFound("no such dead letter")
        return letter

    @router.get("/dead-letters")
    async def dead_letter_page(
        request: Request, state: str = "open", viewer: Viewer = Depends(signed_in)
    ) -> Response:
        known = {s.value for s in LetterState}
        state = state if state in known or state == "all" else LetterState.OPEN.value
        chosen = None if state == "all" else LetterState(state)
        query = LetterQuery(state=chosen, recipient=viewer.partner, limit=500)
        async with sessions() as session:
            letters = await dead_letters.find(session, query)
            behind = await holdback.held_behind(session, [letter.id for letter in letters])
        return page(
            request, "dead_letters.html", viewer, letters=letters, state=state, behind=behind
        )

    @router.get("/dead-letters/{letter_id}")
    async def dead_letter(
        request: Request, letter_id: str, viewer: Viewer = Depends(signed_in)
    ) -> Response:
        """One dead letter, and what a replay would do now: decided with today's
        consents and titles, shown before anything is sent."""
        letter = await letter_for(viewer, letter_id)
        plan = await replayer.plan(letter, dt.datetime.now(dt.UTC))
        async with sessions() as session:
            behind = await holdback.held_behind(session, [letter.id])
        return page(
            request,
            "dead_letter.html",
            viewer,
            letter=letter,
            plan=plan,
            behind=behind.get(letter.id, 0),
            may_replay=viewer.may_replay(),
        )

    @router.post("/dead-letters/{letter_id}/replay")
    async def replay(letter_id: str, viewer: Viewer = Depends(signed_in)) -> Response:
        if not viewer.may_replay():
            raise Forbidden("a partner account sees its dead letters; operators replay them")
        letter = await letter_for(viewer, letter_id)
        now = dt.datetime.now(dt.UTC)
        plan = await replayer.plan(letter, now)
        await replayer.replay(plan, send, by=f"console:{viewer.name}", now=now)
        return RedirectResponse(f"/console/dead-letters/{letter.id}", 303)

    @router.post("/dead-letters/{letter_id}/discard")
    async def discard_letter(
        letter_id: str, why: str = Form(..., min_length=3), viewer: Viewer = Depends(signed_in)
    ) -> Response:
        """Give the dead letter up; what waited behind it in its lane goes on."""
        if not viewer.may_replay():
            raise Forbidden("a partner account sees its dead letters; operators discard them")
        letter = await letter_for(viewer, letter_id)
        now = dt.datetime.now(dt.UTC)
        await discard(sessions, letter, by=f"console:{viewer.name}", why=why, now=now)
        return RedirectResponse(f"/console/dead-letters/{letter.id}", 303)

    return router


def _serves(connector: Connector[Any], viewer: Viewer) -> bool:
    try:
        return viewer.partner is not None and connector.serves(viewer.partner)
    except ValueError:
        return False
