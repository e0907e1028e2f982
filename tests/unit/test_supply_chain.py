"""The supply chain (issue 23): bounded dependencies, hashed lock files that `make` and the
image install exactly, and the offline audit of the lock against the vendored advisories.

The checks live in scripts/audit_lock.py (`make audit`, `make lock`); these tests run it as
`make` does, on the real files and on planted copies that each break one rule.
"""

from __future__ import annotations

import importlib.metadata
import json
import re
import subprocess
import sys
from pathlib import Path

from packaging.utils import canonicalize_name

ROOT = Path(__file__).parents[2]
SCRIPT = ROOT / "scripts" / "audit_lock.py"
LOCK = ROOT / "requirements.lock"
DEV_LOCK = ROOT / "requirements-dev.lock"
SNAPSHOT = ROOT / "deploy" / "advisories" / "pypa-advisories.json"


def _audit(*args: str | Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, str(SCRIPT), *map(str, args)],
        capture_output=True,
        text=True,
        check=False,
        timeout=60,
    )


# Runs in a child: refuses to import any module the dev extra alone brings, then imports the
# hub's command line as the image's entrypoint does.
_RUNTIME_ONLY = """
import importlib.abc, sys
DEV_ONLY = set(sys.argv[1].split(","))
class DevOnly(importlib.abc.MetaPathFinder):
    def find_spec(self, name, path=None, target=None):
        if name.partition(".")[0] in DEV_ONLY:
            raise ModuleNotFoundError(f"{name} is installed by the dev extra only")
        return None
sys.meta_path.insert(0, DevOnly())
import hub.cli
"""


def _locked_names(lock: Path) -> set[str]:
    return {
        canonicalize_name(m)
        for m in re.findall(r"(?m)^([A-Za-z0-9][A-Za-z0-9._-]*)==", lock.read_text())
    }


def _failures(output: str) -> list[str]:
    return [line for line in output.splitlines() if line.startswith("FAIL ")]


def _planted(tmp_path: Path, old: str, new: str) -> Path:
    """A copy of the dev lock with one line changed."""
    text = DEV_LOCK.read_text()
    assert old in text
    planted = tmp_path / "planted.lock"
    planted.write_text(text.replace(old, new, 1))
    return planted


def test_the_real_locks_are_hashed_bounded_complete_and_pass_the_audit() -> None:
    """Every entry pinned with hashes, every pyproject requirement bounded and locked."""
    done = _audit()
    assert done.returncode == 0, done.stdout + done.stderr
    assert _failures(done.stdout) == []
    taken = json.loads(SNAPSHOT.read_text())["date"][:10]
    assert f"published up to {taken}" in done.stdout
    assert re.search(r"^1\d\d locked versions in 2 lock files, 0 findings$", done.stdout, re.M)


def test_the_audit_fails_on_a_locked_version_with_a_known_advisory(tmp_path: Path) -> None:
    # requests is no direct dependency, so its pin breaks no other rule: only the audit bites.
    planted = _planted(tmp_path, "requests==2.34.2 ", "requests==2.30.0 ")
    done = _audit(planted)
    assert done.returncode == 1
    assert [line.split(" [")[0] for line in _failures(done.stdout)] == [
        "FAIL requests==2.30.0 (planted.lock): PYSEC-2023-74"
    ]
    assert "CVE-2023-32681" in done.stdout


def test_the_audit_refuses_a_locked_package_the_snapshot_does_not_cover(
    tmp_path: Path,
) -> None:
    snapshot = json.loads(SNAPSHOT.read_text())
    del snapshot["packages"]["sniffio"]
    partial = tmp_path / "partial.json"
    partial.write_text(json.dumps(snapshot))
    done = _audit("--snapshot", partial, LOCK, DEV_LOCK)
    assert done.returncode == 1
    assert _failures(done.stdout) == [
        "FAIL sniffio==1.3.1: not in the advisory snapshot; refresh it"
        " (scripts/audit_lock.py refresh --help)"
    ]


def test_a_lock_entry_without_hashes_is_refused(tmp_path: Path) -> None:
    text = DEV_LOCK.read_text()
    unhashed = re.sub(r"(?m)^(sniffio==1\.3\.1) \\\n(    --hash=\S+(?: \\)?\n)+", r"\1\n", text)
    assert unhashed != text
    planted = tmp_path / "unhashed.lock"
    planted.write_text(unhashed)
    done = _audit(planted)
    assert done.returncode == 1
    assert _failures(done.stdout) == [
        "FAIL unhashed.lock: sniffio==1.3.1: every entry needs sha256 hashes (--generate-hashes)"
    ]


def test_a_lock_entry_that_is_no_exact_pin_is_refused(tmp_path: Path) -> None:
    planted = _planted(tmp_path, "sniffio==1.3.1 ", "sniffio>=1.3.1 ")
    done = _audit(planted)
    assert done.returncode == 1
    assert "not one exact pin (name==version)" in done.stdout


def test_an_unbounded_or_unlocked_pyproject_requirement_is_refused(tmp_path: Path) -> None:
    text = (ROOT / "pyproject.toml").read_text()
    assert '"sniffio>=1.3,<2",' in text
    changed = text.replace('"sniffio>=1.3,<2",', '"sniffio>=1.3", "left-pad>=1,<2",', 1)
    pyproject = tmp_path / "pyproject.toml"
    pyproject.write_text(changed)
    done = _audit("--pyproject", pyproject, LOCK, DEV_LOCK)
    assert done.returncode == 1
    assert _failures(done.stdout) == [
        "FAIL pyproject.toml dependencies: sniffio>=1.3 has no upper bound",
        "FAIL pyproject.toml dependencies: left-pad<2,>=1 is not in requirements.lock"
        " (locked: nothing); run `make lock`",
        "FAIL pyproject.toml dependencies: left-pad<2,>=1 is not in requirements-dev.lock"
        " (locked: nothing); run `make lock`",
    ]


def test_the_two_locks_lock_the_same_versions(tmp_path: Path) -> None:
    planted = _planted(tmp_path, "sniffio==1.3.1 ", "sniffio==1.3.0 ")
    done = _audit(LOCK, planted)
    assert done.returncode == 1
    assert _failures(done.stdout) == [
        "FAIL sniffio is locked differently (requirements.lock: ['1.3.1'];"
        " planted.lock: ['1.3.0']); run `make lock`"
    ]


def test_refresh_cuts_an_advisory_database_checkout_down_to_the_locked_packages(
    tmp_path: Path,
) -> None:
    database = tmp_path / "advisory-database"
    (database / "vulns" / "sniffio").mkdir(parents=True)
    (database / "vulns" / "left-pad").mkdir(parents=True)
    (database / "vulns" / "sniffio" / "PYSEC-0000-1.yaml").write_text(
        "id: PYSEC-0000-1\nsummary: planted\naliases: [CVE-0000-1]\naffected:\n"
        "- package: {name: sniffio, ecosystem: PyPI}\n"
        "  ranges: [{type: ECOSYSTEM, events: [{introduced: '0'}, {last_affected: 1.3.1}]}]\n"
    )
    (database / "vulns" / "left-pad" / "PYSEC-0000-2.yaml").write_text(
        "id: PYSEC-0000-2\naffected:\n- package: {name: left-pad, ecosystem: PyPI}\n"
    )
    git = ["git", "-C", str(database), "-c", "user.name=t", "-c", "user.email=t@t"]
    subprocess.run([*git, "init", "-q"], check=True)
    subprocess.run([*git, "add", "."], check=True)
    subprocess.run([*git, "commit", "-q", "-m", "snapshot"], check=True)
    out = tmp_path / "snapshot.json"
    made = _audit("--snapshot", out, "refresh", "--from", database, LOCK, DEV_LOCK)
    assert made.returncode == 0, made.stdout + made.stderr
    snapshot = json.loads(out.read_text())
    assert "left-pad" not in snapshot["packages"]
    assert [a["id"] for a in snapshot["packages"]["sniffio"]] == ["PYSEC-0000-1"]
    assert snapshot["packages"]["anyio"] == []
    done = _audit("--snapshot", out, LOCK, DEV_LOCK)
    assert done.returncode == 1
    assert [line.split(" [")[0] for line in _failures(done.stdout)] == [
        "FAIL sniffio==1.3.1 (requirements.lock): PYSEC-0000-1"
    ]


def test_make_installs_exactly_the_dev_lock() -> None:
    makefile = (ROOT / "Makefile").read_text()
    stamp = re.search(r"(?m)^\$\(STAMP\): (.*)$", makefile)
    assert stamp is not None
    assert {"$(LOCK)", "$(DEV_LOCK)", "pyproject.toml"} <= set(stamp.group(1).split())
    installs = re.findall(r"(?m)^\t.*pip install.*$", makefile)
    assert installs == [
        "\t$(BIN)/python -m pip install --quiet --require-hashes -r $(DEV_LOCK)",
        "\t$(BIN)/python -m pip install --quiet --no-deps --no-build-isolation -e .",
    ]
    for lock in (LOCK, DEV_LOCK):
        assert lock.read_text().splitlines()[1] == "#    make lock"


def test_the_image_pins_its_base_installs_only_the_lock_and_runs_unprivileged() -> None:
    text = (ROOT / "deploy" / "Dockerfile").read_text()
    base = re.search(r"(?m)^ARG PYTHON_IMAGE=(\S+)$", text)
    assert base is not None
    assert re.fullmatch(r"python:3\.11\.\d+-slim-(bookworm|trixie)(@sha256:[0-9a-f]{64})?", base[1])
    assert re.findall(r"(?m)^FROM (\S+)", text) == ["${PYTHON_IMAGE}", "${PYTHON_IMAGE}"]
    installs = [" ".join(line.split()) for line in re.findall(r"pip install[^\n&\\]*", text)]
    assert installs == [
        "pip install --require-hashes -r requirements.lock",
        "pip install --no-deps --no-build-isolation .",
    ]
    users = re.findall(r"(?m)^USER (\d+):(\d+)$", text)
    assert users == [("10001", "10001")]


def test_the_runtime_lock_is_enough_to_start_the_hub() -> None:
    dev_only = _locked_names(DEV_LOCK) - _locked_names(LOCK)
    modules = sorted(
        module
        for module, dists in importlib.metadata.packages_distributions().items()
        if {canonicalize_name(d) for d in dists} <= dev_only
    )
    assert {"pytest", "_pytest", "hypothesis"} <= set(modules)
    done = subprocess.run(
        [sys.executable, "-c", _RUNTIME_ONLY, ",".join(modules)],
        capture_output=True,
        text=True,
        check=False,
        timeout=60,
    )
    assert done.returncode == 0, done.stderr[-2000:]
