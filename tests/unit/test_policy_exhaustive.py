"""Cedar against the decision table over every combination of the policy's inputs."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

import pytest

from hub.routing import decision_table
from hub.routing.cedar_policy import CedarPolicy
from hub.routing.conditions import CONDITION_NAMES, every_combination
from hub.routing.decision_table import FACT_OF_CONDITION, default_table, load_table
from hub.schemas.categories import DataCategory


@pytest.fixture(scope="module")
def cedar() -> CedarPolicy:
    return CedarPolicy()


@pytest.fixture(scope="module")
def checked(cedar: CedarPolicy) -> decision_table.Check:
    return decision_table.check(cedar)


def test_cedar_and_the_decision_table_agree_on_every_combination(
    checked: decision_table.Check, capsys: pytest.CaptureFixture[str]
) -> None:
    result = checked
    with capsys.disabled():
        print(
            f"\n[policy] exhaustive: {result.cases} cases, {len(result.disagreements)} "
            f"disagreements with the decision table"
        )
    assert result.cases == 5 * 2**13
    assert not result.disagreements, result.disagreements[:3]


def test_the_table_never_permits_what_its_never_rows_forbid(
    checked: decision_table.Check,
) -> None:
    assert not checked.contradictions


def test_every_condition_of_the_table_is_one_the_policy_reads() -> None:
    assert sorted(FACT_OF_CONDITION.values()) == sorted(CONDITION_NAMES)
    assert set(default_table().conditions) == set(FACT_OF_CONDITION)


def test_every_combination_is_each_category_times_each_assignment_once() -> None:
    combinations = every_combination()
    assert len(combinations) == len(set(combinations)) == len(DataCategory) * 2**13
    for name in CONDITION_NAMES:
        assert {c.as_context()[name] for _, c in combinations} == {False, True}
    assert {cat for cat, _ in combinations} == set(DataCategory)


def test_a_table_that_names_an_unknown_condition_is_refused(tmp_path: Path) -> None:
    text = decision_table.TABLE_FILE.read_text(encoding="utf-8")
    broken = tmp_path / "table.yaml"
    broken.write_text(text.replace("when: [wgs-in-force]", "when: [wgs-in-effect]", 1))
    with pytest.raises(ValueError, match="wgs-in-effect"):
        load_table(broken)


def test_a_covenant_never_changes_an_outcome(cedar: CedarPolicy) -> None:
    table = default_table()
    without = [(cat, c) for cat, c in every_combination() if not c.covenant]
    with_covenant = [(cat, replace(c, covenant=True)) for cat, c in without]
    assert cedar.evaluate_batch(without) == cedar.evaluate_batch(with_covenant)
    assert all(
        table.evaluate(cat, c) == table.evaluate(cat2, c2)
        for (cat, c), (cat2, c2) in zip(without, with_covenant, strict=True)
    )


def test_every_permit_carries_its_legal_basis(cedar: CedarPolicy) -> None:
    rule_ids = {r for answer in cedar.evaluate_batch(every_combination()) for r in answer.rule_ids}
    assert rule_ids == {
        "wgs-samenwerkingsverband",
        "wettelijke-taak-nazorg",
        "wgs-labelpartner",
        "bsn-bevoegd",
        "consent",
        "zorgmachtiging-lla",
        "strafrechtelijke-voorwaarde-lla",
        "conflict-van-plichten",
    }
    assert rule_ids == {r.basis for r in default_table().rules}


def test_policy_version_is_a_content_hash(tmp_path: object, cedar: CedarPolicy) -> None:
    from hub.routing.cedar_policy import DEFAULT_POLICY, DEFAULT_SCHEMA

    changed = Path(str(tmp_path)) / "p.cedar"
    changed.write_text(DEFAULT_POLICY.read_text() + "\n// reviewed 2026-11\n")
    assert CedarPolicy(changed, DEFAULT_SCHEMA).version != cedar.version
    assert CedarPolicy().version == cedar.version
