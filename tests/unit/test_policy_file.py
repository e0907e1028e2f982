"""The policy is a file that configuration can replace; its version follows its text."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest
from typer.testing import CliRunner

from hub.cli import app
from hub.core.errors import ConfigurationError
from hub.routing import decision_table
from hub.routing.cedar_policy import DEFAULT_POLICY, CedarPolicy, policy_from_settings
from hub.routing.conditions import Conditions
from hub.schemas.categories import DataCategory
from hub.settings import HubSettings, PolicySettings

WITH_CONSENT = Conditions(
    in_team=True,
    label_partner=False,
    is_gemeente=False,
    purpose_lla=True,
    purpose_nazorg=False,
    wgs_in_force=True,
    bsn_authorised=True,
    consent=True,
    zorgmachtiging=False,
    strafrechtelijke_voorwaarde=False,
    conflict_of_duties=False,
    role_relevant=True,
    covenant=False,
)


def _without_consent_rule(tmp_path: Path) -> Path:
    text = DEFAULT_POLICY.read_text(encoding="utf-8")
    start = text.index('@id("consent")')
    end = text.index('@id("zorgmachtiging-lla")')
    replaced = tmp_path / "stricter.cedar"
    replaced.write_text(text[:start] + text[end:], encoding="utf-8")
    return replaced


def test_a_replacement_file_from_settings_changes_decisions_and_version(tmp_path: Path) -> None:
    default = CedarPolicy()
    stricter = policy_from_settings(PolicySettings(file=_without_consent_rule(tmp_path)))
    assert default.evaluate(DataCategory.MEDICAL, WITH_CONSENT).rule_ids == {"consent"}
    assert not stricter.evaluate(DataCategory.MEDICAL, WITH_CONSENT).allowed
    assert stricter.version != default.version


def test_the_environment_names_the_replacement(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    path = _without_consent_rule(tmp_path)
    monkeypatch.setenv("HUB_POLICY__FILE", str(path))
    assert HubSettings().policy.file == path


def test_a_policy_that_does_not_validate_is_refused_with_the_reason(tmp_path: Path) -> None:
    broken = tmp_path / "broken.cedar"
    broken.write_text(
        "permit (principal, action, resource) when { context.no_such_flag };", encoding="utf-8"
    )
    with pytest.raises(ConfigurationError) as info:
        policy_from_settings(PolicySettings(file=broken))
    assert "no_such_flag" in str(info.value.detail)


def test_bench_prints_its_figures() -> None:
    """Runs the script once, small; it asserts the report's shape, never a speed."""
    result = CliRunner().invoke(app, ["policy", "bench", "--decisions", "100", "--target", "0"])
    assert result.exit_code == 0, result.stdout
    report = json.loads(result.stdout)
    names = [r["name"] for r in report["results"]]
    assert names == [
        "cedar_uncached",
        "decide_per_field",
        "decide_per_recipient",
        "decide_cold_per_field",
    ]
    assert report["results"][1]["operations"] == 1000


def test_docs_quote_every_rule_of_the_policy_word_for_word() -> None:
    doc = (Path(__file__).parents[2] / "docs" / "policy.md").read_text(encoding="utf-8")
    rules = re.findall(r'(@id\("([^"]+)"\)\n.*?;)', DEFAULT_POLICY.read_text(), re.S)
    assert len(rules) == 8
    for text, rule_id in rules:
        assert f"### `{rule_id}`" in doc, f"{rule_id} has no plain-language section"
        assert text in doc, f"docs/policy.md quotes an outdated {rule_id}"


def test_the_decision_table_in_the_docs_is_current() -> None:
    doc = (Path(__file__).parents[2] / "docs" / "policy.md").read_text(encoding="utf-8")
    assert decision_table.BEGIN in doc
    assert decision_table.END in doc
    assert decision_table.splice(doc) == doc, (
        "docs/policy.md's decision table is stale: run `hub policy table --update docs/policy.md`"
    )
    assert "| M4 | medical |" in doc


def test_hub_policy_table_prints_the_table() -> None:
    result = CliRunner().invoke(app, ["policy", "table"])
    assert result.exit_code == 0, result.output
    assert result.stdout.strip() == decision_table.render_markdown()
