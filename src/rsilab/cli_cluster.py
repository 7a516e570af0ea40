"""`rsilab cluster ...`: the Ray cluster an experiment's rounds run on (registered from cli.py)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated, Optional

import typer
from rich.console import Console
from rich.text import Text

from rsilab.shown import line

cluster_app = typer.Typer(help="Scale-out on a Ray cluster (the `cluster` extra).", no_args_is_help=True)


@cluster_app.command("check")
def check(
    directory: Annotated[Optional[Path], typer.Option("--dir", "-C", help="Experiment directory (default: found from here up).")] = None,
    address: Annotated[Optional[str], typer.Option(help="A cluster other than cluster.address (\"auto\", host:port, ray://host:10001).")] = None,
    as_json: Annotated[bool, typer.Option("--json", help="The nodes as JSON.")] = False,
) -> None:
    """The cluster's nodes, CPUs and bubblewrap; exit 1 where a node cannot run the configured sandbox."""
    from rsilab.cluster.check import node_reports, refusal
    from rsilab.cluster.executor import connected
    from rsilab.errors import ConfigError

    config = _config(directory)
    cluster = config.cluster
    if address is not None:
        cluster = cluster.model_copy(update={"backend": "ray", "address": address})
    if cluster.backend != "ray":
        raise ConfigError('cluster.backend is "local" in rsilab.toml: nothing to check — set [cluster] backend = "ray" '
                          "(and address), or pass --address")
    backend = config.sandbox.backend
    with connected(cluster) as ray:
        reports = node_reports(ray, backend)
    why = refusal(reports, backend)
    if as_json:
        print(json.dumps({"sandbox": backend, "nodes": reports, "refusal": why}, indent=2))
    else:
        _show(reports, backend)
    if why:
        Console(stderr=True).print(Text.assemble(("error:", "red"), " ", line(why)))
        raise typer.Exit(1)


def _show(reports: list[dict], backend: str) -> None:
    """One line per node (a table would wrap its ids on a narrow terminal)."""
    console = Console()
    cpus = sum(r["ray_cpus"] for r in reports)
    console.print(f"Ray cluster: {len(reports)} node(s), {cpus:g} CPU(s) for Ray; sandbox.backend = {backend!r}")
    for r in reports:
        verdict = Text("ok", "green") if not r.get("problem") else line(r["problem"], style="red")
        console.print(Text.assemble(
            "  ", line(r["node"][:12], style="bold"), "  head   " if r.get("head") else "  worker ",
            line(f"{r.get('address')}  host {r.get('host', '?')}  CPUs {r['ray_cpus']:g} of {r.get('cpus', '?')}  "
                 f"python {r.get('python', '?')}  bwrap {r.get('bwrap') or 'missing'}  sandbox: "), verdict), soft_wrap=True)


def _config(directory: Path | None):  # noqa: ANN202 - lazy import keeps --help fast
    from rsilab.config import CONFIG_FILE, load_config
    from rsilab.errors import RsilabError

    start = (directory or Path.cwd()).resolve()
    for candidate in (start, *start.parents):
        if (candidate / CONFIG_FILE).is_file():
            return load_config(candidate / CONFIG_FILE)
    raise RsilabError(f"no {CONFIG_FILE} in {start} or above: run `rsilab init DIR` first, or pass --dir")
