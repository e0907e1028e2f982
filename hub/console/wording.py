"""How the console words what the store keeps: moments in Dutch local time to the
second, a missing condition as the sentence a privacy officer reads, a label's state as
a reason. The store keeps UTC and codes; people read these."""

from __future__ import annotations

import datetime as dt
from typing import Any

from hub.core.calendar import AMSTERDAM
from hub.routing.decision import missing_text
from hub.schemas.labels import LabelState
from hub.state.labels import LabelAction, LabelView


def local_time(moment: dt.datetime | str | None, *, milliseconds: bool = False) -> str:
    """``2026-12-02 05:41:07`` in Europe/Amsterdam; a moment without a zone is UTC, as
    the hub stores every moment. ``milliseconds`` adds ``.123``: a trace's stages come
    within a second of each other, and their order is what it shows."""
    if moment is None or moment == "":
        return ""
    if isinstance(moment, str):
        moment = dt.datetime.fromisoformat(moment)
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=dt.UTC)
    local = moment.astimezone(AMSTERDAM)
    shown = local.strftime("%Y-%m-%d %H:%M:%S")
    return f"{shown}.{local.microsecond // 1000:03d}" if milliseconds else shown


def missing_sentence(code: str) -> str:
    return missing_text(code)


def label_reason(view: LabelView) -> str:
    """Why the label is where it is: what went wrong when it did, else what happened."""
    asked = "set" if view.action is LabelAction.SET else "withdrawal"
    tries = f"{view.attempts} attempt{'s' if view.attempts != 1 else ''}"
    if view.state is LabelState.FAILED:
        return view.detail or f"the {asked} did not reach the partner"
    if view.state is LabelState.PENDING:
        waiting = f"the {asked} is on its way to the partner"
        return f"{waiting}; {view.detail}" if view.detail else waiting
    done = "set at the partner" if view.state is LabelState.SET else "withdrawn at the partner"
    if view.attempts == 0:
        return f"{done} (held there before the hub kept track)"
    resent = f", re-sent {view.resends} time(s)" if view.resends else ""
    return f"{done} after {tries}{resent}"


def label_shown(view: LabelView, now: dt.datetime, late_after_s: float) -> dict[str, Any]:
    """A label as the management API and ``hub labels status`` give it: its state, the
    reason it is there, and whether it is late ``late_after_s`` after it was asked."""
    return {
        "subject": view.subject,
        "partner": view.partner,
        "state": view.state.value,
        "asked": view.action.value,
        "attempts": view.attempts,
        "resends": view.resends,
        "reason": label_reason(view),
        "requested_at": view.requested_at,
        "updated_at": view.updated_at,
        "incomplete": view.incomplete_after(now, late_after_s),
    }
