"""Logs never carry a BSN, from our code or from a library."""

from __future__ import annotations

import json
import logging

from hub.logs import configure_logging, get_logger, message_context
from hub.settings import LogSettings
from tests.data import TEST_BSNS


def test_structlog_event_is_scrubbed_and_carries_context(no_personal_data_in_logs: object) -> None:
    collector = no_personal_data_in_logs
    with message_context(message_id="m-1", correlation_id="c-1"):
        get_logger("t").warning("odd_input", note=f"got {TEST_BSNS[0]}", nested={"b": TEST_BSNS[1]})
    line = json.loads(collector.lines[-1])  # type: ignore[attr-defined]
    assert line["message_id"] == "m-1"
    assert line["correlation_id"] == "c-1"
    assert line["note"] == "got [BSN]"
    assert line["nested"] == {"b": "[BSN]"}


def test_standard_library_records_are_scrubbed(no_personal_data_in_logs: object) -> None:
    collector = no_personal_data_in_logs
    logging.getLogger("some.library").error("failed for %s", TEST_BSNS[2])
    assert "[BSN]" in collector.lines[-1]  # type: ignore[attr-defined]


def test_exceptions_are_scrubbed(no_personal_data_in_logs: object) -> None:
    collector = no_personal_data_in_logs
    try:
        raise ValueError(f"bad record {TEST_BSNS[3]}")
    except ValueError:
        get_logger("t").exception("crash")
    assert "bad record [BSN]" in collector.lines[-1]  # type: ignore[attr-defined]


def test_integer_bsn_is_scrubbed(no_personal_data_in_logs: object) -> None:
    collector = no_personal_data_in_logs
    get_logger("t").info("number", value=int(TEST_BSNS[0]))
    assert json.loads(collector.lines[-1])["value"] == "[BSN]"  # type: ignore[attr-defined]


def test_the_libraries_that_log_every_request_are_quiet_at_info() -> None:
    """httpx logs each request at INFO (the CLI polls the hub), alembic each migration
    step: at the default level neither reaches stderr; a warning still does."""
    try:
        configure_logging(LogSettings())
        for name in ("httpx", "alembic", "aiokafka"):
            library = logging.getLogger(name)
            assert not library.isEnabledFor(logging.INFO), name
            assert library.isEnabledFor(logging.WARNING), name
    finally:
        configure_logging(LogSettings(level="DEBUG", format="json"))  # as tests/conftest.py
