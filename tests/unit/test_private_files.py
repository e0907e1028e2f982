"""Files at rest (issue 23, item 5): what ``hub up`` writes under the data directory is
its user's alone, the demo password is printed once and stored nowhere, and a data
directory left loose is tightened at start with a log line. Each test runs the start-up
code paths themselves, under the usual umask 022 (the test's own umask may be stricter,
which would hide a file created with the default mode)."""

from __future__ import annotations

import json
import os
import stat
from collections.abc import Iterator
from pathlib import Path
from typing import Any, cast

import pytest

from hub.app import HubProcess
from hub.cli.endpoints import endpoints_path
from hub.cli.serve import _announce
from hub.connectors.testing.harness import captured_logs
from hub.identity.keyring import master_keys_from_settings
from hub.identity.pseudonym import pseudonymiser_from_settings
from hub.settings import HubSettings
from hub.state.database import make_engine, migrate
from hub.state.private_files import secure_data_dir

DEMO_PASSWORD = "demo-password-printed-once"


@pytest.fixture(autouse=True)
def _usual_umask() -> Iterator[None]:
    previous = os.umask(0o022)
    try:
        yield
    finally:
        os.umask(previous)


def _mode(path: Path) -> int:
    return stat.S_IMODE(path.lstat().st_mode)


class _Process:
    """What ``_announce`` reads of a running hub."""

    def __init__(self, settings: HubSettings):
        self.settings = settings

    def endpoints(self) -> dict[str, Any]:
        return {"http": "http://127.0.0.1:1", "data_dir": str(self.settings.data_dir)}


async def test_a_fresh_embedded_start_leaves_nothing_readable_by_others(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """Today's code: the data directory 0755, hub.db and endpoints.json 0644, and the
    demo password in endpoints.json."""
    settings = HubSettings(data_dir=tmp_path / "data")
    secure_data_dir(settings.data_dir)
    pseudonymiser_from_settings(settings, create_key=True)
    master_keys_from_settings(settings, create_key=True)
    engine = make_engine(settings.database_url)
    try:
        await migrate(engine)
        _announce(cast(HubProcess, _Process(settings)), None, True, None, DEMO_PASSWORD)
        files = [p for p in settings.data_dir.rglob("*") if p.is_file()]
        names = {p.name for p in files}
        assert {"hub.db", "hub.db-wal", "endpoints.json"} <= names
        assert any(name.endswith(".key") for name in names)
        assert _mode(settings.data_dir) == 0o700
        assert {p.name: _mode(p) for p in files} == {p.name: 0o600 for p in files}
    finally:
        await engine.dispose()
    written = endpoints_path(settings).read_text()
    assert DEMO_PASSWORD not in written
    assert "console_demo_login" not in json.loads(written)
    printed = capsys.readouterr().out
    assert f"demo / {DEMO_PASSWORD}" in printed, "the login is shown once, at start"


def test_a_loose_data_directory_is_tightened_at_start_and_says_so(tmp_path: Path) -> None:
    data = tmp_path / "data"
    (data / "postgres").mkdir(parents=True)
    data.chmod(0o755)
    loose = [data / "hub.db", data / "endpoints.json", data / "pseudonym-k1.key"]
    for path in loose:
        path.write_text("x")
        path.chmod(0o644)
    with captured_logs() as lines:
        secure_data_dir(data)
    assert _mode(data) == 0o700
    assert _mode(data / "postgres") == 0o700
    assert {p.name: _mode(p) for p in loose} == {p.name: 0o600 for p in loose}
    tightened = [line for line in lines if "file_mode_tightened" in line]
    assert len(tightened) == 5, lines
    assert any(str(data / "hub.db") in line and "0o644" in line for line in tightened)
    with captured_logs() as again:
        secure_data_dir(data)
    assert not [line for line in again if "file_mode_tightened" in line], "once is enough"


def test_a_directory_the_embedded_postgresql_needs_passable_stays_so_without_a_warning(
    tmp_path: Path,
) -> None:
    """As root the embedded PostgreSQL runs as a user of its own and needs the data
    directory 0711; every start had tightened it with a warning and loosened it again."""
    data = tmp_path / "data"
    data.mkdir()
    data.chmod(0o711)
    with captured_logs() as lines:
        secure_data_dir(data, keep_passable=True)
    assert _mode(data) == 0o711
    assert not [line for line in lines if "file_mode_tightened" in line]
    data.chmod(0o755)  # looser than passable: still tightened
    secure_data_dir(data, keep_passable=True)
    assert _mode(data) == 0o700
    data.chmod(0o711)  # without PostgreSQL to pass: 0700
    secure_data_dir(data)
    assert _mode(data) == 0o700


def test_a_file_the_hub_may_not_change_is_left_with_a_warning(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A read-only secret mount in the data directory must not stop the hub."""
    (tmp_path / "mounted.key").write_text("x")
    (tmp_path / "mounted.key").chmod(0o644)

    def refuse(self: Path, mode: int) -> None:
        raise PermissionError(1, "Operation not permitted")

    monkeypatch.setattr(Path, "chmod", refuse)
    with captured_logs() as lines:
        secure_data_dir(tmp_path)
    assert any("file_mode_not_tightened" in line and "mounted.key" in line for line in lines)
