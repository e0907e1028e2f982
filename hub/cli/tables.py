"""The CLI's tables, drawn by rich: aligned whatever the cells hold, never wrapped when
the output goes to a file or a pipe (a script greps whole rows)."""

from __future__ import annotations

import sys
from collections.abc import Sequence

from rich import box
from rich.console import Console
from rich.table import Table

PIPED_WIDTH = 10_000
"""Wide enough that no row of a listing wraps when nobody reads it on a terminal."""


def print_table(headers: Sequence[str], rows: Sequence[Sequence[object]]) -> None:
    """``rows`` under ``headers``; numbers right-aligned."""
    table = Table(box=box.SIMPLE_HEAD, show_edge=False, pad_edge=False)
    numeric = [
        bool(rows) and all(isinstance(row[i], int) for row in rows) for i in range(len(headers))
    ]
    for header, right in zip(headers, numeric, strict=True):
        table.add_column(header, justify="right" if right else "left", overflow="fold")
    for row in rows:
        table.add_row(*(str(cell) for cell in row))
    width = None if sys.stdout.isatty() else PIPED_WIDTH
    Console(width=width, highlight=False, soft_wrap=False).print(table)
