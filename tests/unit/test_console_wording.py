"""How the console words what the store keeps: Amsterdam time to the second (summer and
winter), a missing condition as a sentence, a label's reason in every state, and pages
that keep the list's filters."""

from __future__ import annotations

import datetime as dt

import pytest
from starlette.requests import Request

from hub.console import paging, wording
from hub.console.queries import NO_CASE, FlowPicture, PathStat, label_box
from hub.schemas.labels import LabelState
from hub.state.labels import LabelAction, LabelView


@pytest.mark.parametrize(
    ("moment", "shown"),
    [
        ("2026-12-02T04:41:07.123456+00:00", "2026-12-02 05:41:07"),
        ("2026-07-01T04:41:07.999999+00:00", "2026-07-01 06:41:07"),
        (dt.datetime(2026, 3, 29, 0, 59, 59), "2026-03-29 01:59:59"),
        (dt.datetime(2026, 3, 29, 1, 0, 0, tzinfo=dt.UTC), "2026-03-29 03:00:00"),
        (None, ""),
    ],
)
def test_a_moment_in_amsterdam_to_the_second(moment: dt.datetime | str | None, shown: str) -> None:
    assert wording.local_time(moment) == shown


def test_a_trace_moment_keeps_its_milliseconds_in_amsterdam() -> None:
    moment = dt.datetime(2026, 7, 1, 4, 41, 7, 999999, tzinfo=dt.UTC)
    assert wording.local_time(moment, milliseconds=True) == "2026-07-01 06:41:07.999"
    assert wording.local_time(None, milliseconds=True) == ""


def test_a_missing_condition_reads_as_its_sentence() -> None:
    sentence = wording.missing_sentence("geen-grondslag-medisch")
    assert sentence.startswith("Voor medische gegevens is er geen toestemming")
    assert wording.missing_sentence("a-code-from-a-later-version") == "a-code-from-a-later-version"


def _view(state: LabelState, action: LabelAction, attempts: int, detail: str | None) -> LabelView:
    moment = dt.datetime(2026, 12, 2, tzinfo=dt.UTC)
    return LabelView(
        subject="psn-k1-x",
        partner="politie",
        state=state,
        action=action,
        reference="ref",
        detail=detail,
        attempts=attempts,
        resends=0,
        requested_at=moment,
        updated_at=moment,
    )


@pytest.mark.parametrize(
    ("state", "action", "attempts", "detail", "reason"),
    [
        (LabelState.SET, LabelAction.SET, 1, None, "set at the partner after 1 attempt"),
        (
            LabelState.WITHDRAWN,
            LabelAction.WITHDRAW,
            3,
            None,
            "withdrawn at the partner after 3 attempts",
        ),
        (
            LabelState.SET,
            LabelAction.SET,
            0,
            None,
            "set at the partner (held there before the hub kept track)",
        ),
        (LabelState.PENDING, LabelAction.SET, 0, None, "the set is on its way to the partner"),
        (
            LabelState.PENDING,
            LabelAction.WITHDRAW,
            1,
            "attempt 1 failed: 503",
            "the withdrawal is on its way to the partner; attempt 1 failed: 503",
        ),
        (LabelState.FAILED, LabelAction.SET, 5, "refused: 400", "refused: 400"),
        (LabelState.FAILED, LabelAction.SET, 5, None, "the set did not reach the partner"),
    ],
)
def test_a_label_has_a_reason_in_every_state(
    state: LabelState, action: LabelAction, attempts: int, detail: str | None, reason: str
) -> None:
    assert wording.label_reason(_view(state, action, attempts, detail)) == reason


def _request(query: str) -> Request:
    return Request(
        {"type": "http", "method": "GET", "path": "/console/decisions", "headers": [],
         "query_string": query.encode(), "server": ("hub", 80), "scheme": "http"}
    )  # fmt: skip


def test_a_page_keeps_the_filters_and_knows_whether_another_follows() -> None:
    rows = list(range(paging.PAGE_SIZE * 2 + 1))
    first, third = paging.page_of(rows, 1), paging.page_of(rows, 3)
    assert first.rows == rows[: paging.PAGE_SIZE]
    assert first.more
    assert third.rows == [rows[-1]]
    assert not third.more
    assert len(rows) <= paging.wanted(3), "reading wanted(n) rows is enough for page n"
    link = first.link(_request("outcome=DENY&page=1&partner=politie"), 2)
    path, _, query = link.partition("?")
    assert path == "/console/decisions"
    assert sorted(query.split("&")) == ["outcome=DENY", "page=2", "partner=politie"]


def _every_flow() -> FlowPicture:
    """Flows A to H through one ZVH: every sender to most recipients, so lines cross."""
    senders = ["dji", "zvh:amsterdam", "crisis:amsterdam", "politie", "pi:pi-ams"]
    recipients = [
        "gemeente:GM0363",
        "llz:fivoor",
        "zvh:amsterdam",
        "pi:pi-ams",
        "politie",
        "reclassering",
        "crisis:amsterdam",
        NO_CASE,
    ]
    paths = [
        PathStat(source, target, decisions=(7 * i + 3 * j) % 1200 + 1)
        for i, source in enumerate(senders)
        for j, target in enumerate(recipients)
        if source != target
    ]
    return FlowPicture(since=dt.datetime(2026, 12, 2, tzinfo=dt.UTC), paths=paths)


def _overlaps(boxes: list[tuple[float, float, float, float]]) -> int:
    return sum(
        a[0] < b[2] and b[0] < a[2] and a[1] < b[3] and b[1] < a[3]
        for n, a in enumerate(boxes)
        for b in boxes[n + 1 :]
    )


def test_no_count_on_the_flow_graph_is_written_over_another() -> None:
    _, edges, _ = _every_flow().graph()
    placed = [label_box(*e.label, str(e.path.decisions)) for e in edges]
    middles = [
        label_box(
            (e.source.x + e.target.x) / 2,
            (e.source.y + e.target.y) / 2 - 4,
            str(e.path.decisions),
        )
        for e in edges
    ]
    assert _overlaps(middles) > 0, "written in the middle, as before, the counts collide"
    assert _overlaps(placed) == 0
    for edge in edges:
        x, y = edge.label
        t = (x - edge.source.x) / (edge.target.x - edge.source.x)
        on_line = edge.source.y + (edge.target.y - edge.source.y) * t - 4
        assert 0.1 < t < 0.9
        assert abs(y - on_line) < 1e-6, "each count sits on its own line"
