"""The `rsilab` command line. Errors are caught here and said plainly, with what to do."""

from __future__ import annotations

import getpass
import json
import shutil
import sys
from importlib import resources
from pathlib import Path
from typing import Annotated, Optional

import typer
from rich.console import Console

from rsilab import views
from rsilab.errors import ConfigError, RsilabError

app = typer.Typer(help="rsilab: controlled recursive self-improvement.", no_args_is_help=True, add_completion=False)
ledger_app = typer.Typer(help="The hash-chained ledger.", no_args_is_help=True)
config_app = typer.Typer(help="The experiment's rsilab.toml.", no_args_is_help=True)
app.add_typer(ledger_app, name="ledger")
app.add_typer(config_app, name="config")

console = Console()
DirOption = Annotated[Optional[Path], typer.Option("--dir", "-C", help="Experiment directory (default: found from here up).")]


def main() -> None:
    try:
        app()
    except ConfigError as exc:
        Console(stderr=True).print(f"[red]{exc}[/red]")
        sys.exit(2)
    except RsilabError as exc:
        Console(stderr=True).print(f"[red]error:[/red] {exc}")
        sys.exit(1)


def _experiment(directory: Path | None):  # noqa: ANN202 - lazy import keeps --help fast
    from rsilab.config import CONFIG_FILE
    from rsilab.experiment import Experiment

    start = (directory or Path.cwd()).resolve()
    for candidate in (start, *start.parents):
        if (candidate / CONFIG_FILE).is_file():
            return Experiment(candidate)
    raise RsilabError(f"no {CONFIG_FILE} in {start} or above: run `rsilab init DIR` first, or pass --dir")


def _person(name: str | None) -> str:
    return f"person:{name or getpass.getuser()}"


@app.command()
def init(
    directory: Path,
    template: Annotated[str, typer.Option("--template", "-t", help="Starting self.")] = "agent",
) -> None:
    """Create an experiment: rsilab.toml, self/ (a git repository) and .rsilab/."""
    from rsilab.experiment import Experiment

    experiment = Experiment.init(directory, template)
    console.print(f"created experiment [bold]{directory}[/bold] from template [bold]{template}[/bold]; v1 is deployed")
    console.print(f"next: [cyan]cd {directory} && rsilab run --rounds 1[/cyan]")
    del experiment


@app.command()
def run(
    rounds: Annotated[int, typer.Option("--rounds", "-n", help="Total rounds the experiment should have completed.")] = 1,
    directory: DirOption = None,
) -> None:
    """Run rounds of assess → propose → verify → review → deploy; resumes an unfinished round."""
    experiment = _experiment(directory)
    results = experiment.run(rounds, report=views.stage_printer(console))
    views.print_log(console, experiment.rows())
    if results and results[-1].outcome == "awaiting-review":
        raise typer.Exit(3)


@app.command()
def log(directory: DirOption = None, as_json: Annotated[bool, typer.Option("--json")] = False) -> None:
    """Versions with their state and key metrics."""
    rows = _experiment(directory).rows()
    if as_json:
        print(json.dumps([views.row_dict(r) for r in rows.values()], indent=2))
    else:
        views.print_log(console, rows)


@app.command()
def show(version: str, directory: DirOption = None) -> None:
    """One version: its proposal, verdict and decision."""
    experiment = _experiment(directory)
    views.print_version(console, experiment, version)


@app.command()
def diff(old: str, new: str, directory: DirOption = None) -> None:
    """The code change from version OLD to version NEW."""
    experiment = _experiment(directory)
    views.print_diff(console, experiment.versions.diff(experiment.commit_of(old), experiment.commit_of(new)))


@app.command()
def rollback(
    version: str,
    reason: Annotated[str, typer.Option("--reason", "-m")] = "rolled back by hand",
    by: Annotated[Optional[str], typer.Option(help="Who decides (default: your user name).")] = None,
    directory: DirOption = None,
) -> None:
    """Deploy an earlier version again (recorded as an event; history is never rewritten)."""
    experiment = _experiment(directory)
    experiment.rollback(version, _person(by), reason)
    console.print(f"{version} is deployed again")


@app.command()
def review(
    version: Annotated[Optional[str], typer.Argument(help="A pending version; omit to list them.")] = None,
    approve: Annotated[bool, typer.Option("--approve", help="Approve without asking.")] = False,
    reject: Annotated[bool, typer.Option("--reject", help="Reject without asking.")] = False,
    comment: Annotated[str, typer.Option("--comment", "-m", help="Fed to the next proposal.")] = "",
    by: Annotated[Optional[str], typer.Option(help="Who decides (default: your user name).")] = None,
    directory: DirOption = None,
) -> None:
    """Review pending proposals: diff, rationale, gate evidence and metric deltas; approve or reject."""
    if approve and reject:
        raise RsilabError("choose one of --approve and --reject")
    experiment = _experiment(directory)
    pending = [p["version"] for p in experiment.pending_reviews()]
    if version is None:
        if not pending:
            console.print("nothing awaits review")
            return
        for item in pending:
            views.print_version(console, experiment, item)
        console.print(f"decide with [cyan]rsilab review {pending[0]} --approve|--reject -m 'why'[/cyan]")
        return
    views.print_version(console, experiment, version)
    if not (approve or reject):
        if not sys.stdin.isatty():
            raise RsilabError("no terminal to ask on: pass --approve or --reject")
        approve = typer.confirm(f"approve {version}?", default=False)
        comment = comment or typer.prompt("comment for the next proposal", default="", show_default=False)
    result = experiment.decide(version, approve, _person(by), comment, report=views.stage_printer(console))
    console.print(f"{version}: {result.outcome}")


@app.command()
def demo(
    directory: Annotated[Path, typer.Argument(help="Where to create the demo experiment.")] = Path("demo-experiment"),
    rounds: Annotated[Optional[int], typer.Option(help="Rounds to run (default 3; 10 for the transformer).")] = None,
    template: Annotated[str, typer.Option("--template", "-t", help="agent, or transformer (needs the `weights` extra).")] = "agent",
) -> None:
    """Create a demo experiment and run rounds on it, offline, printing what each stage decides."""
    from rsilab.experiment import Experiment

    if template == "transformer":  # the weights loop: the frontier moves round by round
        from rsilab.weights.demo import run_transformer_demo

        console.rule("[bold]rsilab demo: a transformer makes its own training data where it is weak")
        run_transformer_demo(directory, rounds or 10, console)
        return
    rounds = rounds or 3
    if directory.exists():
        if not (directory / ".rsilab").is_dir():
            raise RsilabError(f"{directory} exists and is not an experiment; choose another directory")
        shutil.rmtree(directory)
    config_text = (resources.files("rsilab") / "demo" / "agent.toml").read_text()
    experiment = Experiment.init(directory, "agent", config_text=config_text)
    console.rule("[bold]rsilab demo: an agent that improves its own code")
    experiment.run(rounds, report=views.stage_printer(console))
    console.rule("[bold]versions")
    views.print_log(console, experiment.rows())
    report = experiment.ledger.verify()
    console.print(f"ledger: {report.checked} events, {'verified' if report.ok else 'BROKEN: ' + report.problem}")
    console.print(f"explore: [cyan]rsilab log -C {directory}[/cyan], [cyan]rsilab show v4 -C {directory}[/cyan]")


@ledger_app.command("verify")
def ledger_verify(directory: DirOption = None) -> None:
    """Check the hash chain; name the first bad event."""
    report = _experiment(directory).ledger.verify()
    if report.ok:
        console.print(f"[green]ledger ok[/green]: {report.checked} events, chain intact")
        return
    console.print(f"[red]ledger broken[/red] at event {report.first_bad_seq}: {report.problem}")
    raise typer.Exit(1)


@ledger_app.command("show")
def ledger_show(
    kind: Annotated[Optional[str], typer.Option(help="Only events of this kind.")] = None,
    directory: DirOption = None,
) -> None:
    """The events, oldest first."""
    views.print_events(console, _experiment(directory).ledger.events(kind))


@config_app.command("check")
def config_check(directory: DirOption = None) -> None:
    """Validate rsilab.toml and say what is wrong."""
    from rsilab.config import CONFIG_FILE, load_config

    path = (directory or Path.cwd()) / CONFIG_FILE
    config = load_config(path)
    console.print(f"[green]{path} is valid[/green]: template {config.experiment.template}, "
                  f"provider {config.llm.provider}, autonomy {config.review.autonomy}")


if __name__ == "__main__":
    main()
