"""``manifest init [DIR]``: a small model, its test and a README with the commands to serve and test it.

``manifest init [DIR] --example catering`` copies a model shipped in the package instead
(``examples_data.py``), so the README's walk works from a wheel install, without a checkout.
"""

from __future__ import annotations

from pathlib import Path

import click

from ..errors import ManifestError
from ..examples_data import EXAMPLES, copy_example

MODEL = """\
// A task board: a task is opened, started, then finished (or put back).
// Check it:  manifest check tasks.manifest
// Serve it:  manifest serve tasks.manifest --db sqlite:///tasks.db

entity Task {
  property required id: string
  property title: string = ""
  property estimate: number = 0
  property spent: number = 0
  property status: string = "open"

  // the only moves `status` may make
  transition status from "open" to ["doing"]
  transition status from "doing" to ["done", "open"]

  command plan(title: string, estimate: number) {
    guard estimate > 0
    // above 40 hours: a warning the caller sees in the result, not a refusal
    constraint tooBig:warn estimate <= 40 "Tasks above 40 hours should be split"
    mutate title = title
    mutate estimate = estimate
  }

  command start() {
    mutate status = "doing"
    emit TaskStarted
  }

  command finish(spent: number) {
    guard spent >= 0
    mutate spent = spent
    mutate status = "done"
    emit TaskFinished
  }
}

store Task in memory

event TaskStarted: "task.started" {
  id: string
}

event TaskFinished: "task.finished" {
  spent: number
}
"""

TEST = '''\
"""The task board's rules, run on the engine (no server needed): python -m pytest"""

from pathlib import Path

from manifest_lang.compiler.api import compile_file
from manifest_lang.runtime.engine import RuntimeEngine

MODEL = Path(__file__).with_name("tasks.manifest")


def engine() -> RuntimeEngine:
    compiled = compile_file(MODEL)
    assert compiled.ir is not None, [d.format() for d in compiled.diagnostics]
    return RuntimeEngine(compiled.ir, {"user": {"id": "me"}})


def run(e: RuntimeEngine, command: str, **params: object):  # -> CommandResult
    return e.run_command(command, params, entity_name="Task", instance_id="t1")


def test_a_task_goes_from_open_to_done() -> None:
    e = engine()
    e.create_instance("Task", {"id": "t1"})
    assert run(e, "plan", title="Write docs", estimate=3).success
    started = run(e, "start")
    assert started.success and [ev.name for ev in started.emitted_events] == ["TaskStarted"]
    assert run(e, "finish", spent=2).success
    assert e.get_instance("Task", "t1")["status"] == "done"


def test_a_task_cannot_finish_before_it_starts() -> None:
    e = engine()
    e.create_instance("Task", {"id": "t1"})
    result = run(e, "finish", spent=1)
    assert not result.success and "transition" in (result.error or "").lower()


def test_guards_and_typed_inputs_refuse_bad_calls() -> None:
    e = engine()
    e.create_instance("Task", {"id": "t1"})
    assert not run(e, "plan", title="x", estimate=0).success
    wrong = run(e, "plan", title="x", estimate="3")
    assert wrong.parameter_failure is not None and wrong.parameter_failure["parameter"] == "estimate"


def test_a_big_estimate_is_a_warning() -> None:
    e = engine()
    e.create_instance("Task", {"id": "t1"})
    result = run(e, "plan", title="Rewrite", estimate=80)
    assert result.success
    assert [o.constraint_name for o in result.constraint_outcomes or [] if not o.passed] == ["tooBig"]
'''

README = """\
# Task board

A small [Manifest](https://pypi.org/project/manifest-lang/) model: `tasks.manifest` declares a
`Task` with a state machine (`open -> doing -> done`), a guard, a warning constraint and two
events. `test_tasks.py` runs its rules on the engine.

```bash
manifest check tasks.manifest                        # typos, unknown names, type mismatches
python -m pytest                                      # the rules, tested
manifest serve tasks.manifest --db sqlite:///tasks.db # the HTTP API on http://127.0.0.1:8000
```

With the server running:

```bash
curl -s -X POST localhost:8000/Task -H 'content-type: application/json' -d '{"id": "t1"}'
curl -s -X POST localhost:8000/Task/t1/commands/plan -H 'content-type: application/json' \\
     -d '{"title": "Write docs", "estimate": 3}'
curl -s -X POST localhost:8000/Task/t1/commands/start
curl -s localhost:8000/Task/t1
```

`http://127.0.0.1:8000/docs` lists every route. Next: `manifest fmt tasks.manifest` keeps the
layout canonical; the tutorial (docs/tutorial.md in the manifest-lang repository) adds tenants,
policies, overrides, idempotency and sagas.
"""

FILES = {"tasks.manifest": MODEL, "test_tasks.py": TEST, "README.md": README}


@click.command("init")
@click.argument("directory", default=".", type=click.Path(file_okay=False, path_type=Path))
@click.option(
    "--example",
    type=click.Choice(sorted(EXAMPLES)),
    help="Copy this shipped example (models and API keys) instead of the small task board.",
)
def init_command(directory: Path, example: str | None) -> None:
    """Create a small model, its test and a README in DIRECTORY (default: the current one)."""
    if example is not None:
        _init_example(directory, example)
        return
    existing = [name for name in FILES if (directory / name).exists()]
    if existing:
        raise click.ClickException(f"{directory}: {', '.join(existing)} already exist(s); nothing written")
    try:
        directory.mkdir(parents=True, exist_ok=True)
        for name, text in FILES.items():
            (directory / name).write_text(text, encoding="utf-8", newline="\n")
    except OSError as exc:
        raise click.ClickException(f"{directory}: cannot write ({exc.strerror or exc})") from None
    where = "" if directory == Path(".") else f"cd {directory}\n  "
    click.echo(
        f"created {', '.join(str(directory / n) for n in FILES)}\n"
        f"next:\n  {where}manifest check tasks.manifest\n  python -m pytest\n"
        "  manifest serve tasks.manifest --db sqlite:///tasks.db"
    )


def _init_example(directory: Path, example: str) -> None:
    try:
        written = copy_example(example, directory)  # never overwrites: nothing is written then
    except ManifestError as exc:
        raise click.ClickException(exc.message) from None
    click.echo(f"created {', '.join(str(p) for p in written)}")
    root = directory / EXAMPLES[example][0]
    click.echo(f"next:\n  manifest serve {root} --api-keys {directory / 'keys.json'}")
