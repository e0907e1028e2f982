"""Browser tests drive Debian's Chromium with Playwright; no browser is ever downloaded.

When ``/usr/bin/chromium`` is missing the setup installs Debian's ``chromium`` package
(this needs root and the Debian registry); where that cannot be done the tests skip and
say why.
"""

from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path

import pytest

CHROMIUM = Path("/usr/bin/chromium")


def _install() -> str | None:
    """Install Debian's Chromium; None when it worked, else why not."""
    if shutil.which("apt-get") is None:
        return "no apt-get on this machine"
    if os.geteuid() != 0:
        return "installing Debian's chromium needs root"
    try:
        done = subprocess.run(
            ["apt-get", "install", "-y", "--no-install-recommends", "chromium"],
            capture_output=True,
            text=True,
            timeout=600,
            env={**os.environ, "DEBIAN_FRONTEND": "noninteractive"},
        )
    except (OSError, subprocess.TimeoutExpired) as error:
        return f"apt-get failed: {type(error).__name__}"
    return None if done.returncode == 0 else f"apt-get install chromium exited {done.returncode}"


@pytest.fixture(scope="session")
def chromium() -> Path:
    if not CHROMIUM.exists():
        why = _install()
        if why is not None or not CHROMIUM.exists():
            pytest.skip(f"Chromium is not available and could not be installed: {why}")
    return CHROMIUM
