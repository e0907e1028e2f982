"""The command line as a user meets it."""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import sqlite3
import subprocess
import sys
from importlib import metadata
from pathlib import Path

import pytest
from typer.testing import CliRunner, Result

import hub.cli as hub_cli
from hub.cli import COMMANDS, app
from hub.cli.simulate import INCLUDED, _commands
from hub.settings_reference import settings_markdown
from hub.state.database import head_revision, make_engine, migrate

runner = CliRunner()


def test_help_lists_the_commands() -> None:
    result = runner.invoke(app, ["--help"])
    assert result.exit_code == 0
    for command in ("up", "run", "schemas", "db", "settings"):
        assert command in result.output


def test_every_command_in_the_table_loads_with_its_help() -> None:
    for name in COMMANDS:
        result = runner.invoke(app, [name, "--help"])
        assert result.exit_code == 0, (name, result.output)
        assert "Usage: " in result.output


@pytest.mark.parametrize(
    ("args", "unwanted"),
    [
        (["--version"], ["hub.cli.dlq", "hub.cli.bench", "sqlalchemy"]),
        # Through the API after `hub login`, a dlq command loads no store module.
        (
            ["dlq", "--help"],
            ["hub.app", "hub.routing.cedar_policy", "hub.cli.store", "hub.state.database"],
        ),
        (
            ["labels", "--help"],
            ["hub.benchmark.run", "hub.app", "hub.cli.dlq", "hub.cli.store", "sqlalchemy"],
        ),
        (["audit", "--help"], ["hub.cli.store", "hub.state.audit", "sqlalchemy"]),
        # Through the API, `hub connectors` loads no connector, store or scaffold.
        (
            ["connectors", "--help"],
            ["hub.connectors.registry", "hub.connectors.scaffold", "hub.cli.store", "sqlalchemy"],
        ),
    ],
)
def test_a_command_imports_only_what_it_needs(args: list[str], unwanted: list[str]) -> None:
    """Each command is imported when it is run (``hub.cli.LazyCommands``): importing
    them all cost every command about two seconds. A fresh interpreter, so that what
    other tests imported does not count."""
    script = (
        "import sys\n"
        "from typer.testing import CliRunner\n"
        "from hub.cli import app\n"
        f"result = CliRunner().invoke(app, {args!r})\n"
        "assert result.exit_code == 0, result.output\n"
        f"print([m for m in {unwanted!r} if m in sys.modules])\n"
    )
    done = subprocess.run(
        [sys.executable, "-c", script], capture_output=True, text=True, timeout=120, check=False
    )
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "[]"


def test_version_prints_the_installed_version_and_exits_0() -> None:
    result = runner.invoke(app, ["--version"])
    assert result.exit_code == 0, result.output
    assert result.output == f"ketenhub {metadata.version('ketenhub')}\n"


def test_the_shell_completion_script_is_offered(monkeypatch: pytest.MonkeyPatch) -> None:
    """For bash, named: typer otherwise asks shellingham for the parent shell, which a
    run without one (a CI job's detached process) does not have."""
    monkeypatch.setenv("_TYPER_COMPLETE_TEST_DISABLE_SHELL_DETECTION", "1")
    result = runner.invoke(app, ["--show-completion", "bash"], prog_name="hub")
    assert result.exit_code == 0, result.output
    assert "_hub_completion" in result.output
    assert "complete " in result.output


def test_schemas_export(tmp_path: Path) -> None:
    result = runner.invoke(app, ["schemas", "export", str(tmp_path)])
    assert result.exit_code == 0, result.output
    assert (tmp_path / "envelope.schema.json").exists()
    assert "wrote 21 schemas" in result.output


def test_settings_prints_the_reference() -> None:
    result = runner.invoke(app, ["settings"])
    assert result.exit_code == 0
    assert result.output.strip() == settings_markdown()


def test_the_load_scenario_sends_news_only_a_release_then_a_start_per_client() -> None:
    """A stay has one start notice, so STARTs alone would mostly be repeats."""
    commands = _commands("load", 4 * len(INCLUDED))
    kinds = {bsn: [c["kind"] for c in commands if c["bsn"] == bsn] for bsn in INCLUDED}
    assert set(map(tuple, kinds.values())) == {("EINDE", "START", "EINDE", "START")}


def test_db_upgrade_on_a_fresh_sqlite(tmp_path: Path) -> None:
    result = runner.invoke(app, ["db", "upgrade"], env={"HUB_DATA_DIR": str(tmp_path)})
    assert result.exit_code == 0, result.output
    assert "revision 0021" in result.output


PSEUDONYM = "psn-k1-" + "0" * 40
READS = (
    ("dlq", "list"),
    ("dlq", "show", "0123456789ab"),
    ("audit", "search"),
    ("audit", "verify"),
    ("audit", "report", PSEUDONYM),
    ("labels", "status"),
)
WRITES = (
    ("subject", "erase", PSEUDONYM, "--reason", "erasure request"),
    ("keys", "rotate", "--settle-s", "0"),
    ("keys", "finish"),
    ("keys", "retire", "master", "m0"),
    ("dlq", "replay", "--all"),
    ("console", "add-user", "ops", "--role", "operator", "--password", "pw"),
    ("connectors", "pause", "llc-communication", "--why", "maintenance"),
    ("connectors", "resume", "llc-communication"),
    ("connectors", "retry-now", "llc-communication"),
)


def _on(database: Path, *args: str) -> Result:
    env = {
        "HUB_DATA_DIR": str(database.parent),
        "HUB_DATABASE__URL": f"sqlite+aiosqlite:///{database}",
    }
    return runner.invoke(app, list(args), env=env)


def _tables(database: Path) -> list[str]:
    with contextlib.closing(sqlite3.connect(database)) as connection:
        rows = connection.execute("SELECT name FROM sqlite_master WHERE type = 'table'")
        return [name for (name,) in rows]


def _revision(database: Path) -> str:
    with contextlib.closing(sqlite3.connect(database)) as connection:
        (revision,) = connection.execute("SELECT version_num FROM alembic_version").fetchone()
        return str(revision)


async def _migrate(database: Path, revision: str) -> None:
    engine = make_engine(f"sqlite+aiosqlite:///{database}")
    try:
        await migrate(engine, revision)
    finally:
        await engine.dispose()


def _refused(result: Result) -> str:
    """The command exited 2 with one line on stderr, and no traceback."""
    assert result.exit_code == 2, result.output
    assert result.exception is None or isinstance(result.exception, SystemExit)
    assert "Traceback" not in result.output
    (line,) = result.stderr.strip().splitlines()
    return line


@pytest.mark.parametrize("args", READS + WRITES, ids=" ".join)
def test_a_command_on_a_database_without_schema_says_so_and_creates_none(
    tmp_path: Path, args: tuple[str, ...]
) -> None:
    """Only `hub db upgrade` migrates: no other command changes a database's schema."""
    database = tmp_path / "hub.db"
    database.touch()
    line = _refused(_on(database, *args))
    assert line == (
        f"error: the database has no schema, this hub expects {head_revision()}: "
        "run `hub db upgrade`"
    )
    assert _tables(database) == []


@pytest.mark.parametrize("args", READS + WRITES, ids=" ".join)
def test_a_command_where_there_is_no_store_makes_none(
    tmp_path: Path, args: tuple[str, ...]
) -> None:
    """A mistyped data directory: the command says where it looked, and leaves nothing
    there (it had made an empty hub.db and advised upgrading it)."""
    database = tmp_path / "typo" / "hub.db"
    line = _refused(_on(database, *args))
    assert line.startswith(f"error: no state store at {database}: is HUB_DATA_DIR")
    assert not database.parent.exists()


@pytest.mark.parametrize("args", READS + WRITES, ids=" ".join)
def test_a_command_on_an_older_schema_leaves_it_at_its_revision(
    tmp_path: Path, args: tuple[str, ...]
) -> None:
    database = tmp_path / "hub.db"
    asyncio.run(_migrate(database, "0009"))
    line = _refused(_on(database, *args))
    assert line == (
        f"error: the database schema is at 0009, this hub expects {head_revision()}: "
        "run `hub db upgrade`"
    )
    assert _revision(database) == "0009"


def test_a_command_on_a_newer_schema_does_not_ask_for_an_upgrade(tmp_path: Path) -> None:
    """A revision this hub does not know is a newer release's: upgrading cannot help."""
    database = tmp_path / "hub.db"
    asyncio.run(_migrate(database, "head"))
    with contextlib.closing(sqlite3.connect(database)) as connection, connection:
        connection.execute("UPDATE alembic_version SET version_num = '9999'")
    line = _refused(_on(database, "audit", "verify"))
    assert "at 9999, newer than this hub knows" in line
    assert "hub db upgrade" not in line
    assert _revision(database) == "9999"


def test_after_db_upgrade_the_read_commands_work(tmp_path: Path) -> None:
    database = tmp_path / "hub.db"
    upgraded = _on(database, "db", "upgrade")
    assert upgraded.exit_code == 0, upgraded.output
    listed = _on(database, "dlq", "list")
    assert listed.exit_code == 0, listed.output
    assert "no dead letters" in listed.stdout
    verified = _on(database, "audit", "verify")
    assert verified.exit_code == 0, verified.output
    assert "audit chain intact: 0 records" in verified.stdout


def _run_in_production(tmp_path: Path, *, master_key: bool, args: tuple[str, ...] = ()) -> Result:
    """`hub run` with a pseudonym key file, optionally a master key file, and no broker."""
    key = tmp_path / "k"
    key.write_text("ab" * 32)
    env = {
        "HUB_DATA_DIR": str(tmp_path),
        "HUB_PSEUDONYM__KEY_FILE": str(key),
        "HUB_KAFKA__BOOTSTRAP_SERVERS": "127.0.0.1:1",
        "HUB_LOG__FORMAT": "json",
    }
    if master_key:
        env["HUB_CRYPTO__KEY_FILE"] = str(key)
    return runner.invoke(app, ["run", *args], env=env)


def test_run_refuses_an_unmigrated_database(tmp_path: Path) -> None:
    result = _run_in_production(tmp_path, master_key=True)
    assert result.exit_code == 2
    assert "hub db upgrade" in result.output


def test_run_refuses_to_start_without_a_master_key(tmp_path: Path) -> None:
    result = _run_in_production(tmp_path, master_key=False)
    assert result.exit_code == 2
    assert "master key" in result.output
    assert not (tmp_path / "master-m1.key").exists(), "production never makes a master key"


def test_run_names_a_connector_it_was_asked_for_and_does_not_know(tmp_path: Path) -> None:
    args = ("--component", "connectors", "--connector", "no-such-connector")
    result = _run_in_production(tmp_path, master_key=True, args=args)
    assert result.exit_code == 2
    assert "not configured: no-such-connector" in result.output


def test_topics_list_shows_every_topic_with_its_partitions() -> None:
    result = runner.invoke(app, ["topics", "list"])
    assert result.exit_code == 0, result.output
    rows = {line.split()[0]: line.split()[1:4] for line in result.output.splitlines()[2:]}
    assert rows["justice.detention.v1"] == ["6", "14", "d"]
    assert rows["hub.deadletter.v1"] == ["1", "90", "d"]


def test_policy_decide_on_a_missing_file_is_one_line() -> None:
    result = runner.invoke(app, ["policy", "decide", "/no/such/decision.json"])
    assert result.exit_code == 2
    assert result.output == "error: cannot read /no/such/decision.json: No such file or directory\n"


EXAMPLE = Path(__file__).parents[2] / "docs" / "examples" / "decision-llc-no-consent.json"


def test_policy_decide_prints_the_decision() -> None:
    result = runner.invoke(app, ["policy", "decide", str(EXAMPLE)])
    assert result.exit_code == 0, result.output
    decision = json.loads(result.output)
    assert decision["outcome"] == "PERMIT_REDACTED"
    assert decision["removed_fields"] == ["assessment"]
    assert decision["policy_version"].startswith("sha256:")


def test_policy_decide_names_the_bad_field(tmp_path: Path) -> None:
    bad = tmp_path / "bad.json"
    bad.write_text(EXAMPLE.read_text().replace('"levensloopaanpak"', '"marketing"'))
    result = runner.invoke(app, ["policy", "decide", str(bad)])
    assert result.exit_code == 2
    assert "purpose" in result.output


def test_policy_check_passes() -> None:
    result = runner.invoke(app, ["policy", "check"])
    assert result.exit_code == 0, result.output
    assert "40960 cases, 0 disagreements with the decision table" in result.output
    assert "0 contradictions" in result.output


def test_policy_check_fails_on_a_replacement_that_strays_from_the_table(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The check asks the configured policy: one that also gives label partners justice
    data fails against the table."""
    from hub.routing.cedar_policy import DEFAULT_POLICY

    text = DEFAULT_POLICY.read_text(encoding="utf-8")
    rule = text.index('@id("wgs-labelpartner")')
    looser = text[:rule] + text[rule:].replace(
        '(resource == Category::"label"',
        '(resource == Category::"justice" ||\n   resource == Category::"label"',
        1,
    )
    replaced = tmp_path / "looser.cedar"
    replaced.write_text(looser, encoding="utf-8")
    monkeypatch.setenv("HUB_POLICY__FILE", str(replaced))
    result = runner.invoke(app, ["policy", "check"])
    assert result.exit_code == 1, result.output
    assert "1024 disagreements with the decision table" in result.output
    assert '"wgs-labelpartner"' in result.output


DOCS = Path(__file__).parents[2] / "docs"
EXAMPLE_OUTCOMES = {
    "decision-llc-no-consent.json": ("PERMIT_REDACTED", ["geen-grondslag-medisch"]),
    "decision-llc-with-consent.json": ("PERMIT", []),
    "decision-break-glass.json": (
        "PERMIT_BREAK_GLASS",
        ["labelpartner-alleen-label", "niet-relevant-voor-rol"],
    ),
    "decision-outside-team.json": ("DENY", ["geen-lid-netwerk"]),
}


@pytest.mark.parametrize("name", sorted(EXAMPLE_OUTCOMES))
def test_every_documented_example_decides_as_documented(name: str) -> None:
    result = runner.invoke(app, ["policy", "decide", str(DOCS / "examples" / name)])
    assert result.exit_code == 0, result.output
    decision = json.loads(result.stdout)
    outcome, missing = EXAMPLE_OUTCOMES[name]
    assert decision["outcome"] == outcome
    assert [m["code"] for m in decision["missing"]] == missing


def test_documented_input_schema_is_current() -> None:
    result = runner.invoke(app, ["policy", "schema"])
    written = (DOCS / "decision-input.schema.json").read_text(encoding="utf-8")
    assert result.stdout == written, "run `hub policy schema > docs/decision-input.schema.json`"


def test_connectors_list_shows_every_installed_connector_and_its_health(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv(
        "HUB_CONNECTORS",
        json.dumps(
            {
                "reclassering-iris-signals": {"webhook_secret": "s"},
                "zvh-notifications": {"base_url": "http://127.0.0.1:9/api"},
            }
        ),
    )
    result = runner.invoke(app, ["connectors", "list", "--json"])
    assert result.exit_code == 0, result.output
    rows = {row["name"]: row for row in json.loads(result.stdout)}
    assert rows["reclassering-iris-signals"]["health"] == "ok"
    assert rows["reclassering-iris-signals"]["topics"] == ["signal.label.v1"]
    assert rows["zvh-notifications"]["health"].startswith("failing (retryable)")
    assert rows["zvh-notifications"]["topics"] == ["delivery.zvh.v1"]
    monkeypatch.setenv("HUB_CONNECTORS", json.dumps({"zvh-notifications": {}}))
    result = runner.invoke(app, ["connectors", "list"])
    assert result.exit_code == 0
    assert "misconfigured" in result.stdout
    assert "connectors.zvh-notifications.base_url" in result.stdout


def test_connectors_list_refuses_settings_for_a_connector_that_is_not_installed(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """A misspelt name leaves the connector meant without its settings: listing it as
    "not configured" hid the typo, so the list refuses as `hub up` does."""
    monkeypatch.setenv("HUB_CONNECTORS", json.dumps({"zvh-notificatons": {"base_url": "x"}}))
    result = runner.invoke(app, ["connectors", "list"])
    assert result.exit_code == 2
    assert "no installed connector is called 'zvh-notificatons'" in result.output
    assert "zvh-notifications" in result.output, "the names installed are offered"
    assert "Traceback" not in result.output


def test_an_unknown_audit_outcome_is_refused() -> None:
    result = CliRunner().invoke(app, ["audit", "search", "--outcome", "bogus"])
    assert result.exit_code == 2
    assert "DUPLICATE_START" in result.output


def test_an_operator_pauses_and_resumes_a_connector(tmp_path: Path) -> None:
    database = tmp_path / "hub.db"
    asyncio.run(_migrate(database, "head"))
    paused = _on(database, "connectors", "pause", "llc-communication", "--why", "LLC maintenance")
    assert paused.exit_code == 0, paused.output
    assert paused.output.startswith("llc-communication paused by cli:")
    rows = {r["name"]: r for r in json.loads(_on(database, "connectors", "list", "--json").output)}
    assert rows["llc-communication"]["paused"].endswith(": LLC maintenance")
    assert (rows["llc-communication"]["held"], rows["gemeente-casusregisseur"]["paused"]) == (0, "")
    refused = _on(database, "connectors", "pause", "injus-detentie", "--why", "night move")
    assert _refused(refused) == "error: injus-detentie receives; it cannot be paused"
    unknown = _on(database, "connectors", "pause", "nothing", "--why", "night move")
    assert _refused(unknown) == "error: nothing is not an installed connector"
    hurried = _on(database, "connectors", "retry-now", "llc-communication")
    assert _refused(hurried).startswith("error: llc-communication is paused: resume it")
    with_bsn = _on(database, "connectors", "pause", "llc-communication", "--why", "123456782 rang")
    assert with_bsn.exit_code == 2
    assert "must not hold a BSN" in with_bsn.output
    assert "123456782" not in with_bsn.output.replace("123456782 rang", ""), "not echoed"
    blank = _on(database, "connectors", "pause", "pi-backoffice", "--why", "     ")
    assert blank.exit_code == 2
    assert "at least 3 characters" in blank.output
    resumed = _on(database, "connectors", "resume", "llc-communication")
    assert resumed.output == "llc-communication resumed; nothing was held\n"
    rows = {r["name"]: r for r in json.loads(_on(database, "connectors", "list", "--json").output)}
    assert rows["llc-communication"]["paused"] == ""


def test_every_command_error_is_printed_by_one_helper() -> None:
    """`error: ...` on stderr with its exit code comes from hub.cli.failure.failed, so
    every command's errors read alike; a command printing its own drifts."""
    cli = Path(hub_cli.__file__).parent
    by_hand = [
        f"{path.name}:{number}"
        for path in sorted(cli.glob("*.py"))
        if path.name != "failure.py"
        for number, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1)
        if '"error:' in line
    ]
    assert by_hand == []


@pytest.mark.parametrize(
    "args",
    [
        ["deploy", "kafka", "--out", "{missing}/x.yaml"],
        ["asyncapi", "--out", "{missing}/x.json"],
        ["policy", "table", "--update", "{missing}/policy.md"],
    ],
    ids=["deploy", "asyncapi", "policy table"],
)
def test_a_file_a_command_cannot_write_is_one_line(args: list[str], tmp_path: Path) -> None:
    """The console script turns a file it was given and cannot use into one line, not a
    traceback (CliRunner does not run it, so the command runs in a process)."""
    (tmp_path / "a-file").write_text("")
    missing = tmp_path / "a-file" / "below"
    hub = Path(sys.executable).with_name("hub")
    done = subprocess.run(
        [str(hub), *(a.format(missing=missing) for a in args)],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert done.returncode == 2
    assert done.stderr.startswith(f"error: {tmp_path / 'a-file'}"), done.stderr
    assert done.stderr.count("\n") == 1, done.stderr
    assert "Traceback" not in done.stdout + done.stderr


@pytest.mark.parametrize("url", ["garbage", "postgresql://u@127.0.0.1:1/db", "sqlite:///x.db"])
def test_a_database_url_the_hub_cannot_use_is_one_line(url: str, tmp_path: Path) -> None:
    """A driver the hub does not install, or a synchronous one, failed deep inside
    SQLAlchemy with a traceback (and `sqlite:///x.db` made an empty x.db)."""
    hub = Path(sys.executable).with_name("hub")
    done = subprocess.run(
        [str(hub), "audit", "verify"],
        env={**os.environ, "HUB_DATABASE__URL": url, "HUB_DATA_DIR": str(tmp_path)},
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert done.returncode == 2
    assert done.stderr.startswith("error: database.url: "), done.stderr
    assert "not a driver the hub has" in done.stderr
    assert done.stderr.count("\n") == 1, done.stderr
    assert list(tmp_path.iterdir()) == []


def test_what_a_resume_set_going_is_said_in_deliveries() -> None:
    from hub.cli.connectors import _due_text

    assert _due_text(0) == "nothing was held"
    assert _due_text(20) == "20 held deliveries go now, each client's in order"


def test_the_scaffold_kinds_are_offered_in_its_help() -> None:
    """The help names them without importing the scaffold (half a second of imports
    that `hub connectors list` never needs)."""
    from hub.connectors.scaffold import KINDS

    result = runner.invoke(app, ["connectors", "new", "--help"])
    assert all(kind in result.output for kind in KINDS)


@pytest.mark.parametrize("command", ["login", "up", "simulate", "dlq"])
def test_completion_is_offered_once_by_hub_itself(command: str) -> None:
    """`hub --install-completion` installs it; a command's help does not offer it again."""
    assert "--install-completion" in runner.invoke(app, ["--help"]).output
    assert "--install-completion" not in runner.invoke(app, [command, "--help"]).output


@pytest.mark.parametrize(
    ("words", "offered"),
    [
        ("hub simulate in", ["intake", "include"]),
        ("hub connectors pause llc", ["llc-communication"]),
        ("hub connectors resume injus", []),
    ],
)
def test_a_shell_completes_scenarios_and_connectors_that_deliver(
    words: str, offered: list[str]
) -> None:
    env = {
        "_HUB_COMPLETE": "complete_bash",
        "COMP_WORDS": words,
        "COMP_CWORD": str(len(words.split()) - 1),
    }
    result = runner.invoke(app, [], env=env, prog_name="hub")
    assert result.output.split() == offered
