"""`hub connectors new`: the template, rendered into a temporary directory, passes the kit
as generated, for every kind of connector."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from importlib.metadata import EntryPoint
from pathlib import Path

import pytest
from typer.testing import CliRunner

from hub.cli import app
from hub.connectors import registry
from hub.connectors.scaffold import KINDS, new_connector
from hub.core.errors import ConfigurationError

BIN = Path(sys.executable).parent


@pytest.mark.parametrize("kind", KINDS)
def test_a_standalone_connector_passes_the_kit_as_generated(kind: str, tmp_path: Path) -> None:
    result = CliRunner().invoke(
        app, ["connectors", "new", f"acme-{kind}", "--kind", kind, "--standalone", str(tmp_path)]
    )
    assert result.exit_code == 0, result.output
    root = tmp_path / f"acme-{kind}"
    assert (root / "pyproject.toml").read_text().count('[project.entry-points."hub.connectors"]')
    connector = (root / f"acme_{kind}" / "connector.py").read_text()
    assert "TODO" in connector
    env = {**os.environ, "PYTHONPATH": str(root)}
    run = subprocess.run(
        [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", str(root / "tests")],
        cwd=root,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert run.returncode == 0, run.stdout + run.stderr
    assert " passed" in run.stdout
    lint = subprocess.run(
        [str(BIN / "ruff"), "check", "--select", "E,F,I,W", "."],
        cwd=root,
        capture_output=True,
        text=True,
    )
    assert lint.returncode == 0, lint.stdout


def test_in_tree_it_lands_beside_the_other_connectors(tmp_path: Path) -> None:
    rendered = new_connector("politie-incidenten", "inbound", partner="politie", tree=tmp_path)
    assert tmp_path / "hub" / "connectors" / "politie_incidenten" / "connector.py" in rendered.files
    tests = tmp_path / "tests" / "connectors"
    assert rendered.test_file == tests / "test_politie_incidenten_kit.py"
    assert rendered.entry_point == (
        'politie-incidenten = "hub.connectors.politie_incidenten.connector:PolitieIncidenten"'
    )
    with pytest.raises(ConfigurationError, match="exists already"):
        new_connector("politie-incidenten", "inbound", tree=tmp_path)


@pytest.mark.parametrize(
    ("name", "kind", "field"), [("Bad Name", "inbound", "name"), ("ok-name", "sideways", "kind")]
)
def test_bad_arguments_name_the_field(name: str, kind: str, field: str, tmp_path: Path) -> None:
    with pytest.raises(ConfigurationError) as info:
        new_connector(name, kind, tree=tmp_path)
    assert info.value.field == field


@pytest.mark.parametrize("partner", ["mypartner", "gemeente:amsterdam", "dji:extra", " "])
def test_a_partner_the_hub_does_not_know_is_refused_at_once(partner: str, tmp_path: Path) -> None:
    """The scaffold had written a connector for ``mypartner`` whose kit then failed."""
    with pytest.raises(ConfigurationError) as info:
        new_connector("my-partner", "outbound", partner=partner, tree=tmp_path)
    assert info.value.field == "partner"
    assert "the kinds are dji, gemeente" in str(info.value)
    assert not (tmp_path / "hub").exists(), "nothing written"


@pytest.mark.parametrize("partner", ["gemeente", "gemeente:GM0599", "politie", "zvh:utrecht"])
def test_a_partner_id_or_a_kind_is_taken(partner: str, tmp_path: Path) -> None:
    rendered = new_connector("my-partner", "outbound", partner=partner, tree=tmp_path)
    assert rendered.files


@pytest.mark.parametrize(
    ("name", "says"),
    [
        ("politie-signalen", "is installed already (hub.connectors.politie:PolitieSignalen)"),
        ("json", "the name of a module already here"),
        ("pytest", "the name of a module already here"),
        ("hub", "the name of a module already here"),
        ("tests", "of the package's own tests"),
    ],
)
def test_a_name_that_is_taken_is_refused_at_once(name: str, says: str, tmp_path: Path) -> None:
    """A built-in connector's name would replace it in the hub; a package named like a
    module here would hide that module from the connector's own imports."""
    with pytest.raises(ConfigurationError, match=re.escape(says)) as info:
        new_connector(name, "inbound", partner="politie", standalone=tmp_path)
    assert info.value.field == "name"
    assert not list(tmp_path.iterdir()), "nothing was written"


def test_two_installed_connectors_of_one_name_stop_the_hub(monkeypatch: pytest.MonkeyPatch) -> None:
    """A partner's package that reuses a built-in name must not replace it in silence."""
    group = registry.ENTRY_POINT_GROUP
    both = [
        EntryPoint("politie-signalen", "hub.connectors.politie:PolitieSignalen", group),
        EntryPoint("politie-signalen", "politie_signalen.connector:PolitieSignalen", group),
    ]
    monkeypatch.setattr(registry, "entry_points", lambda group: both)
    with pytest.raises(ConfigurationError, match="two installed connectors are called"):
        registry.installed()
