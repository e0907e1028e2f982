"""`hub up` as a new user runs it: broker and hub come up, answer, and stop on SIGTERM."""

from __future__ import annotations

import json
import os
import re
import signal
import stat
import subprocess
import sys
import threading
import time
from pathlib import Path

import httpx
import pytest

from hub.bus.embedded import answers_kafka, free_port
from hub.cli.simulate import LIVE_DEMO
from hub.console.web import COOKIE
from tests.backends import apache_kafka_or_skip
from tests.chaos.rig import alive

pytestmark = pytest.mark.integration
HUB = str(Path(sys.executable).with_name("hub"))


def test_hub_up_starts_everything_and_stops_on_sigterm(tmp_path: Path) -> None:
    endpoints_file = tmp_path / "endpoints.json"
    env = {
        **os.environ,
        "HUB_DATA_DIR": str(tmp_path / "data"),
        "HUB_HTTP__PORT": str(free_port()),
        "HUB_LOG__FORMAT": "json",
    }
    started = time.monotonic()
    process = subprocess.Popen(
        [HUB, "up", "--endpoints-file", str(endpoints_file)],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
    )
    try:
        while not endpoints_file.exists():
            assert process.poll() is None, process.stdout.read().decode() if process.stdout else ""
            assert time.monotonic() - started < 30, "hub up took longer than 30 s"
            time.sleep(0.1)
        endpoints = json.loads(endpoints_file.read_text())
        host, port = endpoints["kafka_bootstrap_servers"].rsplit(":", 1)
        assert answers_kafka(host, int(port))
        ready = httpx.get(endpoints["readiness"], timeout=5)
        assert ready.status_code == 200
        assert ready.json()["checks"] == {
            "database": True,
            "kafka": True,
            "kafka_partitions_led": True,
        }
        assert ready.json()["kafka_cluster"].startswith("healthy: 1 brokers")
        login = httpx.get(endpoints["console"], timeout=5, follow_redirects=True)
        assert login.status_code == 200
        assert "Log in" in login.text
        data = tmp_path / "data"
        assert (data / "hub.db").exists()
        assert _mode(data) == 0o700, "the data directory is the hub user's alone"
        private = [data / "hub.db", data / "endpoints.json", endpoints_file]
        private += sorted(data.glob("*.key")) + sorted(data.glob("hub.db-*"))
        assert {p.name: _mode(p) for p in private} == {p.name: 0o600 for p in private}
    finally:
        process.send_signal(signal.SIGTERM)
        output, _ = process.communicate(timeout=15)
    assert process.returncode == 0, output.decode()
    assert b"Ketenhub stopped." in output
    assert not answers_kafka(host, int(port), timeout=0.5), "the embedded broker outlived the hub"


def test_hub_up_with_simulators_and_one_command_for_flow_a(tmp_path: Path) -> None:
    """The README's demo: `make up` (hub up --simulators), then `hub simulate intake`;
    `hub simulate include`, then `hub labels status` shows the label at all three."""
    env = {
        **os.environ,
        "HUB_DATA_DIR": str(tmp_path / "data"),
        "HUB_HTTP__PORT": str(free_port()),
        "HUB_LOG__FORMAT": "json",
    }
    endpoints_file = tmp_path / "data" / "endpoints.json"
    process = subprocess.Popen(
        [HUB, "up", "--simulators"], env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT
    )
    rest: _Drain | None = None
    try:
        started = time.monotonic()
        while not endpoints_file.exists():
            assert process.poll() is None, process.stdout.read().decode() if process.stdout else ""
            assert time.monotonic() - started < 30, "hub up --simulators took longer than 30 s"
            time.sleep(0.1)
        demo = subprocess.run(
            [HUB, "simulate", "intake"], env=env, capture_output=True, text=True, timeout=60
        )
        assert demo.returncode == 0, demo.stdout + demo.stderr
        assert "the LLC received 1" in demo.stdout
        assert "Communication: Detentie gestart op" in demo.stdout
        user, password = _printed_login(process)
        rest = _drained(process)  # a full pipe would stall the hub's logging
        assert password not in endpoints_file.read_text(), "the demo login is printed only"
        written = json.loads(endpoints_file.read_text())
        origin = {"Origin": written["http"]}  # a browser names its origin on a POST
        with httpx.Client(base_url=written["http"], timeout=5, headers=origin) as console:
            login = console.post("/console/login", data={"username": user, "password": password})
            assert login.status_code == 303, login.text
            # The Secure cookie, sent to http://127.0.0.1 as browsers do (Python's jar won't)
            session = {"Cookie": f"{COOKIE}={login.cookies[COOKIE]}"}
            answer = console.get(login.headers["location"], headers=session)
            assert answer.status_code == 200
            assert "dji" in answer.text
            assert "llz:fivoor" in answer.text, "the flows page shows the intake"
        quiet = subprocess.run(
            [HUB, "simulate", "no-case"], env=env, capture_output=True, text=True, timeout=60
        )
        assert "nothing was sent to anyone (the audit records 'no case')" in quiet.stdout
        took = float(re.search(r"received 0 in ([0-9.]+) s", quiet.stdout)[1])  # type: ignore[index]
        assert took < 10, "it ends when the audit shows NO_CASE, not after its 10 s wait"
        included = subprocess.run(
            [HUB, "simulate", "include"], env=env, capture_output=True, text=True, timeout=60
        )
        assert "3 of 3 partners heard of it" in included.stdout, included.stdout
        # The wait counts from the last message sent: 40 take longer than 2 s to send
        # here, and a wait counted from the first reported the last few as not arrived.
        load = subprocess.run(
            [HUB, "simulate", "load", "--count", "40", "--wait-s", "2"],
            env=env,
            capture_output=True,
            text=True,
            timeout=120,
        )
        assert "sent 40; the LLC received 40 in" in load.stdout, load.stdout + load.stderr
        status = subprocess.run(
            [HUB, "labels", "status", LIVE_DEMO.bsn, "--json"],
            env=env,
            capture_output=True,
            text=True,
            timeout=60,
        )
        rows = [json.loads(line) for line in status.stdout.splitlines()]
        assert sorted((r["partner"], r["state"]) for r in rows) == [
            ("crisis:amsterdam", "set"),
            ("politie", "set"),
            ("reclassering", "set"),
        ]
        assert LIVE_DEMO.bsn not in status.stdout + status.stderr
    finally:
        process.send_signal(signal.SIGTERM)
        output, _ = process.communicate(timeout=15) if rest is None else (b"", None)
        if rest is not None:
            process.wait(timeout=15)
            rest.join(timeout=5)
            output = b"".join(rest.lines)
    assert process.returncode == 0, output.decode(errors="replace")


class _Drain(threading.Thread):
    """Reads a process's output as it comes, so that it never waits on a full pipe."""

    def __init__(self, process: subprocess.Popen[bytes]):
        super().__init__(daemon=True)
        self.process, self.lines = process, list[bytes]()

    def run(self) -> None:
        assert self.process.stdout is not None
        for line in self.process.stdout:
            self.lines.append(line)


def _drained(process: subprocess.Popen[bytes]) -> _Drain:
    drain = _Drain(process)
    drain.start()
    return drain


def _mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


def _printed_login(process: subprocess.Popen[bytes]) -> tuple[str, str]:
    """The demo login `hub up --simulators` printed at start (it writes it nowhere)."""
    assert process.stdout is not None
    for raw in process.stdout:
        words = raw.decode(errors="replace").split()
        if words[:1] == ["console_demo_login"]:
            return words[1], words[3]
    raise AssertionError("hub up printed no demo login")


def _processes_with(text: str) -> list[str]:
    """Command lines of the running processes that mention ``text``."""
    found = []
    for cmdline in Path("/proc").glob("[0-9]*/cmdline"):
        try:
            line = cmdline.read_bytes().replace(b"\0", b" ").decode(errors="replace")
        except OSError:
            continue
        if text in line:
            found.append(line)
    return found


def _children(parent: int, marker: bytes) -> list[int]:
    """The pids of ``parent``'s children whose command line has ``marker``."""
    found = []
    for status in Path("/proc").glob("[0-9]*/stat"):
        try:
            ppid = int(status.read_text().rsplit(")", 1)[1].split()[1])
            cmdline = (status.parent / "cmdline").read_bytes()
        except (OSError, IndexError, ValueError):
            continue
        if ppid == parent and marker in cmdline:
            found.append(int(status.parent.name))
    return found


def _assert_gone(host: str, port: int, message: str) -> None:
    """No broker answers on ``host:port`` within 5 s."""
    for _ in range(50):
        if not answers_kafka(host, port, timeout=0.2):
            break
        time.sleep(0.1)
    assert not answers_kafka(host, port, timeout=0.5), message


def _wait_up(process: subprocess.Popen[bytes], endpoints_file: Path, limit_s: float) -> None:
    started = time.monotonic()
    while not endpoints_file.exists():
        assert process.poll() is None, process.stdout.read().decode() if process.stdout else ""
        assert time.monotonic() - started < limit_s, f"hub up took longer than {limit_s} s"
        time.sleep(0.1)


@pytest.mark.apache_kafka
@pytest.mark.postgres
def test_hub_up_on_apache_kafka_and_postgres_survives_a_kill_and_leaves_no_broker(
    tmp_path: Path,
) -> None:
    """`hub up --broker kafka --store postgres`: the production broker and store with the
    same two commands, the router in a child process of its own (both cores: issue 24,
    build 3). Killed with SIGKILL, it leaves no broker and no router behind; started
    again, it finds its data (the audit chain goes on) and takes the next intake. The
    LLC's connector was paused before the kill, with the release notice held: the pause
    and what it holds outlive the kill, and the resume delivers it."""
    apache_kafka_or_skip()
    data = tmp_path / "data"
    env = {
        **os.environ,
        "HUB_DATA_DIR": str(data),
        "HUB_HTTP__PORT": str(free_port()),
        "HUB_LOG__FORMAT": "json",
    }
    command = [HUB, "up", "--simulators", "--broker", "kafka", "--store", "postgres"]
    endpoints_file = data / "endpoints.json"
    records = []
    for run in (1, 2):
        endpoints_file.unlink(missing_ok=True)
        process = subprocess.Popen(
            command, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT
        )
        try:
            _wait_up(process, endpoints_file, 90)
            written = json.loads(endpoints_file.read_text())
            assert written["database"].startswith("postgresql+asyncpg://")
            ready = httpx.get(written["readiness"], timeout=5).json()
            assert ready["kafka_cluster"].startswith("healthy: 1 brokers"), ready
            # Under root PostgreSQL runs as its own user and must pass through (not list).
            assert _mode(data) == (0o711 if os.geteuid() == 0 else 0o700)
            assert _mode(data / "kafka-1") == 0o700
            assert _mode(endpoints_file) == 0o600
            routers = _children(process.pid, b"spawn_main")  # a spawned Python
            assert len(routers) == 1, "the router runs in a child process of its own"
            llc = f"{written['simulators']['llc']}/_sim/received"
            if run == 1:
                _hub(env, "simulate", "intake", expect="the LLC received 1")
                _hub(env, "connectors", "pause", "llc-communication", "--why", "maintenance")
                # The release ends the demo client's stay (so run 2's START is a new one);
                # its notice to the LLC waits in the paused lane. --wait-s 2, not the
                # default 10: nothing is to arrive, a longer wait only takes longer.
                _hub(env, "simulate", "release", "--wait-s", "2", expect="the LLC received 0")
                _held_and_paused(env, held=1, paused=True)
            else:
                assert httpx.get(llc, timeout=5).json()["received"] == []
                _held_and_paused(env, held=1, paused=True)
                _hub(env, "connectors", "resume", "llc-communication")
                for _ in range(100):
                    if httpx.get(llc, timeout=5).json()["received"]:
                        break
                    time.sleep(0.1)
                (notice,) = httpx.get(llc, timeout=5).json()["received"]
                assert "beëindigd" in json.dumps(notice, ensure_ascii=False), notice
                _held_and_paused(env, held=0, paused=False)
                _hub(env, "simulate", "intake", expect="the LLC received 1")
            verify = subprocess.run(  # finds the PostgreSQL store `hub up` runs on
                [HUB, "audit", "verify"], env=env, capture_output=True, text=True, timeout=60
            )
            assert verify.returncode == 0, verify.stdout + verify.stderr
            records.append(verify.stdout)
        finally:
            process.send_signal(signal.SIGKILL if run == 1 else signal.SIGTERM)
            output, _ = process.communicate(timeout=30)
        brokers = [p for p in _processes_with(str(data / "kafka-1")) if "kafka.Kafka" in p]
        for _ in range(50):
            if not brokers:
                break
            time.sleep(0.1)
            brokers = [p for p in _processes_with(str(data / "kafka-1")) if "kafka.Kafka" in p]
        assert brokers == [], f"run {run}: a broker outlived its hub"
        for _ in range(50):
            if not any(alive(pid) for pid in routers):
                break
            time.sleep(0.1)
        assert not any(alive(pid) for pid in routers), f"run {run}: a router outlived its hub"
    assert b"Ketenhub stopped." in output
    first, second = (int(r.split(": ")[1].split()[0]) for r in records)
    assert second > first, records


def _hub(env: dict[str, str], *args: str, expect: str = "") -> str:
    """Run a hub command against the running hub's store; it must succeed."""
    done = subprocess.run([HUB, *args], env=env, capture_output=True, text=True, timeout=90)
    assert done.returncode == 0, (args, done.stdout + done.stderr)
    assert expect in done.stdout, (args, done.stdout + done.stderr)
    return done.stdout


def _held_and_paused(env: dict[str, str], *, held: int, paused: bool) -> None:
    rows = json.loads(_hub(env, "connectors", "list", "--json"))
    (llc,) = [row for row in rows if row["name"] == "llc-communication"]
    assert (llc["held"], bool(llc["paused"])) == (held, paused), llc


def test_hub_up_killed_with_sigkill_takes_its_embedded_broker_along(tmp_path: Path) -> None:
    """tansu is started with the parent-death signal: a hub killed outright leaves no
    broker answering, so the next `hub up` never runs beside an orphan."""
    endpoints_file = tmp_path / "endpoints.json"
    env = {
        **os.environ,
        "HUB_DATA_DIR": str(tmp_path / "data"),
        "HUB_HTTP__PORT": str(free_port()),
        "HUB_LOG__FORMAT": "json",
    }
    process = subprocess.Popen(
        [HUB, "up", "--endpoints-file", str(endpoints_file)],
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        _wait_up(process, endpoints_file, 30)
        host, port = json.loads(endpoints_file.read_text())["kafka_bootstrap_servers"].split(":")
        assert answers_kafka(host, int(port))
    finally:
        process.kill()
        process.wait()
    _assert_gone(host, int(port), "tansu outlived a killed hub")


def test_hub_up_starts_a_new_broker_when_its_tansu_dies_and_loses_nothing(
    tmp_path: Path,
) -> None:
    """Only the embedded broker killed (SIGKILL to tansu, not to the hub): `hub up` starts
    a new one on the same address within seconds, the relay sends it what it lacks, the
    hub is ready again and the next intake arrives. Before, the hub ran on without a
    broker, not ready, its log filling with connection errors (the outside look). The
    broker started again still dies with its hub."""
    endpoints_file = tmp_path / "endpoints.json"
    env = {
        **os.environ,
        "HUB_DATA_DIR": str(tmp_path / "data"),
        "HUB_HTTP__PORT": str(free_port()),
        "HUB_LOG__FORMAT": "json",
    }
    log = (tmp_path / "hub.log").open("wb")
    process = subprocess.Popen(
        [HUB, "up", "--simulators", "--endpoints-file", str(endpoints_file)],
        env=env,
        stdout=log,
        stderr=subprocess.STDOUT,
    )
    try:
        _wait_up(process, endpoints_file, 60)
        written = json.loads(endpoints_file.read_text())
        host, port = written["kafka_bootstrap_servers"].split(":")
        (first,) = _children(process.pid, b"tansu")
        os.kill(first, signal.SIGKILL)
        for _ in range(300):
            started = [pid for pid in _children(process.pid, b"tansu") if alive(pid)]
            if started and started != [first] and answers_kafka(host, int(port), timeout=0.2):
                break
            time.sleep(0.1)
        else:
            pytest.fail("no new broker within 30 s")
        for _ in range(300):
            if httpx.get(written["readiness"], timeout=5).status_code == 200:
                break
            time.sleep(0.2)
        else:
            pytest.fail("not ready again within 60 s")
        demo = subprocess.run(
            [HUB, "simulate", "intake"], env=env, capture_output=True, text=True, timeout=60
        )
        assert "the LLC received 1" in demo.stdout, demo.stdout + demo.stderr
        assert b"embedded_broker_restarted" in (tmp_path / "hub.log").read_bytes()
    finally:
        process.kill()
        process.wait()
        log.close()
    _assert_gone(host, int(port), "the new tansu outlived its hub")
