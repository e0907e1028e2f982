"""An operator's ``--why``, held to the rules of :data:`hub.core.notes.OperatorNote`
before anything is done with it."""

from __future__ import annotations

import typer
from pydantic import TypeAdapter, ValidationError

from hub.core.notes import OperatorNote


def operator_note(why: str) -> str:
    """``why`` as it is kept; a BadParameter naming the rule it breaks."""
    try:
        return TypeAdapter(OperatorNote).validate_python(why)
    except ValidationError as error:
        reason = error.errors(include_url=False, include_input=False)[0]["msg"]
        raise typer.BadParameter(reason.removeprefix("Value error, "), param_hint="--why") from None
