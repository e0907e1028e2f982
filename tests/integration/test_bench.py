"""`hub bench` in its smallest size: every figure is there with a sane value, and the
plot is written beside the JSON. A smoke test of the benchmark, not a timing test: the
targets are judged by the benchmark itself (docs/performance.md)."""

from __future__ import annotations

import json
import math
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

import pytest

from tests.backends import BOTH_PATHS, PRODUCTION, apache_kafka_or_skip

pytestmark = [pytest.mark.slow, pytest.mark.integration]
HUB = str(Path(sys.executable).with_name("hub"))
KEYS = (
    "hub_cpu_ms_per_intake",
    "floor_cpu_ms_per_intake",
    "cpu_over_floor",
    "hub_max_msgs_per_s",
    "floor_max_msgs_per_s",
    "intake_p50_ms_at_50",
    "intake_p99_ms_at_50",
    "relay_max_msgs_per_s",
    "throughput_ratio",
    "relay_p99_ms_at_100",
    "hub_p99_ms_at_100",
    "p99_ratio_at_100",
    "policy_decisions_per_s",
    "rss_mb_100k_subjects",
    "hub_max_msgs_per_s_router_apart",
    "hub_cpu_ms_per_intake_router_apart",
)
AT_REST = ("idle_cpu_pct", "floor_idle_cpu_pct")
"""Figures that may rightly be 0: a process at rest may use no clock tick in the window."""


@pytest.mark.timeout(600)
@pytest.mark.parametrize("path", BOTH_PATHS)
def test_the_smallest_bench_reports_every_figure(
    path: str, tmp_path: Path, report: Callable[[str], None]
) -> None:
    """On tansu with SQLite, and on the production path (issue 24, item 4): Apache Kafka
    with the idempotent producer, PostgreSQL for the hub and for the floor."""
    backing = ["--broker", "kafka", "--store", "postgres"] if path == PRODUCTION else []
    if path == PRODUCTION:
        apache_kafka_or_skip()
    target = tmp_path / "out" / "bench.json"
    done = subprocess.run(
        [
            HUB,
            "bench",
            "--quick",
            "--scale",
            "0.02",
            "--subjects",
            "500",
            "--json",
            str(target),
            *backing,
        ],
        capture_output=True,
        text=True,
        timeout=540,
        check=False,
    )
    assert done.returncode == 0, done.stderr[-3000:]
    figures = json.loads(target.read_text())
    for key in KEYS:
        value = figures[key]
        assert isinstance(value, int | float), key
        assert math.isfinite(value), key
        assert value > 0, key
    for key in AT_REST:
        assert 0 <= figures[key] <= 100 * figures["machine"]["cores"], key
    assert figures["intake_p50_ms_at_50"] <= figures["intake_p99_ms_at_50"]
    assert figures["intakes_arrived_at_50"] == figures["intakes_at_50"] > 0
    assert figures["cpu_over_floor"] == pytest.approx(
        figures["hub_cpu_ms_per_intake"] / figures["floor_cpu_ms_per_intake"], rel=0.02
    )
    assert figures["relay_max_msgs_per_s"] > figures["relay_p99_ms_at_100"] / 1000
    assert figures["throughput_ratio"] == pytest.approx(
        figures["hub_max_msgs_per_s"] / figures["relay_max_msgs_per_s"], rel=0.01
    )
    assert figures["machine"]["cores"] >= 1
    assert figures["machine"]["broker"].startswith(
        "Apache Kafka" if path == PRODUCTION else "tansu"
    )
    assert figures["machine"]["store"] == ("postgres" if path == PRODUCTION else "sqlite")
    assert figures["fetch_max_wait_ms"] == (500 if path == PRODUCTION else 20)
    assert {run["name"] for run in figures["runs"]} >= {
        "relay max",
        "hub 100/s",
        "hub max",
        "floor max",
        "intake 50/s",
        "hub max, router apart",
    }
    assert all(run["arrived"] == run["sent"] for run in figures["runs"])
    assert set(figures["targets"]) == {
        "cpu_over_floor",
        "hub_cpu_ms_per_intake",
        "hub_max_msgs_per_s",
        "intake_p99_ms_at_50",
        "idle_cpu_pct",
        "policy_decisions_per_s",
        "rss_mb_100k_subjects",
    }
    busy = figures["hub_cpu_ms_per_intake"] * figures["hub_max_msgs_per_s"] / 1000
    assert busy < (figures["machine"]["cores"] or 1) * 1.1, "no more CPU than the machine has"
    assert target.with_suffix(".png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert "cpu_over_floor" in done.stdout
    report(f"[bench, {path}] smallest size: " + ", ".join(f"{key} {figures[key]}" for key in KEYS))
