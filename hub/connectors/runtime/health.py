"""Whether a connector's partner answers: one probe for the health gauge, the console and
the label re-sends alike."""

from __future__ import annotations

from typing import Any

from hub.connectors.base import Connector


async def answers(connector: Connector[Any]) -> bool:
    """True when ``check()`` returns; any failure, of any kind, counts as down."""
    try:
        await connector.check()
    except Exception:  # a probe must not raise: down is an answer, not an error
        return False
    return True
