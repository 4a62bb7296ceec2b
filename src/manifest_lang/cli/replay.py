"""``manifest replay JOURNAL --model FILE``: replay a command journal and report differences.

Exit status: 0 when every command reproduced its recorded result, 1 when something differs,
2 when the journal or the model cannot be read (one line on stderr saying why).
"""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any

import click
import orjson


class InputError(click.ClickException):
    """Unreadable journal or model: exit 2, so that 1 always means "replay differs"."""

    exit_code = 2


def _load_model(path: Path) -> Any:
    from ..errors import ManifestError
    from ..loading import load_model

    try:
        return load_model(path)
    except ManifestError as exc:  # CompileError, IRError: the message names the file
        raise InputError(exc.message) from None


@click.command("replay")
@click.argument("journal", type=click.Path(path_type=Path))
@click.option(
    "--model",
    "model_path",
    required=True,
    type=click.Path(path_type=Path),
    help="The .manifest source (or IR .json) the journal was recorded with.",
)
@click.option("--json", "as_json", is_flag=True, help="Print the report as JSON.")
@click.option("--max-steps", type=int, default=None, help="Evaluation step limit for the replay.")
@click.option("--max-depth", type=int, default=None, help="Expression depth limit for the replay.")
def replay_command(
    journal: Path, model_path: Path, as_json: bool, max_steps: int | None, max_depth: int | None
) -> None:
    """Replay a command journal in deterministic mode and verify every result."""
    from ..workflows.journal import CommandJournal
    from ..workflows.replay import replay_and_verify

    model = _load_model(model_path)
    try:
        recorded = CommandJournal.load(journal)
    except (OSError, UnicodeDecodeError) as exc:
        raise InputError(f"cannot read journal {journal}: {getattr(exc, 'strerror', None) or exc}") from None
    except ValueError as exc:
        raise InputError(str(exc)) from None
    limits = _limits(max_steps, max_depth)
    report = replay_and_verify(model, recorded, evaluation_limits=limits)
    if as_json:
        click.echo(orjson.dumps(report.to_dict(), option=orjson.OPT_INDENT_2).decode())
    else:
        _print_report(report)
    sys.exit(0 if report.verified else 1)


def _limits(max_steps: int | None, max_depth: int | None) -> Any:
    if max_steps is None and max_depth is None:
        return None
    from ..expr.budget import EvaluationLimits

    kwargs = {}
    if max_steps is not None:
        kwargs["max_evaluation_steps"] = max_steps
    if max_depth is not None:
        kwargs["max_expression_depth"] = max_depth
    return EvaluationLimits(**kwargs)


def _print_report(report: Any) -> None:
    if report.model_changed:
        click.echo("note: the journal was recorded with a different model (IR hash differs)")
    if report.verified:
        click.echo(f"verified: {report.commands} commands replayed, every result identical")
        return
    differing = report.commands_differing
    click.echo(f"NOT verified: {len(differing)} of {report.commands} commands differ")
    for message in report.messages:
        click.echo(f"  {message}")
