"""``hub policy``: ask the sharing policy, check it against the decision table, show the table."""

from __future__ import annotations

import json
from pathlib import Path

import typer

from hub.cli.failure import failed
from hub.core.errors import ContractError, HubError
from hub.routing import decision_table
from hub.routing.cedar_policy import CedarPolicy, policy_from_settings
from hub.routing.decision import DecisionInput, decide
from hub.settings import HubSettings

app = typer.Typer(help="The sharing policy.", no_args_is_help=True)


@app.command("decide")
def decide_command(
    input_file: Path = typer.Argument(..., help="Decision input as JSON (see `schema`)."),
) -> None:
    """Print the decision for one recipient and message as JSON. Input the hub does not
    fully understand is refused with one line naming the field (exit 2)."""
    try:
        text = input_file.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as error:
        raise failed(
            f"cannot read {input_file}: {getattr(error, 'strerror', None) or error}"
        ) from None
    try:
        data = ContractError.validate(DecisionInput, json.loads(text))
    except json.JSONDecodeError as error:
        raise failed(f"{input_file} is not JSON: {error.msg} at line {error.lineno}") from None
    except ContractError as error:
        raise failed(str(error)) from None
    try:
        decision = decide(data, CedarPolicy())
    except HubError as error:
        raise failed(str(error)) from None
    typer.echo(decision.model_dump_json(indent=2))


@app.command("schema")
def schema_command() -> None:
    """Print the JSON Schema of the decision input."""
    typer.echo(json.dumps(DecisionInput.model_json_schema(), indent=2))


@app.command("check")
def check_command() -> None:
    """Evaluate every input combination in the configured Cedar policy and in the decision
    table (hub/routing/policy/policy-table.yaml); exit 1 on a difference, or where the
    table permits what one of its own `never` rows forbids."""
    try:
        policy = policy_from_settings(HubSettings().policy)
    except HubError as error:
        raise failed(str(error)) from None
    result = decision_table.check(policy)
    typer.echo(
        f"policy {policy.version}: {result.cases} cases, {len(result.disagreements)} "
        f"disagreements with the decision table, {len(result.contradictions)} contradictions "
        "in the table"
    )
    if result.disagreements:
        shown = [
            {
                "category": category.value,
                "conditions": conditions.as_context(),
                "policy": sorted(answer.rule_ids),
                "table": sorted(expected.rule_ids),
            }
            for category, conditions, answer, expected in result.disagreements[:5]
        ]
        typer.echo(json.dumps(shown, indent=2))
    if result.contradictions:
        typer.echo(
            json.dumps(
                [
                    {"category": c.value, "rules": list(rules), "never": list(never)}
                    for c, _, rules, never in result.contradictions[:5]
                ],
                indent=2,
            )
        )
    if result.disagreements or result.contradictions:
        raise typer.Exit(1)


@app.command("table")
def table_command(
    update: Path | None = typer.Option(
        None, help="Rewrite the table between the policy-table markers of this Markdown file."
    ),
) -> None:
    """Print the decision table as Markdown (docs/policy.md shows it)."""
    if update is None:
        typer.echo(decision_table.render_markdown())
        return
    text = update.read_text(encoding="utf-8")
    if decision_table.BEGIN not in text or decision_table.END not in text:
        raise failed(f"{update} has no {decision_table.BEGIN} … {decision_table.END} markers")
    update.write_text(decision_table.splice(text), encoding="utf-8")


@app.command("bench")
def bench_command(
    decisions: int = typer.Option(5000, min=100, help="Recipient decisions to time."),
    fields: int = typer.Option(10, min=1, help="Fields per message."),
    target: int = typer.Option(20_000, help="Field decisions a second to reach."),
) -> None:
    """Time the policy on one core and print the figures as JSON; exit 1 below target."""
    from hub.routing import policy_benchmark

    results = policy_benchmark.run(decisions=decisions, fields=fields)
    per_field = next(r for r in results if r.name == "decide_per_field")
    report = {
        "policy_version": CedarPolicy().version,
        "results": [r.as_dict() for r in results],
        "target_field_decisions_per_second": target,
        "meets_target": per_field.per_second >= target,
    }
    typer.echo(json.dumps(report, indent=2))
    if not report["meets_target"]:
        raise typer.Exit(1)
