"""Cedar against the plain reference over every combination of the policy's inputs."""

from __future__ import annotations

from dataclasses import replace

import pytest

from hub.routing import reference_policy
from hub.routing.cedar_policy import CedarPolicy
from hub.routing.conditions import every_combination


@pytest.fixture(scope="module")
def cedar() -> CedarPolicy:
    return CedarPolicy()


def test_cedar_and_reference_agree_on_every_combination(
    cedar: CedarPolicy, capsys: pytest.CaptureFixture[str]
) -> None:
    questions = every_combination()
    answers = cedar.evaluate_batch(questions)
    disagreements = [
        (category, conditions, answer)
        for (category, conditions), answer in zip(questions, answers, strict=True)
        if answer != reference_policy.evaluate(category, conditions)
    ]
    with capsys.disabled():
        print(f"\n[policy] exhaustive: {len(questions)} cases, {len(disagreements)} disagreements")
    assert len(questions) == 5 * 2**13
    assert not disagreements, disagreements[:3]
    assert any(a.allowed for a in answers)
    assert not all(a.allowed for a in answers)


def test_a_covenant_never_changes_an_outcome(cedar: CedarPolicy) -> None:
    without = [(cat, c) for cat, c in every_combination() if not c.covenant]
    with_covenant = [(cat, replace(c, covenant=True)) for cat, c in without]
    assert cedar.evaluate_batch(without) == cedar.evaluate_batch(with_covenant)
    assert all(
        reference_policy.evaluate(cat, c) == reference_policy.evaluate(cat2, c2)
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


def test_policy_version_is_a_content_hash(tmp_path: object, cedar: CedarPolicy) -> None:
    from pathlib import Path

    from hub.routing.cedar_policy import DEFAULT_POLICY, DEFAULT_SCHEMA

    changed = Path(str(tmp_path)) / "p.cedar"
    changed.write_text(DEFAULT_POLICY.read_text() + "\n// reviewed 2026-11\n")
    assert CedarPolicy(changed, DEFAULT_SCHEMA).version != cedar.version
    assert CedarPolicy().version == cedar.version
