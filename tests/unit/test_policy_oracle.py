"""The whole decision against the decision table, over every combination of its dimensions.

Real decision inputs (FHIR Consents, titles, conflict-of-duties decisions, recipients,
fields) are built for every recipient, purpose, moment, BSN authorisation, relevance to
the role, covenant, and every consent, title and conflict-of-duties situation the table
names; ``decide`` with the Cedar policy must give each field the table's verdict and
bases, and the message the table's outcome. What a situation means (whether consent
holds, ...) is read from the table, never from the hub's code.
"""

from __future__ import annotations

import datetime as dt
import time
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from itertools import product
from typing import Any

import pytest

from hub.core.calendar import local_day
from hub.routing.cedar_policy import CedarPolicy
from hub.routing.decision import DecisionInput, FieldSpec, Purpose, Recipient, Verdict, decide
from hub.routing.decision_table import DecisionTable, default_table
from hub.schemas.categories import DataCategory
from hub.schemas.consent import ConflictDecision, LegalTitle, TitleKind
from hub.schemas.roles import TeamRole
from tests.data import TEST_BSNS, fhir_consent, pseudonymiser

SUBJECT = pseudonymiser().pseudonym(TEST_BSNS[0])
OTHER_CLIENT = pseudonymiser().pseudonym(TEST_BSNS[1])
ELSEWHERE = "zvh:amsterdam"  # a partner none of the recipients below is
MEDICAL = "crisis_assessment"
DECISION_ID = "doorbreking-1"

# The moments either side of the WGS: 23:59:59 on 28 February and midnight on 1 March 2025,
# in Amsterdam. The key is whether the WGS is in force.
MOMENTS = {
    False: dt.datetime(2025, 2, 28, 22, 59, 59, tzinfo=dt.UTC),
    True: dt.datetime(2025, 2, 28, 23, 0, tzinfo=dt.UTC),
}


@dataclass(frozen=True)
class Kind:
    """A recipient and what the table's recipient conditions say about it."""

    partner: str
    role: TeamRole
    in_team: bool
    label_partner: bool
    gemeente: bool


RECIPIENTS = {
    "team member": Kind("llz:fivoor", TeamRole.LEVENSLOOPCOORDINATOR, True, False, False),
    "outsider": Kind("llz:other", TeamRole.LEVENSLOOPCOORDINATOR, False, False, False),
    "gemeente in the team": Kind("gemeente:GM0363", TeamRole.CASUSREGISSEUR, True, False, True),
    "gemeente outside the team": Kind(
        "gemeente:GM0599", TeamRole.CASUSREGISSEUR, False, False, True
    ),
    "police (label partner)": Kind("politie", TeamRole.POLITIE, False, True, False),
    "reclassering in the team": Kind("reclassering", TeamRole.RECLASSERING, True, True, False),
}
PURPOSES = {
    Purpose.LEVENSLOOPAANPAK: {"purpose-lla": True, "purpose-nazorg": False},
    Purpose.NAZORG: {"purpose-lla": False, "purpose-nazorg": True},
    Purpose.OTHER: {"purpose-lla": False, "purpose-nazorg": False},
}
PLAIN_FIELDS = (
    FieldSpec(name="bsn", category=DataCategory.IDENTITY),
    FieldSpec(name="detention_place", category=DataCategory.JUSTICE),
    FieldSpec(name="inclusion", category=DataCategory.LABEL),
    FieldSpec(name="llc_phone", category=DataCategory.CONTACT),
)


def _fields(role: TeamRole, relevant: bool) -> tuple[FieldSpec, ...]:
    other_role = TeamRole.PROCESREGISSEUR  # a role none of the recipients has
    medical = FieldSpec(
        name=MEDICAL,
        category=DataCategory.MEDICAL,
        relevant_roles=(role,) if relevant else (other_role,),
    )
    return (*PLAIN_FIELDS, medical)


# --- the situations of the table, built as the hub receives them --------------------------

Consents = tuple[list[dict[str, Any]], tuple[str, ...]]


def _day(now: dt.datetime, days: int) -> str:
    return (local_day(now) + dt.timedelta(days=days)).isoformat()


def _consent(now: dt.datetime, cid: str, status: str = "active", **kw: Any) -> dict[str, Any]:
    kw.setdefault("start", _day(now, -60))
    return {**fhir_consent(cid, patient=kw.pop("patient", SUBJECT), **kw), "status": status}


CONSENTS: dict[str, Callable[[str, dt.datetime], Consents]] = {
    "none": lambda r, now: ([], ()),
    "generic-permit": lambda r, now: ([_consent(now, "c1")], ()),
    "specific-permit": lambda r, now: ([_consent(now, "c1", actor=r, cls="medical")], ()),
    "recipient-permit": lambda r, now: ([_consent(now, "c1", actor=r)], ()),
    "generic-deny-specific-permit": lambda r, now: (
        [_consent(now, "c1", kind="deny"), _consent(now, "c2", actor=r, cls="medical")],
        (),
    ),
    "specific-deny-generic-permit": lambda r, now: (
        [_consent(now, "c1"), _consent(now, "c2", kind="deny", actor=r, cls="medical")],
        (),
    ),
    "permit-and-deny-equal": lambda r, now: (
        [_consent(now, "c1", actor=r), _consent(now, "c2", kind="deny", actor=r)],
        (),
    ),
    "nested-exception": lambda r, now: (
        [_consent(now, "c1", actor=r, nested=[{"type": "deny", "class": [{"code": "medical"}]}])],
        (),
    ),
    "draft": lambda r, now: ([_consent(now, "c1", "draft", actor=r)], ()),
    "proposed": lambda r, now: ([_consent(now, "c1", "proposed", actor=r)], ()),
    "inactive": lambda r, now: ([_consent(now, "c1", "inactive", actor=r)], ()),
    "expired": lambda r, now: (
        [_consent(now, "c1", actor=r, start=_day(now, -60), end=_day(now, -1))],
        (),
    ),
    "not-yet-valid": lambda r, now: ([_consent(now, "c1", actor=r, start=_day(now, 1))], ()),
    "another-recipient": lambda r, now: ([_consent(now, "c1", actor=ELSEWHERE)], ()),
    "another-client": lambda r, now: ([_consent(now, "c1", actor=r, patient=OTHER_CLIENT)], ()),
    "unreadable-stored": lambda r, now: ([_consent(now, "c1")], ("c-unreadable",)),
}


def _title(
    now: dt.datetime,
    kind: TitleKind,
    *,
    lla: bool = True,
    start: int = -100,
    end: int = 100,
    subject: str = SUBJECT,
) -> tuple[LegalTitle, ...]:
    today = local_day(now)
    return (
        LegalTitle(
            subject=subject,
            title_id="titel-1",
            kind=kind,
            includes_levensloopaanpak=lla,
            valid_from=today + dt.timedelta(days=start),
            valid_until=today + dt.timedelta(days=end),
        ),
    )


ZM, SV = TitleKind.ZORGMACHTIGING, TitleKind.STRAFRECHTELIJKE_VOORWAARDE
TITLES: dict[str, Callable[[dt.datetime], tuple[LegalTitle, ...]]] = {
    "none": lambda now: (),
    "zorgmachtiging": lambda now: _title(now, ZM),
    "zorgmachtiging-without-lla": lambda now: _title(now, ZM, lla=False),
    "zorgmachtiging-expired": lambda now: _title(now, ZM, end=-1),
    "zorgmachtiging-another-client": lambda now: _title(now, ZM, subject=OTHER_CLIENT),
    "strafrechtelijke-voorwaarde": lambda now: _title(now, SV),
    "strafrechtelijke-voorwaarde-not-yet-valid": lambda now: _title(now, SV, start=1),
}


def _doorbreking(
    now: dt.datetime,
    recipient: str,
    releases: tuple[str, ...] = (MEDICAL,),
    *,
    subject: str = SUBJECT,
    until: dt.timedelta = dt.timedelta(days=1),
) -> tuple[ConflictDecision, ...]:
    return (
        ConflictDecision(
            subject=subject,
            decision_id=DECISION_ID,
            decided_by="Dr. A. Psychiater",
            recipient=recipient,
            releases=releases,
            reason="Ernstig gevaar voor derden",
            decided_at=now - dt.timedelta(days=2),
            valid_until=now + until,
        ),
    )


CONFLICTS: dict[str, Callable[[str, dt.datetime], tuple[ConflictDecision, ...]]] = {
    "none": lambda r, now: (),
    "this-field": lambda r, now: _doorbreking(now, r),
    "all-medical": lambda r, now: _doorbreking(now, r, ("medical",)),
    "another-field": lambda r, now: _doorbreking(now, r, ("crisis_plan",)),
    "another-recipient": lambda r, now: _doorbreking(now, ELSEWHERE),
    "expired": lambda r, now: _doorbreking(now, r, until=-dt.timedelta(seconds=1)),
    "another-client": lambda r, now: _doorbreking(now, r, subject=OTHER_CLIENT),
}


# --- the sweep ---------------------------------------------------------------------------


@dataclass
class Sweep:
    cases: int = 0
    seconds: float = 0.0
    mismatches: list[str] = field(default_factory=list)
    rules: Counter[str] = field(default_factory=Counter)
    never: Counter[str] = field(default_factory=Counter)
    outcomes: Counter[str] = field(default_factory=Counter)
    medical_alone: Counter[str] = field(default_factory=Counter)
    medical_with_others: Counter[str] = field(default_factory=Counter)


def _situations(table: DecisionTable) -> tuple[list[str], list[str], list[str]]:
    return (
        [s.situation for s in table.consent],
        [s.situation for s in table.titles],
        [s.situation for s in table.conflict_of_duties],
    )


def _run(table: DecisionTable) -> Sweep:
    policy = CedarPolicy()
    sweep = Sweep()
    consent_ids, title_ids, conflict_ids = _situations(table)
    consents = {s.situation: s for s in table.consent}
    titles = {s.situation: s for s in table.titles}
    conflicts = {s.situation: s for s in table.conflict_of_duties}
    hits: Counter[tuple[DataCategory, tuple[tuple[str, bool], ...]]] = Counter()
    started = time.perf_counter()
    for (name, kind), may_hold_bsn, wgs, purpose, relevant in product(
        RECIPIENTS.items(), (False, True), (False, True), PURPOSES, (False, True)
    ):
        now = MOMENTS[wgs]
        recipient = Recipient(
            partner=kind.partner, role=kind.role, in_team=kind.in_team, may_hold_bsn=may_hold_bsn
        )
        template = DecisionInput(
            subject=SUBJECT,
            fields=_fields(kind.role, relevant),
            recipient=recipient,
            purpose=purpose,
            now=now,
        )
        read = {
            sid: (DecisionInput.model_validate({**template.model_dump(), "consents": dicts}), ids)
            for sid, (dicts, ids) in ((s, CONSENTS[s](kind.partner, now)) for s in consent_ids)
        }
        base = {
            "in-team": kind.in_team,
            "label-partner": kind.label_partner,
            "gemeente": kind.gemeente,
            **PURPOSES[purpose],
            "wgs-in-force": wgs,
            "bsn-authorised": may_hold_bsn,
        }
        built_titles = {t: TITLES[t](now) for t in title_ids}
        built_conflicts = {c: CONFLICTS[c](kind.partner, now) for c in conflict_ids}
        expected_for: dict[tuple[object, ...], dict[str, frozenset[str]]] = {}
        for consent_id, title_id, conflict_id, covenant in product(
            consent_ids, title_ids, conflict_ids, (False, True)
        ):
            consent, title = consents[consent_id], titles[title_id]
            releases = conflicts[conflict_id].releases
            with_consents, unreadable = read[consent_id]
            data = template.model_copy(
                update={
                    "consents": with_consents.consents,
                    "unreadable_consents": unreadable,
                    "titles": built_titles[title_id],
                    "conflict_decisions": built_conflicts[conflict_id],
                    "covenant": covenant,
                }
            )
            decision = decide(data, policy)
            sweep.cases += 1
            situation = (
                consent.holds,
                title.zorgmachtiging,
                title.strafrechtelijke_voorwaarde,
                releases,
                covenant,
            )
            expected = expected_for.get(situation)
            if expected is None:
                expected = expected_for[situation] = {}
                for spec in data.fields:
                    medical = spec.category is DataCategory.MEDICAL
                    facts = {
                        **base,
                        # Relevance and a release are asked of medical fields only (the
                        # table's conditions); for other data they are not in question.
                        "relevant-to-role": relevant if medical else True,
                        "consent": consent.holds,
                        "zorgmachtiging": title.zorgmachtiging,
                        "strafrechtelijke-voorwaarde": title.strafrechtelijke_voorwaarde,
                        "conflict-van-plichten": releases and medical,
                        "covenant": covenant,
                    }
                    hits[(spec.category, tuple(facts.items()))] += 1
                    expected[spec.name] = table.permits(spec.category, facts).bases
            outcome = table.outcome(list(expected.values()))
            sweep.outcomes[outcome.when] += 1
            verdicts = {n: Verdict.PERMIT if b else Verdict.DENY for n, b in expected.items()}
            bases = tuple(sorted(frozenset().union(*expected.values())))
            break_glass = outcome.outcome.value == "PERMIT_BREAK_GLASS"
            got = (
                decision.field_verdicts,
                decision.legal_bases,
                decision.outcome,
                decision.review_required,
                decision.released_by,
            )
            want = (verdicts, bases, outcome.outcome, break_glass, (DECISION_ID,) * break_glass)
            if got != want:
                sweep.mismatches.append(
                    f"{name}, bsn {may_hold_bsn}, wgs {wgs}, {purpose.value}, relevant "
                    f"{relevant}, consent {consent_id}, title {title_id}, conflict "
                    f"{conflict_id}, covenant {covenant}:\n  hub   {got}\n  table {want}"
                )
    sweep.seconds = time.perf_counter() - started
    for category, items in hits:
        facts = dict(items)
        answer = table.permits(category, facts)
        sweep.rules.update(answer.rules)
        sweep.never.update(table.forbids(category, facts))
        if category is DataCategory.MEDICAL and answer.allowed:
            alone = sweep.medical_alone if len(answer.bases) == 1 else sweep.medical_with_others
            alone.update(answer.bases)
    return sweep


@pytest.fixture(scope="module")
def sweep() -> Sweep:
    return _run(default_table())


def test_decide_agrees_with_the_table_on_every_combination(
    sweep: Sweep, capsys: pytest.CaptureFixture[str]
) -> None:
    consents, titles, conflicts = _situations(default_table())
    dimensions = len(RECIPIENTS) * 2 * 2 * len(PURPOSES) * 2 * 2
    with capsys.disabled():
        print(
            f"\n[policy] oracle: {sweep.cases} decisions ({sweep.cases * 5} field verdicts) "
            f"in {sweep.seconds:.1f} s, {len(sweep.mismatches)} disagreements"
        )
    assert sweep.cases == dimensions * len(consents) * len(titles) * len(conflicts)
    assert not sweep.mismatches, "\n".join(sweep.mismatches[:5])


def test_the_test_builds_exactly_the_situations_the_table_names() -> None:
    consents, titles, conflicts = _situations(default_table())
    assert sorted(consents) == sorted(CONSENTS)
    assert sorted(titles) == sorted(TITLES)
    assert sorted(conflicts) == sorted(CONFLICTS)


def test_every_row_of_the_table_was_reached(sweep: Sweep) -> None:
    table = default_table()
    assert set(sweep.rules) == {r.rule for r in table.rules}
    assert set(sweep.never) == {n.never for n in table.never}
    assert set(sweep.outcomes) == {o.when for o in table.outcomes}


def test_medical_data_went_on_each_basis_alone_and_together(sweep: Sweep) -> None:
    bases = {"consent", "zorgmachtiging-lla", "strafrechtelijke-voorwaarde-lla"}
    bases.add("conflict-van-plichten")
    assert set(sweep.medical_alone) == bases
    assert set(sweep.medical_with_others) == bases
