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

pytestmark = [pytest.mark.slow, pytest.mark.integration]
HUB = str(Path(sys.executable).with_name("hub"))
KEYS = (
    "relay_max_msgs_per_s",
    "hub_max_msgs_per_s",
    "throughput_ratio",
    "relay_p99_ms_at_100",
    "hub_p99_ms_at_100",
    "p99_ratio_at_100",
    "intake_p50_ms",
    "intake_p99_ms",
    "policy_decisions_per_s",
    "rss_mb_100k_subjects",
    "hub_cpu_ms_per_intake",
    "hub_max_msgs_per_s_router_apart",
    "hub_cpu_ms_per_intake_router_apart",
)


@pytest.mark.timeout(600)
def test_the_smallest_bench_reports_every_figure(
    tmp_path: Path, report: Callable[[str], None]
) -> None:
    target = tmp_path / "out" / "bench.json"
    done = subprocess.run(
        [HUB, "bench", "--quick", "--scale", "0.02", "--subjects", "500", "--json", str(target)],
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
    assert figures["intake_p50_ms"] <= figures["intake_p99_ms"]
    assert figures["relay_max_msgs_per_s"] > figures["relay_p99_ms_at_100"] / 1000
    assert figures["throughput_ratio"] == pytest.approx(
        figures["hub_max_msgs_per_s"] / figures["relay_max_msgs_per_s"], rel=0.01
    )
    assert figures["machine"]["cores"] >= 1
    assert figures["machine"]["broker"].startswith("tansu")
    assert {run["name"] for run in figures["runs"]} >= {
        "relay max",
        "hub 100/s",
        "hub max",
        "intake",
        "hub max, router apart",
    }
    assert all(run["arrived"] == run["sent"] for run in figures["runs"])
    assert set(figures["targets"]) == {
        "throughput_ratio",
        "p99_ratio_at_100",
        "intake_p99_ms",
        "policy_decisions_per_s",
        "rss_mb_100k_subjects",
    }
    busy = figures["hub_cpu_ms_per_intake"] * figures["hub_max_msgs_per_s"] / 1000
    assert busy < (figures["machine"]["cores"] or 1) * 1.1, "no more CPU than the machine has"
    assert target.with_suffix(".png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert "throughput_ratio" in done.stdout
    report("[bench] smallest size: " + ", ".join(f"{key} {figures[key]}" for key in KEYS))
