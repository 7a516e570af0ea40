"""The transformer demo: a model pushes its own addition frontier, round by round, on this machine."""

from __future__ import annotations

import shutil
import time
from dataclasses import dataclass
from pathlib import Path

from rich.console import Console
from rich.table import Table

from rsilab.errors import RsilabError
from rsilab.experiment import Experiment
from rsilab.views import stage_printer


@dataclass(frozen=True)
class FrontierRow:
    round: int  # 0: the pretrained v1
    version: str  # deployed after the round
    target: int | None
    frontier: int
    found: bool  # False: every assessed length passed, so `frontier` is a lower bound
    outcome: str
    seconds: float  # wall time since the run started, at the end of this round

    @property
    def shown(self) -> str:
        return str(self.frontier) if self.found else f"≥{self.frontier}"


def run_transformer_demo(directory: Path, rounds: int, console: Console, config_text: str | None = None) -> list[FrontierRow]:
    """Create a transformer experiment in `directory` (replacing an earlier demo) and run `rounds` rounds."""
    if directory.exists():
        if not (directory / ".rsilab").is_dir():
            raise RsilabError(f"{directory} exists and is not an experiment; choose another directory")
        shutil.rmtree(directory)
    experiment = Experiment.init(directory, "transformer", config_text=config_text)
    report = stage_printer(console)
    started = time.monotonic()
    rows: list[FrontierRow] = []

    def on_stage(stage: str, message: str) -> None:
        report(stage, message)
        completed = experiment.events("round.completed")
        if stage == "round" and completed and (not rows or rows[-1].round < completed[-1].payload["round"]):
            p = completed[-1].payload
            version = experiment.deployed()[0]
            rows.append(FrontierRow(p["round"], version, p["target"], p["frontier"], p.get("frontier_found", True),
                                    p["outcome"], time.monotonic() - started))
            console.print(f"[bold]round {p['round']}: frontier {rows[-1].shown} digits[/bold] "
                          f"({version} deployed, {rows[-1].seconds:.0f} s so far)")

    experiment.run(rounds, report=on_stage)
    print_frontier(console, rows, time.monotonic() - started)
    return rows


def print_frontier(console: Console, rows: list[FrontierRow], wall: float) -> None:
    table = Table(title="frontier per round (shortest length below the threshold, fresh held-out problems)")
    for column in ("round", "target", "frontier after", "outcome", "deployed", "wall s"):
        table.add_column(column)
    for row in rows:
        table.add_row(str(row.round), str(row.target), row.shown, row.outcome, row.version, f"{row.seconds:.0f}")
    console.print(table)
    # Wall time only: the sandboxed self's CPU is spent in bwrap's pid namespace, which the
    # harness never reaps, so its own rusage of children would say 0 s.
    console.print(f"wall time {wall:.0f} s")
