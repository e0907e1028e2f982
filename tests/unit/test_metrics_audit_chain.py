"""``ketenhub_audit_chain_intact`` is unknown, not broken, until a retention pass sets
it: only router pods run that pass, and the alert reads 0 as a broken chain."""

from __future__ import annotations

import subprocess
import sys

EXPOSITION = """
import hub.metrics
from prometheus_client import generate_latest
print(generate_latest().decode())
"""


def test_an_unset_audit_chain_gauge_is_not_zero() -> None:
    """In a fresh interpreter, as in a console or connector pod, nothing has set it."""
    done = subprocess.run(
        [sys.executable, "-c", EXPOSITION], capture_output=True, text=True, check=True
    )
    lines = done.stdout.splitlines()
    assert "ketenhub_audit_chain_intact 0.0" not in lines
    assert "ketenhub_audit_chain_intact NaN" in lines
