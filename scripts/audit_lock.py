"""The supply-chain check of the lock files, offline.

`check` (the default) refuses, with a line for each finding and exit status 1:
- a lock entry that is not one exact `name==version` pin with at least one sha256 hash;
- a dependency of pyproject.toml (runtime, every extra, [build-system]) without an upper
  bound, or that the lock does not satisfy (pyproject.toml changed and `make lock` was not
  run);
- a locked version that an advisory of the vendored snapshot names as affected;
- a locked package the snapshot does not cover (added since its last refresh): no data is
  not the same as no advisory.

The advisories are a snapshot of the PyPA advisory database (OSV records), cut down to the
packages of the lock files and checked in with the commit and date they were taken at, so the
audit runs with no network: it knows what was published up to that date, nothing after.
`refresh --from DIR` rebuilds the snapshot from a checkout of pypa/advisory-database
(`git clone` it where the network allows, or copy one in). pip-audit was not used: it
asks an online service (PyPI or OSV) for every run and has no local database.
"""

from __future__ import annotations

import argparse
import json
import re
import subprocess
import sys
import tomllib
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import yaml
from packaging.requirements import InvalidRequirement, Requirement
from packaging.utils import canonicalize_name
from packaging.version import InvalidVersion, Version

ROOT = Path(__file__).resolve().parent.parent
DEFAULT_LOCKS = (ROOT / "requirements.lock", ROOT / "requirements-dev.lock")
DEFAULT_SNAPSHOT = ROOT / "deploy" / "advisories" / "pypa-advisories.json"
DEFAULT_PYPROJECT = ROOT / "pyproject.toml"
# A snapshot older than this is named as stale in the report (not refused: a stale snapshot
# still catches everything it knows; the report says how old "known" is).
STALE_AFTER_DAYS = 90
_HASH = re.compile(r"--hash=sha256:[0-9a-f]{64}")


class LockError(Exception):
    """A lock file, pyproject.toml or the snapshot is not in the form this check reads."""


@dataclass(frozen=True)
class Pin:
    """One locked package: its exact version and the marker that selects it."""

    name: str
    version: Version
    marker: str
    hashes: int
    source: str


def read_lock(path: Path) -> list[Pin]:
    """The pins of a lock file; anything but `name==version [; marker]` with hashes refuses."""
    text = path.read_text(encoding="utf-8")
    logical: list[str] = []
    current = ""
    for raw in text.splitlines():
        line = raw.split(" #", 1)[0].strip() if not raw.lstrip().startswith("#") else ""
        if line.endswith("\\"):
            current += line[:-1] + " "
            continue
        current += line
        if current.strip():
            logical.append(current.strip())
        current = ""
    if current.strip():
        logical.append(current.strip())
    pins = []
    for entry in logical:
        where = f"{path.name}: {entry.split(' ', 1)[0]}"
        if entry.startswith("-"):
            raise LockError(f"{where}: an option in a lock file is not allowed")
        requirement_text, _, hash_text = entry.partition(" --hash=")
        hashes = _HASH.findall(entry)
        if not hash_text or len(hashes) != entry.count("--hash="):
            raise LockError(f"{where}: every entry needs sha256 hashes (--generate-hashes)")
        try:
            requirement = Requirement(requirement_text)
        except InvalidRequirement as error:
            raise LockError(f"{where}: not a requirement ({error})") from error
        specifiers = list(requirement.specifier)
        if requirement.url or len(specifiers) != 1 or specifiers[0].operator != "==":
            raise LockError(f"{where}: not one exact pin (name==version)")
        try:
            version = Version(specifiers[0].version)
        except InvalidVersion as error:
            raise LockError(f"{where}: not a version ({error})") from error
        pins.append(
            Pin(
                name=canonicalize_name(requirement.name),
                version=version,
                marker=str(requirement.marker or ""),
                hashes=len(hashes),
                source=path.name,
            )
        )
    if not pins:
        raise LockError(f"{path.name}: no locked package")
    return pins


def _declared(pyproject: dict[str, Any]) -> Iterator[tuple[str, Requirement]]:
    """Every requirement pyproject.toml declares, with the table it comes from."""
    project = pyproject.get("project", {})
    for text in project.get("dependencies", []):
        yield "dependencies", Requirement(text)
    for extra, texts in project.get("optional-dependencies", {}).items():
        for text in texts:
            yield f"optional-dependencies.{extra}", Requirement(text)
    for text in pyproject.get("build-system", {}).get("requires", []):
        yield "build-system.requires", Requirement(text)


def _satisfied(requirement: Requirement, versions: set[Version]) -> bool:
    return any(requirement.specifier.contains(v, prereleases=True) for v in versions)


def _versions(pins: Iterable[Pin]) -> dict[str, set[Version]]:
    versions: dict[str, set[Version]] = {}
    for pin in pins:
        versions.setdefault(pin.name, set()).add(pin.version)
    return versions


def check_pyproject(path: Path, locks: dict[str, list[Pin]]) -> list[str]:
    """Findings: a requirement without an upper bound, or one a lock does not satisfy.

    Every lock installs the hub, so each must satisfy the runtime and build requirements;
    the extras (dev) must be in one of them; and a package locked in two files has the same
    versions in both, so the tests run what the image ships.
    """
    findings = []
    each = {name: _versions(pins) for name, pins in locks.items()}
    union = _versions(pin for pins in locks.values() for pin in pins)
    for table, requirement in _declared(tomllib.loads(path.read_text(encoding="utf-8"))):
        name = canonicalize_name(requirement.name)
        operators = {specifier.operator for specifier in requirement.specifier}
        if not operators & {"<", "<=", "==", "~=", "==="}:
            findings.append(f"pyproject.toml {table}: {requirement} has no upper bound")
        extra = table.startswith("optional-dependencies.")
        for lock, versions in {"the locks": union}.items() if extra else each.items():
            if not _satisfied(requirement, versions.get(name, set())):
                have = ", ".join(sorted(str(v) for v in versions.get(name, set()))) or "nothing"
                findings.append(
                    f"pyproject.toml {table}: {requirement} is not in {lock} (locked: {have});"
                    " run `make lock`"
                )
    for package in sorted(union):
        seen = {lock: got[package] for lock, got in each.items() if package in got}
        if len({frozenset(v) for v in seen.values()}) > 1:
            locked = "; ".join(f"{lock}: {sorted(map(str, v))}" for lock, v in seen.items())
            findings.append(f"{package} is locked differently ({locked}); run `make lock`")
    return findings


def _event_version(event: dict[str, str]) -> tuple[str, Version]:
    (kind, text) = next(iter(event.items()))
    return kind, Version(text)


def _in_range(version: Version, events: list[dict[str, str]]) -> bool:
    """OSV's reading of an ECOSYSTEM range: walk the events in version order."""
    affected = False
    for kind, at in sorted((_event_version(e) for e in events), key=lambda item: item[1]):
        if kind == "introduced" and version >= at:
            affected = True
        elif (kind in {"fixed", "limit"} and version >= at) or (
            kind == "last_affected" and version > at
        ):
            affected = False
    return affected


def affects(advisory: dict[str, Any], version: Version) -> bool:
    """Whether the advisory names this version: by an explicit list or by a range."""
    if any(Version(text) == version for text in advisory.get("versions", [])):
        return True
    return any(_in_range(version, events) for events in advisory.get("ranges", []))


def check_advisories(snapshot: dict[str, Any], pins: Iterable[Pin]) -> list[str]:
    """Findings: a locked version with a known advisory, or a package the snapshot lacks."""
    findings = []
    covered: dict[str, list[dict[str, Any]]] = snapshot["packages"]
    first = {(pin.name, pin.version): pin for pin in reversed(list(pins))}
    for pin in sorted(first.values(), key=lambda p: (p.name, p.version)):
        if pin.name not in covered:
            findings.append(
                f"{pin.name}=={pin.version}: not in the advisory snapshot; refresh it"
                " (scripts/audit_lock.py refresh --help)"
            )
            continue
        for advisory in covered[pin.name]:
            if affects(advisory, pin.version):
                aliases = ", ".join(advisory.get("aliases", []))
                findings.append(
                    f"{pin.name}=={pin.version} ({pin.source}): {advisory['id']}"
                    f" [{aliases}] {advisory.get('summary', '')}"
                )
    return findings


def read_snapshot(path: Path) -> dict[str, Any]:
    """The vendored advisories; a file without its source, date or packages refuses."""
    snapshot = json.loads(path.read_text(encoding="utf-8"))
    if not isinstance(snapshot, dict) or not {"source", "commit", "date", "packages"} <= set(
        snapshot
    ):
        raise LockError(f"{path.name}: not an advisory snapshot (refresh it)")
    return snapshot


def run_check(locks: list[Path], pyproject: Path, snapshot_path: Path) -> int:
    """The whole check; prints the snapshot's date and each finding."""
    snapshot = read_snapshot(snapshot_path)
    taken = datetime.fromisoformat(snapshot["date"])
    age = (datetime.now(UTC) - taken).days
    print(
        f"advisories: {snapshot['source']} at {snapshot['commit'][:12]},"
        f" published up to {taken.date()} ({age} days ago)"
    )
    if age > STALE_AFTER_DAYS:
        print(
            f"warning: the snapshot is older than {STALE_AFTER_DAYS} days; advisories"
            " published since are not checked (refresh: docs/security.md, supply chain)"
        )
    by_lock = {path.name: read_lock(path) for path in locks}
    findings = check_pyproject(pyproject, by_lock)
    pins = [pin for entries in by_lock.values() for pin in entries]
    findings += check_advisories(snapshot, pins)
    for finding in findings:
        print(f"FAIL {finding}")
    count = len({(p.name, p.version) for p in pins})
    print(f"{count} locked versions in {len(locks)} lock files, {len(findings)} findings")
    return 1 if findings else 0


def _ecosystem_ranges(affected: dict[str, Any]) -> list[list[dict[str, str]]]:
    ranges = []
    for entry in affected.get("ranges", []):
        if entry.get("type") != "ECOSYSTEM":
            continue
        events = [{str(k): str(v) for k, v in event.items()} for event in entry["events"]]
        for event in events:
            _event_version(event)  # refuses a version this check could not compare
        ranges.append(events)
    return ranges


def _summary(record: dict[str, Any]) -> str:
    text = str(record.get("summary") or record.get("details") or "").strip()
    return " ".join(text.split())[:160]


def refresh(source: Path, locks: list[Path], out: Path) -> int:
    """Rebuild the snapshot from a pypa/advisory-database checkout, for the locked packages."""
    names = sorted({pin.name for path in locks for pin in read_lock(path)})
    # The checkout's own commit and date are the snapshot's: what it knows, and since when.
    head = subprocess.run(  # noqa: S603 - a fixed git command on a folder the caller names
        ["git", "-C", str(source), "log", "-1", "--format=%H %cI"],  # noqa: S607
        check=True,
        capture_output=True,
        text=True,
    ).stdout.split()
    by_name: dict[str, list[Path]] = {}
    for folder in (source / "vulns").iterdir():
        by_name.setdefault(canonicalize_name(folder.name), []).extend(folder.glob("*.yaml"))
    packages: dict[str, list[dict[str, Any]]] = {}
    for name in names:
        advisories = []
        for file in sorted(by_name.get(name, [])):
            record = yaml.safe_load(file.read_text(encoding="utf-8"))
            if record.get("withdrawn"):
                continue
            for affected in record.get("affected", []):
                if canonicalize_name(affected["package"]["name"]) != name:
                    continue
                versions = [str(v) for v in affected.get("versions", [])]
                valid = [v for v in versions if _valid(v)]
                advisories.append(
                    {
                        "id": record["id"],
                        "aliases": sorted(record.get("aliases", [])),
                        "summary": _summary(record),
                        "ranges": _ecosystem_ranges(affected),
                        "versions": valid,
                    }
                )
        packages[name] = advisories
    snapshot = {
        "source": "PyPA advisory database (pypa/advisory-database, OSV)",
        "commit": head[0],
        "date": head[1],
        "taken": datetime.now(UTC).isoformat(timespec="seconds"),
        "packages": packages,
    }
    out.write_text(json.dumps(snapshot, indent=1, sort_keys=True) + "\n", encoding="utf-8")
    count = sum(len(v) for v in packages.values())
    print(f"{out}: {count} advisories for {len(names)} packages, as of {head[1]}")
    return 0


def _valid(text: str) -> bool:
    """Old advisories list pre-PEP 440 releases no lock can pin; they are left out."""
    try:
        Version(text)
    except InvalidVersion:
        return False
    return True


def main(argv: list[str] | None = None) -> int:
    """`audit_lock.py [LOCK ...]` checks; `audit_lock.py refresh --from DIR` rebuilds."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n", 1)[0])
    parser.add_argument("--pyproject", type=Path, default=DEFAULT_PYPROJECT)
    parser.add_argument("--snapshot", type=Path, default=DEFAULT_SNAPSHOT)
    parser.add_argument("--from", dest="source", type=Path, help="advisory database (refresh)")
    parser.add_argument("args", nargs="*", help="`refresh`, then the lock files")
    options = parser.parse_intermixed_args(argv)
    words = list(options.args)
    doing_refresh = bool(words) and words[0] == "refresh"
    locks = [Path(w) for w in (words[1:] if doing_refresh else words)] or list(DEFAULT_LOCKS)
    try:
        if doing_refresh:
            if options.source is None:
                parser.error("refresh needs --from DIR, a checkout of pypa/advisory-database")
            return refresh(options.source, locks, options.snapshot)
        return run_check(locks, options.pyproject, options.snapshot)
    except (LockError, InvalidRequirement, InvalidVersion, ValueError) as error:
        print(f"FAIL {error}")
        return 1


if __name__ == "__main__":
    sys.exit(main())
