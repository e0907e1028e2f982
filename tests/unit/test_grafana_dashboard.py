"""The Grafana dashboard asks only for series the hub really exports, and the table of
what to watch in deploy/README.md renders whole."""

from __future__ import annotations

import json
import re
from pathlib import Path

from prometheus_client import REGISTRY

import hub.connectors.runtime.metrics
import hub.metrics  # noqa: F401 - registers the hub's series

DEPLOY = Path(__file__).parents[2] / "deploy"
DASHBOARD = DEPLOY / "grafana" / "ketenhub.json"
SUFFIXES = {"counter": ("_total",), "histogram": ("_bucket", "_count", "_sum"), "gauge": ("",)}


def _exported() -> set[str]:
    names = set()
    for family in REGISTRY.collect():
        if family.name.startswith("ketenhub_"):
            names |= {family.name + s for s in SUFFIXES.get(family.type, ("",))}
    return names


def test_every_series_the_dashboard_asks_for_is_exported() -> None:
    dashboard = json.loads(DASHBOARD.read_text(encoding="utf-8"))
    expressions = [t["expr"] for p in dashboard["panels"] for t in p["targets"]]
    asked = {name for e in expressions for name in re.findall(r"ketenhub_[a-z_]+", e)}
    exported = _exported()
    assert asked, "the dashboard queries nothing"
    assert asked <= exported, f"not exported: {sorted(asked - exported)}"
    for family in (
        "flow_seconds",
        "router_decisions",
        "consumer_lag",
        "dead_letter_depth",
        "labels_incomplete",
        "connector_up",
        "connector_messages",
    ):
        assert any(family in name for name in asked), f"no panel shows ketenhub_{family}"


def test_every_series_the_hub_exports_is_on_the_dashboard() -> None:
    dashboard = json.loads(DASHBOARD.read_text(encoding="utf-8"))
    text = json.dumps(dashboard["panels"])
    families = {family.name for family in REGISTRY.collect() if family.name.startswith("ketenhub_")}
    missing = sorted(f for f in families if f not in text)
    assert not missing, f"no panel shows {missing}"


def test_the_what_to_watch_table_has_every_row() -> None:
    """A blank line ends a Markdown table: the rows after it would show as loose text."""
    readme = (DEPLOY / "README.md").read_text(encoding="utf-8")
    section = readme.split("## What to watch", 1)[1].split("\n## ", 1)[0]
    lines = section.splitlines()[1:]
    rows = [n for n, line in enumerate(lines) if line.startswith("|")]
    assert rows, "no table under 'What to watch'"
    table = lines[rows[0] : rows[-1] + 1]
    assert all(line.startswith("|") for line in table), "a line breaks the table"
    assert any("ketenhub_certificate_expiry_seconds" in line for line in table)
