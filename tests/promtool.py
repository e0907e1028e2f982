"""promtool for the alert-rule tests: the one on PATH, else Debian's, unpacked once
into a cache and never installed (installing the ``prometheus`` package would start a
Prometheus daemon). Where neither can be had the tests skip and say why, as the browser
tests do for Chromium."""

from __future__ import annotations

import os
import shutil
import subprocess
import tempfile
from pathlib import Path

import pytest

CACHE = Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache") / "ketenhub" / "promtool"
PACKAGE = "prometheus"
DOWNLOAD_TIMEOUT_S = 600


class Unavailable(Exception):
    """Why there is no promtool."""


def unpacked(cache: Path = CACHE) -> Path:
    """Debian's promtool in ``cache``, downloaded (``apt-get download``) and unpacked
    (``dpkg-deb -x``) the first time; Unavailable says why when that cannot be done."""
    promtool = cache / "promtool"
    if promtool.is_file() and os.access(promtool, os.X_OK):
        return promtool
    for tool in ("apt-get", "dpkg-deb"):
        if shutil.which(tool) is None:
            raise Unavailable(f"no {tool} on this machine")
    try:
        cache.mkdir(parents=True, exist_ok=True)
        return _unpack(cache, promtool)
    except OSError as error:
        raise Unavailable(f"cannot unpack into {cache}: {error.strerror}") from None


def _unpack(cache: Path, promtool: Path) -> Path:
    with tempfile.TemporaryDirectory(dir=cache) as work:
        _run(["apt-get", "download", PACKAGE], Path(work))
        debs = sorted(Path(work).glob(f"{PACKAGE}_*.deb"))
        if not debs:
            raise Unavailable(f"apt-get download {PACKAGE} left no .deb")
        _run(["dpkg-deb", "-x", str(debs[0]), "root"], Path(work))
        found = Path(work) / "root" / "usr" / "bin" / "promtool"
        if not found.is_file():
            raise Unavailable(f"{debs[0].name} holds no usr/bin/promtool")
        found.replace(promtool)  # one rename: a parallel run sees all of it or nothing
    return promtool


def _run(command: list[str], cwd: Path) -> None:
    try:
        done = subprocess.run(
            command, cwd=cwd, capture_output=True, text=True, timeout=DOWNLOAD_TIMEOUT_S
        )
    except (OSError, subprocess.TimeoutExpired) as error:
        raise Unavailable(f"{' '.join(command[:2])} failed: {type(error).__name__}") from None
    if done.returncode != 0:
        last = (done.stderr.strip().splitlines() or ["no message"])[-1]
        raise Unavailable(f"{' '.join(command[:2])} exited {done.returncode}: {last}")


def promtool_or_skip(cache: Path = CACHE) -> Path:
    """promtool on PATH, else the unpacked Debian one; skips the test, with the reason,
    when there is neither."""
    on_path = shutil.which("promtool")
    if on_path is not None:
        return Path(on_path)
    try:
        return unpacked(cache)
    except Unavailable as why:
        pytest.skip(f"promtool is not installed and could not be unpacked: {why}")
