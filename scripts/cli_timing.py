"""How long the hub's read commands take, wall clock and CPU, against whatever hub the
settings (or the running `hub up` in this directory) point at. A measuring script, not
a test: the figures drift with the shared machine (issue 25, item 5: under a second).

    .venv/bin/python scripts/cli_timing.py [ROUNDS]
"""

from __future__ import annotations

import resource
import statistics
import subprocess
import sys
import time
from pathlib import Path

HUB = str(Path(sys.executable).with_name("hub"))
COMMANDS = [
    ["--version"],
    ["dlq", "list"],
    ["labels", "status"],
    ["connectors", "list"],
    ["topics", "list"],
    ["policy", "--help"],
    ["audit", "report", "--help"],
]


def _once(args: list[str]) -> tuple[float, float]:
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    started = time.perf_counter()
    subprocess.run([HUB, *args], capture_output=True, check=False)  # noqa: S603 (the hub beside this interpreter)
    wall = time.perf_counter() - started
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    cpu = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
    return wall, cpu


def main() -> None:
    rounds = int(sys.argv[1]) if len(sys.argv) > 1 else 3
    print(f"{'command':<24} {'wall s (median)':>16} {'cpu s (median)':>15}")
    for args in COMMANDS:
        runs = [_once(args) for _ in range(rounds)]
        wall = statistics.median(w for w, _ in runs)
        cpu = statistics.median(c for _, c in runs)
        print(f"{' '.join(args):<24} {wall:>16.2f} {cpu:>15.2f}")


if __name__ == "__main__":
    main()
