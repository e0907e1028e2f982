"""What the console pages show, read from the audit trail, the delivery receipts and the
label state, and cut down to what the viewer's role may see. No query returns a payload,
a BSN or a name: the stores hold none."""

from __future__ import annotations

import datetime as dt
import math
from collections.abc import Iterable
from dataclasses import dataclass, field, replace
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from hub.connectors.base import Connector
from hub.console.accounts import Viewer
from hub.core.errors import Forbidden, NotFound
from hub.identity.rekeying import with_history
from hub.state import audit, dead_letters, labels, receipts
from hub.state.audit import Action, AuditEntry, AuditOutcome
from hub.state.dead_letters import Letter

PARTNER_PREFIX = "urn:ketenhub:partner:"
NO_CASE = "(no case)"
DETAIL_FIELDS = ("legal_bases", "consent_id", "disclosed_fields", "removed_fields", "purpose")
"""Audit details only a privacy officer sees."""


def _partner(source: str) -> str:
    return source.removeprefix(PARTNER_PREFIX)


def _moment(text: str) -> dt.datetime:
    return dt.datetime.fromisoformat(text)


@dataclass
class PathStat:
    source: str
    target: str
    decisions: int = 0
    denied: int = 0
    delivered: int = 0
    failed: int = 0
    slowest_ms: float = 0.0

    @property
    def failing(self) -> bool:
        return self.failed > 0


@dataclass(frozen=True)
class Node:
    name: str
    x: float
    y: float


@dataclass(frozen=True)
class Edge:
    path: PathStat
    source: Node
    target: Node
    width: float
    kind: str
    """``failing``, ``slowest`` or ``ok``: the colour it is drawn in."""
    label: tuple[float, float] = (0.0, 0.0)
    """Where its count is written: on the line, where no other count is."""


GRAPH_ROW = 44.0
GRAPH_WIDTH = 760.0


@dataclass(frozen=True)
class FlowPicture:
    since: dt.datetime
    paths: list[PathStat]

    @property
    def slowest(self) -> PathStat | None:
        timed = [p for p in self.paths if p.slowest_ms > 0]
        return max(timed, key=lambda p: p.slowest_ms) if timed else None

    def graph(self) -> tuple[list[Node], list[Edge], float]:
        """The picture drawn: senders on the left, recipients on the right, a line per
        path as thick as its traffic (log scale), red when failing, amber when slowest.
        Returns the nodes, the edges and the drawing's height."""
        senders = sorted({p.source for p in self.paths})
        recipients = sorted({p.target for p in self.paths})
        left = {n: Node(n, 150.0, GRAPH_ROW * (i + 0.5)) for i, n in enumerate(senders)}
        right = {
            n: Node(n, GRAPH_WIDTH - 190.0, GRAPH_ROW * (i + 0.5)) for i, n in enumerate(recipients)
        }
        slowest = self.slowest
        edges = [
            Edge(
                path=p,
                source=left[p.source],
                target=right[p.target],
                width=1.5 + 2.0 * math.log10(1 + p.decisions),
                kind="failing" if p.failing else ("slowest" if p is slowest else "ok"),
            )
            for p in self.paths
        ]
        height = GRAPH_ROW * max(len(senders), len(recipients), 1)
        return [*left.values(), *right.values()], _labelled(edges), height


LABEL_SPOTS = (0.5, 0.62, 0.38, 0.74, 0.26, 0.84, 0.16, 0.56, 0.44, 0.68, 0.32, 0.79, 0.21)
"""Where along its line a count may go, tried in turn: the middle first. In the middle
every line crosses every other, and the counts were written over each other there."""
CHAR_WIDTH = 7.0
LABEL_HEIGHT = 12.0


def label_box(x: float, y: float, text: str) -> tuple[float, float, float, float]:
    """The room a count takes, its baseline at ``y`` and centred on ``x``."""
    half = (CHAR_WIDTH * len(text) + 4) / 2
    return (x - half, y - LABEL_HEIGHT, x + half, y + 2)


def _overlap(a: tuple[float, float, float, float], b: tuple[float, float, float, float]) -> bool:
    return a[0] < b[2] and b[0] < a[2] and a[1] < b[3] and b[1] < a[3]


def _labelled(edges: list[Edge]) -> list[Edge]:
    """Each edge with its count at the first spot along its line that no count placed
    before it covers (the busiest paths first, so they keep the middle)."""
    taken: list[tuple[float, float, float, float]] = []
    spots: dict[int, tuple[float, float]] = {}
    for n in sorted(range(len(edges)), key=lambda i: -edges[i].path.decisions):
        edge, text = edges[n], str(edges[n].path.decisions)
        options = [
            (
                edge.source.x + (edge.target.x - edge.source.x) * t,
                edge.source.y + (edge.target.y - edge.source.y) * t - 4,
            )
            for t in LABEL_SPOTS
        ]
        x, y = next(
            (o for o in options if not any(_overlap(label_box(*o, text), b) for b in taken)),
            options[0],
        )
        taken.append(label_box(x, y, text))
        spots[n] = (x, y)
    return [replace(edge, label=spots[n]) for n, edge in enumerate(edges)]


async def flow_picture(session: AsyncSession, viewer: Viewer, since: dt.datetime) -> FlowPicture:
    """Partners and the message counts between them since ``since``: decisions from the
    audit trail, deliveries and failures from the receipts, the slowest time per path."""
    paths: dict[tuple[str, str], PathStat] = {}
    sources: dict[str, str] = {}
    async for record in audit.search(session, audit.AuditQuery(since=since)):
        if record["action"] == Action.RECORD:
            continue
        source = _partner(record["sender"])
        target = record["recipient"] or NO_CASE
        sources.setdefault(record["correlation_id"], source)
        if not viewer.sees_partner(source, target):
            continue
        path = paths.setdefault((source, target), PathStat(source, target))
        path.decisions += 1
        path.denied += record["action"] != Action.DISCLOSE
    for receipt in await receipts.since(session, since):
        source = sources.get(receipt.correlation_id, "?")
        if not viewer.sees_partner(source, receipt.recipient):
            continue
        path = paths.setdefault((source, receipt.recipient), PathStat(source, receipt.recipient))
        if receipt.outcome == "delivered":
            path.delivered += 1
        else:
            path.failed += 1
        path.slowest_ms = max(path.slowest_ms, receipt.seconds * 1000)
    ordered = sorted(paths.values(), key=lambda p: (p.source, p.target))
    return FlowPicture(since=since, paths=ordered)


@dataclass(frozen=True)
class Filters:
    outcome: str | None = None
    partner: str | None = None
    rule: str | None = None
    since: dt.datetime | None = None
    limit: int = 200


def _visible(record: dict[str, Any], viewer: Viewer) -> dict[str, Any]:
    """The record as this viewer may see it: metadata, and details for a privacy officer."""
    shown = {
        "recorded_at": record["recorded_at"],
        "event_type": record["event_type"],
        "event_id": record["event_id"],
        "correlation_id": record["correlation_id"],
        "subject": record["subject"],
        "sender": _partner(record["sender"]),
        "recipient": record["recipient"],
        "flow": record["flow"],
        "outcome": record["outcome"],
        "rule_ids": record["rule_ids"],
        "missing": record["missing"],
    }
    if viewer.may_see_audit_details():
        shown.update({name: record[name] for name in DETAIL_FIELDS})
    return shown


async def decisions(
    session: AsyncSession, viewer: Viewer, filters: Filters
) -> list[dict[str, Any]]:
    """Newest first, by outcome, partner, rule and time."""
    query = audit.AuditQuery(outcome=filters.outcome, partner=filters.partner, since=filters.since)
    found = []
    async for record in audit.search(session, query):
        if record["action"] == Action.RECORD:
            continue
        if filters.rule and filters.rule not in record["rule_ids"]:
            continue
        if not viewer.sees_partner(_partner(record["sender"]), record["recipient"]):
            continue
        found.append(_visible(record, viewer))
    return found[::-1][: filters.limit]


@dataclass(frozen=True)
class Stage:
    at: dt.datetime
    stage: str
    partner: str
    outcome: str
    detail: str = ""


@dataclass(frozen=True)
class Trace:
    correlation_id: str
    stages: list[Stage] = field(default_factory=list)
    trace_ids: tuple[str, ...] = ()
    """The OpenTelemetry trace ids the flow's deliveries ran in (one, unless a parked
    event started a new trace)."""

    @property
    def total_ms(self) -> float:
        if len(self.stages) < 2:
            return 0.0
        return (self.stages[-1].at - self.stages[0].at).total_seconds() * 1000


async def trace(session: AsyncSession, viewer: Viewer, correlation_id: str) -> Trace:
    """Every stage of one flow: received, decided per recipient, delivered or failed."""
    stages: list[Stage] = []
    received = False
    query = audit.AuditQuery(correlation_id=correlation_id)
    async for record in audit.search(session, query):
        source = _partner(record["sender"])
        if not viewer.sees_partner(source, record["recipient"]):
            continue
        if not received:
            stages.append(
                Stage(_moment(record["event_time"]), "received", source, record["event_type"])
            )
            received = True
        rules = ", ".join(record["rule_ids"]) or ", ".join(record["missing"])
        stages.append(
            Stage(
                _moment(record["recorded_at"]),
                "decided" if record["action"] != Action.RECORD else "recorded",
                record["recipient"] or "-",
                record["outcome"],
                rules,
            )
        )
    trace_ids: dict[str, None] = {}
    for receipt in await receipts.for_flows(session, [correlation_id]):
        if not viewer.sees_partner(receipt.recipient):
            continue
        if receipt.trace_id:
            trace_ids[receipt.trace_id] = None
        tries = f"{receipt.attempts} attempt(s), {receipt.seconds * 1000:.0f} ms"
        detail = f"{tries}; {receipt.detail}" if receipt.detail else tries
        stages.append(
            Stage(receipt.finished_at, "delivered", receipt.recipient, receipt.outcome, detail)
        )
    return Trace(correlation_id, sorted(stages, key=lambda s: s.at), tuple(trace_ids))


async def label_rows(
    session: AsyncSession, viewer: Viewer, partner: str | None = None, state: str | None = None
) -> list[labels.LabelView]:
    """The labels the viewer may see, at ``partner`` and in ``state`` when given."""
    return [
        v
        for v in await labels.status(session)
        if viewer.sees_partner(v.partner)
        and (not partner or v.partner == partner)
        and (not state or v.state.value == state)
    ]


def view_audited(viewer: Viewer, subject: str, what: str) -> AuditEntry:
    """The audit record of a privacy officer's look at a person's audit details."""
    now = dt.datetime.now(dt.UTC)
    return AuditEntry(
        event_id=f"console-view-{now.timestamp():.6f}",
        event_type="nl.ketenhub.console.view",
        event_time=now,
        action="view",
        sender=f"urn:ketenhub:console:{viewer.name}",
        subject=subject,
        object=what,
        outcome=AuditOutcome.VIEWED,
        correlation_id=f"console-{viewer.name}",
    )


async def audited_report(
    sessions: async_sessionmaker[AsyncSession], viewer: Viewer, subject: str, what: str
) -> dict[str, Any]:
    """A person's disclosure report, for a privacy officer only; the look (``what``) is
    written to the audit trail in the same transaction."""
    if not viewer.may_see_audit_details():
        raise Forbidden("only a privacy officer sees a person's audit details")
    async with sessions.begin() as session:
        found = await audit.disclosure_report(session, await with_history(session, [subject]))
        if not found["disclosures"] and not found["consent_and_title_changes"]:
            raise NotFound("no audit records for this pseudonym")
        await audit.append(session, [view_audited(viewer, subject, what)])
    return found


async def dead_letter(
    sessions: async_sessionmaker[AsyncSession], viewer: Viewer, letter_id: str
) -> Letter:
    """The dead letter ``letter_id``, if the viewer may see it; NotFound otherwise (a
    partner is not told that another's exists)."""
    async with sessions() as session:
        letter = await dead_letters.get(session, letter_id)
    if letter is None or not viewer.sees_partner(letter.recipient):
        raise NotFound("no such dead letter")
    return letter


def visible_connectors(
    connectors: Iterable[Connector[Any]],
    viewer: Viewer,
    kind: str | None = None,
    partner: str | None = None,
) -> list[Connector[Any]]:
    """The connectors the viewer may see (a partner its own, the others all), of ``kind``
    and serving ``partner`` when given."""
    return [
        c
        for c in connectors
        if (viewer.sees_partner(c.partner) or serves(c, viewer.partner))
        and (not kind or c.kind == kind)
        and (not partner or serves(c, partner))
    ]


def serves(connector: Connector[Any], partner: str | None) -> bool:
    """Whether ``connector`` serves ``partner`` (a kind's connector serves each of its
    partners); a name that is no partner id is served by the connector named for it."""
    if partner is None:
        return False
    try:
        return connector.serves(partner)
    except ValueError:
        return False


def chosen_disclosures(
    report: dict[str, Any], recipient: str | None = None, outcome: str | None = None
) -> list[dict[str, Any]]:
    """A report's disclosures to ``recipient`` and with ``outcome`` when given, newest
    first as every console list."""
    return [
        d
        for d in reversed(report["disclosures"])
        if (not recipient or d["recipient"] == recipient)
        and (not outcome or d["outcome"] == outcome)
    ]
