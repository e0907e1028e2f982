"""The sharing rules as a decision table, and the small evaluator that reads it.

The table (``policy/policy-table.yaml``) is written from the source documents for a
privacy officer, independently of the Cedar file: it is the oracle the policy is checked
against, by ``hub policy check`` over every combination of the conditions and by the
tests over every combination of consents, titles and decisions given to ``decide``.
The evaluator knows no rule: it only matches rows. What a condition's name means for
the hub (which :class:`Conditions` field states it) is said once, in
:data:`FACT_OF_CONDITION`.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from functools import cache
from pathlib import Path
from typing import Literal, Protocol

import yaml
from pydantic import BaseModel, ConfigDict, Field, model_validator

from hub.routing.conditions import Conditions, RuleResult, every_combination
from hub.schemas.categories import DataCategory
from hub.schemas.deliveries import Outcome

TABLE_FILE = Path(__file__).parent / "policy" / "policy-table.yaml"
BEGIN = "<!-- policy-table:start -->"
END = "<!-- policy-table:end -->"

FACT_OF_CONDITION: Mapping[str, str] = {
    "in-team": "in_team",
    "label-partner": "label_partner",
    "gemeente": "is_gemeente",
    "purpose-lla": "purpose_lla",
    "purpose-nazorg": "purpose_nazorg",
    "wgs-in-force": "wgs_in_force",
    "bsn-authorised": "bsn_authorised",
    "relevant-to-role": "role_relevant",
    "consent": "consent",
    "zorgmachtiging": "zorgmachtiging",
    "strafrechtelijke-voorwaarde": "strafrechtelijke_voorwaarde",
    "conflict-van-plichten": "conflict_of_duties",
    "covenant": "covenant",
}
"""Each condition the table asks, and the :class:`Conditions` field the hub sets for it."""

Facts = Mapping[str, bool]
"""Condition name (as the table spells it) to whether it holds."""


def facts_of(conditions: Conditions) -> dict[str, bool]:
    """The table's conditions for one :class:`Conditions`."""
    return {name: getattr(conditions, attr) for name, attr in FACT_OF_CONDITION.items()}


class _Row(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid", populate_by_name=True)


class Predicate(_Row):
    """``all`` hold, at least one of ``any`` holds (when given), none of ``none`` holds."""

    all: tuple[str, ...] = ()
    any: tuple[str, ...] = ()
    none: tuple[str, ...] = ()

    def names(self) -> set[str]:
        return {*self.all, *self.any, *self.none}

    def holds(self, facts: Facts) -> bool:
        return (
            all(facts[n] for n in self.all)
            and (not self.any or any(facts[n] for n in self.any))
            and not any(facts[n] for n in self.none)
        )


class _Match(_Row):
    categories: tuple[DataCategory, ...] = Field(min_length=1)
    recipient: str
    purposes: tuple[str, ...] = ()
    when: tuple[str, ...] = ()
    unless: tuple[str, ...] = ()
    source: str = Field(min_length=1)


class Rule(_Match):
    """A field of ``categories`` may go to ``recipient`` on ``basis``."""

    rule: str
    basis: str


class Never(_Match):
    """What may not happen, whatever else holds."""

    never: str
    says: str


class OutcomeRow(_Row):
    outcome: Outcome
    when: Literal[
        "no field may go",
        "a field may go on conflict-van-plichten alone",
        "a field is withheld",
        "otherwise",
    ]
    meaning: str
    source: str = Field(min_length=1)


class ConsentSituation(_Row):
    situation: str
    description: str
    holds: bool
    convention: str
    source: str = Field(min_length=1)


class TitleSituation(_Row):
    situation: str
    description: str
    zorgmachtiging: bool
    strafrechtelijke_voorwaarde: bool = Field(alias="strafrechtelijke-voorwaarde")
    source: str = Field(min_length=1)


class ConflictSituation(_Row):
    situation: str
    description: str
    releases: bool
    source: str = Field(min_length=1)


@dataclass(frozen=True)
class TableAnswer:
    """The bases that permit a field (none: withheld), and the rows that applied."""

    bases: frozenset[str]
    rules: tuple[str, ...]

    @property
    def allowed(self) -> bool:
        return bool(self.bases)


class DecisionTable(_Row):
    conditions: dict[str, str]
    recipients: dict[str, Predicate]
    purposes: dict[str, Predicate]
    categories: dict[DataCategory, str]
    rules: tuple[Rule, ...] = Field(min_length=1)
    never: tuple[Never, ...] = ()
    outcomes: tuple[OutcomeRow, ...] = Field(min_length=1)
    consent: tuple[ConsentSituation, ...] = ()
    titles: tuple[TitleSituation, ...] = ()
    conflict_of_duties: tuple[ConflictSituation, ...] = Field((), alias="conflict-of-duties")

    @model_validator(mode="after")
    def _names_are_known(self) -> DecisionTable:
        if set(self.conditions) != set(FACT_OF_CONDITION):
            unknown = set(self.conditions) ^ set(FACT_OF_CONDITION)
            raise ValueError(f"conditions: the hub establishes no fact for {sorted(unknown)}")
        for name, predicate in [*self.recipients.items(), *self.purposes.items()]:
            self._known(predicate.names(), name)
        rows: list[Rule | Never] = [*self.rules, *self.never]
        for row in rows:
            where = row.rule if isinstance(row, Rule) else row.never
            self._known({*row.when, *row.unless}, where)
            if row.recipient not in self.recipients:
                raise ValueError(f"{where}: recipient {row.recipient!r} is not defined")
            for purpose in row.purposes:
                if purpose not in self.purposes:
                    raise ValueError(f"{where}: purpose {purpose!r} is not defined")
        if self.outcomes[-1].when != "otherwise":
            raise ValueError("outcomes: the last row applies 'otherwise'")
        for section in (self.consent, self.titles, self.conflict_of_duties):
            ids = [s.situation for s in section]
            if len(ids) != len(set(ids)):
                raise ValueError(f"a situation is named twice: {ids}")
        return self

    def _known(self, names: Iterable[str], where: str) -> None:
        for name in names:
            if name not in self.conditions:
                raise ValueError(f"{where}: {name!r} is not a condition of the table")

    def _applies(self, row: _Match, category: DataCategory, facts: Facts) -> bool:
        return (
            category in row.categories
            and self.recipients[row.recipient].holds(facts)
            and (not row.purposes or any(self.purposes[p].holds(facts) for p in row.purposes))
            and all(facts[n] for n in row.when)
            and not any(facts[n] for n in row.unless)
        )

    def permits(self, category: DataCategory, facts: Facts) -> TableAnswer:
        """The rows of ``rules`` that apply to a field of ``category``."""
        rows = [r for r in self.rules if self._applies(r, category, facts)]
        return TableAnswer(frozenset(r.basis for r in rows), tuple(r.rule for r in rows))

    def forbids(self, category: DataCategory, facts: Facts) -> tuple[str, ...]:
        """The rows of ``never`` that apply to a field of ``category``."""
        return tuple(r.never for r in self.never if self._applies(r, category, facts))

    def evaluate(self, category: DataCategory, conditions: Conditions) -> RuleResult:
        """The table's answer in the policy's terms, for comparison with Cedar."""
        answer = self.permits(category, facts_of(conditions))
        return RuleResult(allowed=answer.allowed, rule_ids=answer.bases)

    def outcome(self, field_bases: Sequence[frozenset[str]]) -> OutcomeRow:
        """The outcome for a message whose fields are permitted on ``field_bases`` (empty:
        withheld): the first row of ``outcomes`` that applies."""
        applies = {
            "no field may go": not any(field_bases),
            "a field may go on conflict-van-plichten alone": any(
                b == {"conflict-van-plichten"} for b in field_bases
            ),
            "a field is withheld": not all(field_bases),
            "otherwise": True,
        }
        return next(row for row in self.outcomes if applies[row.when])


def load_table(path: Path = TABLE_FILE) -> DecisionTable:
    """Read and check a decision table; a malformed one raises ``ValueError``."""
    return DecisionTable.model_validate(yaml.safe_load(path.read_text(encoding="utf-8")))


@cache
def default_table() -> DecisionTable:
    return load_table()


class Evaluates(Protocol):
    def evaluate_batch(
        self, questions: Sequence[tuple[DataCategory, Conditions]]
    ) -> list[RuleResult]: ...


@dataclass(frozen=True)
class Check:
    """A policy checked against the table over every combination of the conditions."""

    cases: int
    disagreements: list[tuple[DataCategory, Conditions, RuleResult, RuleResult]]
    contradictions: list[tuple[DataCategory, Conditions, tuple[str, ...], tuple[str, ...]]]


def check(policy: Evaluates, table: DecisionTable | None = None) -> Check:
    """Every (category, conditions) in ``policy`` and in ``table``: the disagreements
    (category, conditions, policy's answer, table's answer), and the cases where a rule of
    the table permits what a ``never`` row forbids (the table contradicts itself)."""
    table = table or default_table()
    questions = every_combination()
    answers = policy.evaluate_batch(questions)
    disagreements = []
    contradictions = []
    for (category, conditions), answer in zip(questions, answers, strict=True):
        facts = facts_of(conditions)
        expected = table.permits(category, facts)
        if answer != RuleResult(allowed=expected.allowed, rule_ids=expected.bases):
            disagreements.append(
                (category, conditions, answer, RuleResult(expected.allowed, expected.bases))
            )
        forbidden = table.forbids(category, facts) if expected.allowed else ()
        if forbidden:
            contradictions.append((category, conditions, expected.rules, forbidden))
    return Check(len(questions), disagreements, contradictions)


def _list(items: Iterable[str]) -> str:
    return ", ".join(items) or "—"


def _cell(text: str) -> str:
    return " ".join(text.split()).replace("|", "\\|")


def render_markdown(table: DecisionTable | None = None) -> str:
    """The table as Markdown for docs/policy.md."""
    t = table or default_table()
    out = ["### Who receives what", ""]
    out += [
        "A field may go when a row applies; every row that applies is a legal basis. "
        "A field no row permits is withheld.",
        "",
        "| row | data | to | for | only when | legal basis | source |",
        "|---|---|---|---|---|---|---|",
    ]
    out += [
        f"| {r.rule} | {_list(r.categories)} | {r.recipient} "
        f"| {_list(r.purposes) if r.purposes else 'any'} | {_list(r.when)} "
        f"| `{r.basis}` | {_cell(r.source)} |"
        for r in t.rules
    ]
    out += ["", "### What never happens", ""]
    out += [
        "Whatever else holds. A rule above that permits what a row here forbids is a "
        "contradiction, and `hub policy check` fails on it.",
        "",
        "| row | never | data | to | for | when | unless one of | source |",
        "|---|---|---|---|---|---|---|---|",
    ]
    out += [
        f"| {n.never} | {_cell(n.says)} | {_list(n.categories)} | {n.recipient} "
        f"| {_list(n.purposes) if n.purposes else 'any'} | {_list(n.when)} "
        f"| {_list(n.unless)} | {_cell(n.source)} |"
        for n in t.never
    ]
    out += ["", "### The outcome of a delivery", "", "The first row that applies decides.", ""]
    out += ["| when | outcome | meaning | source |", "|---|---|---|---|"]
    out += [
        f"| {o.when} | `{o.outcome.value}` | {o.meaning} | {_cell(o.source)} |" for o in t.outcomes
    ]
    out += ["", "### The conditions", ""]
    out += ["| condition | the question |", "|---|---|"]
    out += [f"| `{name}` | {_cell(asks)} |" for name, asks in t.conditions.items()]
    out += ["", "| recipient | means |", "|---|---|"]
    out += [f"| {name} | {_describe(p)} |" for name, p in t.recipients.items()]
    out += ["", "| purpose | means |", "|---|---|"]
    out += [f"| {name} | {_describe(p)} |" for name, p in t.purposes.items()]
    out += ["", "### When consent holds (Mitz)", ""]
    out += ["| situation | consent holds | convention | source |", "|---|---|---|---|"]
    out += [
        f"| {c.description} | {_yes(c.holds)} | {_cell(c.convention)} | {_cell(c.source)} |"
        for c in t.consent
    ]
    out += ["", "### When a title holds", ""]
    out += [
        "| situation | zorgmachtiging | strafrechtelijke voorwaarde | source |",
        "|---|---|---|---|",
    ]
    out += [
        f"| {s.description} | {_yes(s.zorgmachtiging)} | {_yes(s.strafrechtelijke_voorwaarde)} "
        f"| {_cell(s.source)} |"
        for s in t.titles
    ]
    out += ["", "### When a conflict-of-duties decision releases a medical field", ""]
    out += ["| situation | releases it | source |", "|---|---|---|"]
    out += [
        f"| {s.description} | {_yes(s.releases)} | {_cell(s.source)} |"
        for s in t.conflict_of_duties
    ]
    return "\n".join(out)


def _yes(value: bool) -> str:
    return "yes" if value else "no"


def _describe(p: Predicate) -> str:
    parts = []
    if p.all:
        parts.append(" and ".join(f"`{n}`" for n in p.all))
    if p.any:
        parts.append(" or ".join(f"`{n}`" for n in p.any))
    if p.none:
        parts.append("not " + " nor ".join(f"`{n}`" for n in p.none))
    return "; ".join(parts) or "any recipient"


def splice(document: str, table: DecisionTable | None = None) -> str:
    """``document`` with the text between the markers replaced by the rendered table."""
    head, _, rest = document.partition(BEGIN)
    _, _, tail = rest.partition(END)
    return f"{head}{BEGIN}\n{render_markdown(table)}\n{END}{tail}"
