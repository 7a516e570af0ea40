"""`rsilab export`: assessments as Inspect logs, rounds into MLflow (extras `inspect`, `mlflow`)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated, Optional

import typer

from rsilab.cli_common import DirOption

export_app = typer.Typer(help="Copy what the ledger holds into other tools (Inspect's log viewer, MLflow).",
                         no_args_is_help=True)


@export_app.command("inspect")
def export_inspect(
    versions: Annotated[Optional[list[str]], typer.Argument(help="Versions (v1 v4 ...); default: every version.")] = None,
    round: Annotated[Optional[int], typer.Option("--round", "-r", help="Only this round's assessments.")] = None,
    out: Annotated[Optional[Path], typer.Option("--out", "-o", help="Log directory (default: inspect-logs/ in the experiment).")] = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print the written paths as JSON.")] = False,
    directory: DirOption = None,
) -> None:
    """One Inspect log per assessment (dev, held-out, canary); open them with `inspect view --log-dir DIR`."""
    from rsilab.cli_common import console, find_experiment as _experiment
    from rsilab.interop.inspect_log import export_inspect as export
    from rsilab.shown import line

    experiment = _experiment(directory)
    target = (out or experiment.root / "inspect-logs").resolve()
    paths = export(experiment, target, versions or (), round)
    if as_json:
        print(json.dumps([str(p) for p in paths]))
        return
    for path in paths:
        console.print(line(path.name))
    console.print(f"{len(paths)} Inspect log(s) in {target}")
    console.print(line(f"view them: inspect view --log-dir {target}", style="cyan"))


@export_app.command("mlflow")
def export_mlflow(
    uri: Annotated[Optional[str], typer.Option("--uri", help="Tracking URI (default: [tracking] mlflow in rsilab.toml).")] = None,
    directory: DirOption = None,
) -> None:
    """Log every completed round the MLflow store lacks (rounds already there are skipped)."""
    from rsilab.cli_common import console, find_experiment as _experiment
    from rsilab.interop.mlflow_sink import redact, replay
    from rsilab.views import stage_printer

    experiment = _experiment(directory)
    if uri and uri.startswith("file:") and not uri.startswith("file:/"):
        uri = (Path.cwd() / uri.removeprefix("file:")).resolve().as_uri()
    logged, present = replay(experiment, uri, stage_printer(console))
    console.print(f"{len(logged)} round(s) logged, {len(present)} already in {redact(uri or experiment.config.tracking.mlflow or '')}")
