"""The HTTP client's dependencies that cost nothing to have and much to miss."""

from __future__ import annotations

import importlib.util


def test_sniffio_is_installed_so_httpcore_does_not_search_for_it_on_every_request() -> None:
    """httpcore imports sniffio on every request. Where it is missing, each request
    searched the whole import path again: a fifth of a partner call's CPU in the
    benchmark's profile (docs/performance.md)."""
    assert importlib.util.find_spec("sniffio") is not None
