"""``hub policy``: ask the sharing policy, and run its own test table."""

from __future__ import annotations

import json
from pathlib import Path
from typing import NoReturn

import typer

from hub.core.errors import ContractError, HubError
from hub.routing import reference_policy
from hub.routing.cedar_policy import CedarPolicy
from hub.routing.conditions import every_combination
from hub.routing.decision import DecisionInput, decide

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
        _refuse(f"cannot read {input_file}: {getattr(error, 'strerror', None) or error}")
    try:
        data = ContractError.validate(DecisionInput, json.loads(text))
    except json.JSONDecodeError as error:
        _refuse(f"{input_file} is not JSON: {error.msg} at line {error.lineno}")
    except ContractError as error:
        _refuse(str(error))
    try:
        decision = decide(data, CedarPolicy())
    except HubError as error:
        _refuse(str(error))
    typer.echo(decision.model_dump_json(indent=2))


def _refuse(message: str) -> NoReturn:
    typer.secho(f"error: {message}", fg=typer.colors.RED, err=True)
    raise typer.Exit(2)


@app.command("schema")
def schema_command() -> None:
    """Print the JSON Schema of the decision input."""
    typer.echo(json.dumps(DecisionInput.model_json_schema(), indent=2))


@app.command("check")
def check_command() -> None:
    """Evaluate every input combination in Cedar and in the reference; exit 1 on a difference."""
    policy = CedarPolicy()
    questions = every_combination()
    answers = policy.evaluate_batch(questions)
    wrong = [
        (category.value, conditions.as_context())
        for (category, conditions), answer in zip(questions, answers, strict=True)
        if answer != reference_policy.evaluate(category, conditions)
    ]
    typer.echo(f"policy {policy.version}: {len(questions)} cases, {len(wrong)} disagreements")
    if wrong:
        typer.echo(json.dumps(wrong[:5], indent=2))
        raise typer.Exit(1)


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
