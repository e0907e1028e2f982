"""The console's pages, server-rendered with Jinja2: flows, trace, decisions, labels and
connectors, behind a login. Every page passes through the viewer's role; a privacy
officer's look at a person's audit details is itself written to the audit trail."""

from __future__ import annotations

import datetime as dt
import hmac
from collections.abc import Callable, Sequence
from pathlib import Path as FilePath
from typing import Annotated, Any
from urllib.parse import urlsplit

from fastapi import APIRouter, Depends, Form, HTTPException, Path, Query, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from fastapi.templating import Jinja2Templates
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from hub.clock import SYSTEM_CLOCK, Clock
from hub.connectors.base import Connector
from hub.console import accounts, connector_ops, paging, queries, wording
from hub.console import sessions as console_sessions
from hub.console.accounts import Viewer
from hub.console.oidc import STATE_MAX_AGE_S, OidcLogin
from hub.console.signin import LockedOut, Refused, SignIn
from hub.core.errors import AuthenticationError, ContractError, Forbidden, NotFound
from hub.core.notes import OperatorNote
from hub.logs import get_logger
from hub.routing.replay import Replayer, discard
from hub.schemas.labels import LabelState
from hub.settings import ConsoleSettings
from hub.state import audit, dead_letters, holdback, outbox
from hub.state.dead_letters import LetterQuery
from hub.state.letter_states import LetterState

COOKIE = "ketenhub_console"
CSRF_FIELD = "csrf"
STATE_COOKIE = "ketenhub_console_oidc"
MAX_CODE = 4096
"""The longest authorization code taken (some providers' codes run to a kilobyte or two)."""
WINDOWS = {"15m": dt.timedelta(minutes=15), "24h": dt.timedelta(hours=24)}
MAX_HOURS = 24.0 * 366
"""The decisions page looks back at most a year (and a day)."""
MAX_TEXT = 200
"""The longest filter, id or reason a console page takes."""
templates = Jinja2Templates(directory=str(FilePath(__file__).parent / "templates"))
log = get_logger(__name__)
Text = Annotated[str, Query(max_length=MAX_TEXT)]
LetterId = Annotated[str, Path(max_length=MAX_TEXT)]
"""An id or a name in a path: bounded, never read further."""
PageNumber = Annotated[int, Query(alias="page", ge=1, le=paging.MAX_PAGE)]
templates.env.filters["local"] = wording.local_time
templates.env.filters["sentence"] = wording.missing_sentence
templates.env.globals["label_reason"] = wording.label_reason


def console_router(
    sessions: async_sessionmaker[AsyncSession],
    settings: ConsoleSettings,
    connectors: Callable[[], Sequence[Connector[Any]]],
    *,
    replayer: Replayer,
    send: outbox.Send,
    clock: Clock = SYSTEM_CLOCK,
    oidc: OidcLogin | None = None,
    signin: SignIn | None = None,
) -> APIRouter:
    """The console's pages. Every POST passes :func:`_same_origin`, and every POST but the
    login carries the session's CSRF token: one guard for the whole router. ``clock``
    times sessions and lockouts (a test moves it)."""
    gate = signin or SignIn(sessions, settings, clock)

    async def guard(request: Request) -> None:
        """Refuse a cross-site POST: a foreign Origin, or no session CSRF token."""
        if request.method != "POST":
            return
        if not _same_origin(request):
            raise Forbidden("a console form is posted from the console's own origin only")
        if request.url.path == "/console/login":
            return
        token = request.cookies.get(COOKIE, "")
        sent = (await request.form()).get(CSRF_FIELD)
        if not token or not isinstance(sent, str):
            raise Forbidden("the form's CSRF token is missing; reload the page")
        if not hmac.compare_digest(sent, console_sessions.csrf_token(token)):
            raise Forbidden("the form's CSRF token does not match this login; reload the page")

    router = APIRouter(prefix="/console", include_in_schema=False, dependencies=[Depends(guard)])

    async def viewer_of(request: Request) -> Viewer | None:
        token = request.cookies.get(COOKIE)
        if not token:
            return None
        viewer = await gate.viewer(token)
        if viewer is not None:
            request.state.csrf = console_sessions.csrf_token(token)
        return viewer

    def page(request: Request, name: str, viewer: Viewer, **context: Any) -> HTMLResponse:
        return templates.TemplateResponse(
            request,
            name,
            {
                "viewer": viewer,
                "active": name.removesuffix(".html"),
                "csrf": request.state.csrf,
                **context,
            },
        )

    async def signed_in(request: Request) -> Viewer:
        """The page's viewer; without a valid login, a redirect to the login page."""
        viewer = await viewer_of(request)
        if viewer is None:
            raise HTTPException(status_code=303, headers={"Location": "/console/login"})
        return viewer

    def login_page(request: Request, error: str | None, status: int = 200) -> HTMLResponse:
        return templates.TemplateResponse(
            request,
            "login.html",
            {"viewer": None, "error": error, "oidc": oidc is not None},
            status_code=status,
        )

    @router.get("/login")
    async def login_form(request: Request) -> HTMLResponse:
        return login_page(request, None)

    @router.post("/login")
    async def login(
        request: Request,
        username: str = Form(..., max_length=MAX_TEXT),
        password: str = Form(..., max_length=accounts.MAX_PASSWORD),
    ) -> Response:
        """Throttled per account and per source address (:class:`SignIn`)."""
        source = request.client.host if request.client else "unknown"
        outcome = await gate.attempt(username, password, source)
        if isinstance(outcome, LockedOut):
            response = login_page(request, "Too many failed logins; try again later.", 429)
            response.headers["Retry-After"] = str(outcome.retry_after_s)
            return response
        if isinstance(outcome, Refused):
            return login_page(request, "Wrong name or password.", 401)
        return with_session(RedirectResponse("/console/flows", 303), outcome.token)

    def with_session(response: Response, token: str) -> Response:
        response.set_cookie(
            COOKIE,
            token,
            max_age=settings.session_max_age_s,
            httponly=True,
            samesite="strict",
            secure=settings.secure_cookie,
            path="/console",
        )
        return response

    @router.get("/oidc/login")
    async def oidc_login() -> Response:
        """Off to the organisation's identity provider, with a state cookie to come back
        with (SameSite=Lax: the provider's redirect back is a cross-site navigation)."""
        if oidc is None:
            raise NotFound("this console has no OIDC login")
        url, state = await oidc.start()
        response = RedirectResponse(url, 303)
        response.set_cookie(
            STATE_COOKIE,
            state,
            max_age=STATE_MAX_AGE_S,
            httponly=True,
            samesite="lax",
            secure=settings.secure_cookie,
            path="/console/oidc",
        )
        return response

    @router.get("/oidc/callback")
    async def oidc_callback(
        request: Request,
        code: Annotated[str, Query(max_length=MAX_CODE)] = "",
        state: Text = "",
        error: Text = "",
    ) -> Response:
        """The provider's answer: a session for the viewer its ID token vouches for. The
        page then moves on to the flows itself (a same-site step, so the SameSite=Strict
        session cookie goes along)."""
        if oidc is None:
            raise NotFound("this console has no OIDC login")
        if error or not code or not state:
            raise AuthenticationError("the identity provider did not log this user in")
        try:
            viewer = await oidc.finish(
                code, state, request.cookies.get(STATE_COOKIE, ""), clock.now()
            )
        except (AuthenticationError, Forbidden) as refused:
            log.warning("console_oidc_refused", reason=refused.message)
            raise
        async with sessions.begin() as session:
            token = await console_sessions.start(session, viewer, clock.now())
        log.info("console_login", account=viewer.name, via="oidc")
        response = templates.TemplateResponse(
            request, "signed_in.html", {"viewer": None, "refresh": "0;url=/console/flows"}
        )
        response.delete_cookie(
            STATE_COOKIE, path="/console/oidc", secure=settings.secure_cookie, httponly=True
        )
        return with_session(response, token)

    @router.post("/logout")
    async def logout(request: Request) -> Response:
        """Revoke the session server-side: the cookie is dead wherever a copy of it went."""
        await gate.end(request.cookies.get(COOKIE, ""))
        response = RedirectResponse("/console/login", 303)
        response.delete_cookie(
            COOKIE, path="/console", secure=settings.secure_cookie, httponly=True
        )
        return response

    @router.get("")
    @router.get("/")
    async def home() -> Response:
        return RedirectResponse("/console/flows", 303)

    @router.get("/flows")
    async def flows(
        request: Request, window: Text = "15m", viewer: Viewer = Depends(signed_in)
    ) -> Response:
        span = WINDOWS.get(window, WINDOWS["15m"])
        async with sessions() as session:
            picture = await queries.flow_picture(session, viewer, dt.datetime.now(dt.UTC) - span)
        return page(request, "flows.html", viewer, picture=picture, window=window)

    @router.get("/decisions")
    async def decisions(
        request: Request,
        outcome: Text | None = None,
        partner: Text | None = None,
        rule: Text | None = None,
        hours: Annotated[float, Query(gt=0, le=MAX_HOURS, allow_inf_nan=False)] = 24.0,
        number: PageNumber = 1,
        viewer: Viewer = Depends(signed_in),
    ) -> Response:
        if outcome and outcome not in audit.OUTCOMES:  # found nothing, and said nothing
            raise ContractError(f"one of: {', '.join(audit.OUTCOMES)}", field="outcome")
        filters = queries.Filters(
            outcome=outcome or None,
            partner=partner or None,
            rule=rule or None,
            since=dt.datetime.now(dt.UTC) - dt.timedelta(hours=hours),
            limit=paging.wanted(number),
        )
        async with sessions() as session:
            rows = await queries.decisions(session, viewer, filters)
        shown = paging.page_of(rows, number)
        return page(request, "decisions.html", viewer, rows=shown, filters=filters, hours=hours)

    @router.get("/trace")
    async def trace(
        request: Request, correlation_id: Text = "", viewer: Viewer = Depends(signed_in)
    ) -> Response:
        found = None
        if correlation_id:
            async with sessions() as session:
                found = await queries.trace(session, viewer, correlation_id.strip())
        return page(request, "trace.html", viewer, trace=found, correlation_id=correlation_id)

    @router.get("/labels")
    async def label_page(
        request: Request,
        partner: Text | None = None,
        state: Text | None = None,
        number: PageNumber = 1,
        viewer: Viewer = Depends(signed_in),
    ) -> Response:
        if state and state not in {s.value for s in LabelState}:
            raise ContractError(f"one of: {', '.join(s.value for s in LabelState)}", field="state")
        async with sessions() as session:
            chosen = await queries.label_rows(session, viewer, partner, state)
        shown = paging.page_of(chosen, number)
        return page(
            request, "labels.html", viewer, rows=shown, partner=partner or "", state=state or ""
        )

    @router.get("/connectors")
    async def connector_page(
        request: Request,
        kind: Text | None = None,
        partner: Text | None = None,
        number: PageNumber = 1,
        viewer: Viewer = Depends(signed_in),
    ) -> Response:
        chosen = queries.visible_connectors(connectors(), viewer, kind, partner)
        found = await connector_ops.rows(sessions, chosen, viewer)
        return page(
            request,
            "connectors.html",
            viewer,
            connectors=paging.page_of(found, number),
            may_pause=viewer.may_replay(),
            kind=kind or "",
            partner=partner or "",
        )

    @router.post("/connectors/{name}/pause")
    async def pause_connector(
        name: LetterId,
        why: Annotated[OperatorNote, Form()],
        viewer: Viewer = Depends(signed_in),
    ) -> Response:
        """Hold the connector's deliveries in their lanes until it is resumed."""
        connector = connector_ops.operated(connectors(), viewer, name)
        await connector_ops.pause(sessions, connector, viewer, by=f"console:{viewer.name}", why=why)
        return RedirectResponse("/console/connectors", 303)

    @router.post("/connectors/{name}/resume")
    async def resume_connector(name: LetterId, viewer: Viewer = Depends(signed_in)) -> Response:
        """Lift the pause: what it held goes now, each client's in order."""
        connector = connector_ops.operated(connectors(), viewer, name)
        await connector_ops.resume(sessions, connector, by=f"console:{viewer.name}")
        return RedirectResponse("/console/connectors", 303)

    @router.get("/report")
    async def report(
        request: Request,
        subject: Text,
        recipient: Text | None = None,
        outcome: Text | None = None,
        number: PageNumber = 1,
        viewer: Viewer = Depends(signed_in),
    ) -> Response:
        """A person's disclosure report: a privacy officer only, and each look (each
        page) is audited."""
        found = await queries.audited_report(sessions, viewer, subject, "disclosure report")
        chosen = queries.chosen_disclosures(found, recipient, outcome)
        return page(
            request,
            "report.html",
            viewer,
            report=found,
            subject=subject,
            disclosures=paging.page_of(chosen, number),
            recipients=sorted({d["recipient"] for d in found["disclosures"]}),
            recipient=recipient or "",
            outcome=outcome or "",
        )

    @router.get("/dead-letters")
    async def dead_letter_page(
        request: Request,
        state: Text = "open",
        partner: Text | None = None,
        number: PageNumber = 1,
        viewer: Viewer = Depends(signed_in),
    ) -> Response:
        """A partner account sees its own dead letters whatever ``partner`` asks for."""
        known = {s.value for s in LetterState}
        state = state or LetterState.OPEN.value
        if state not in known and state != "all":
            raise ContractError(f"one of: all, {', '.join(sorted(known))}", field="state")
        chosen = None if state == "all" else LetterState(state)
        asked = None if viewer.partner else partner or None
        query = LetterQuery(
            state=chosen, recipient=viewer.partner or asked, limit=paging.wanted(number)
        )
        async with sessions() as session:
            found = paging.page_of(await dead_letters.find(session, query), number)
            behind = await holdback.held_behind(session, [letter.id for letter in found.rows])
        return page(
            request,
            "dead_letters.html",
            viewer,
            letters=found,
            state=state,
            partner=asked or "",
            behind=behind,
        )

    @router.get("/dead-letters/{letter_id}")
    async def dead_letter(
        request: Request, letter_id: LetterId, viewer: Viewer = Depends(signed_in)
    ) -> Response:
        """One dead letter, and what a replay would do now: decided with today's
        consents and titles, shown before anything is sent."""
        letter = await queries.dead_letter(sessions, viewer, letter_id)
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
    async def replay(letter_id: LetterId, viewer: Viewer = Depends(signed_in)) -> Response:
        if not viewer.may_replay():
            raise Forbidden("a partner account sees its dead letters; operators replay them")
        letter = await queries.dead_letter(sessions, viewer, letter_id)
        now = dt.datetime.now(dt.UTC)
        plan = await replayer.plan(letter, now)
        await replayer.replay(plan, send, by=f"console:{viewer.name}", now=now)
        return RedirectResponse(f"/console/dead-letters/{letter.id}", 303)

    @router.post("/dead-letters/{letter_id}/discard")
    async def discard_letter(
        letter_id: LetterId,
        why: Annotated[OperatorNote, Form()],
        viewer: Viewer = Depends(signed_in),
    ) -> Response:
        """Give the dead letter up; what waited behind it in its lane goes on."""
        if not viewer.may_replay():
            raise Forbidden("a partner account sees its dead letters; operators discard them")
        letter = await queries.dead_letter(sessions, viewer, letter_id)
        now = dt.datetime.now(dt.UTC)
        await discard(sessions, letter, by=f"console:{viewer.name}", why=why, now=now)
        return RedirectResponse(f"/console/dead-letters/{letter.id}", 303)

    return router


def _same_origin(request: Request) -> bool:
    """Whether the POST comes from the console's own origin: its Origin header, or (an
    older browser) its Referer's origin. Neither, or ``null``, is refused."""
    claimed = request.headers.get("origin") or request.headers.get("referer")
    if not claimed:
        return False
    parts = urlsplit(claimed)
    own = request.url
    return (parts.scheme, parts.netloc.lower()) == (own.scheme, own.netloc.lower())
