"""The CLI's tables: aligned columns, numbers to the right, and a row never wrapped
when the output goes to a pipe (scripts grep whole rows)."""

from __future__ import annotations

import pytest

from hub.cli.tables import print_table


def test_a_long_row_stays_one_line_in_a_pipe(capsys: pytest.CaptureFixture[str]) -> None:
    reason = "permanent: " + "the partner answered 400 " * 12
    print_table(("id", "attempts", "reason"), [("a" * 36, 3, reason), ("b" * 36, 12, "x")])
    lines = [line for line in capsys.readouterr().out.splitlines() if line.strip()]
    header, _rule, first, second = lines
    assert first.startswith("a" * 36)
    assert reason.strip() in first, "the whole reason on its row"
    assert second.startswith("b" * 36)
    assert header.index("reason") == first.index("permanent"), "columns aligned"
    assert first.index("3") + 1 == second.index("12") + 2, "numbers right-aligned"
