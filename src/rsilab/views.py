"""Rich renderings of records for the command line."""

from __future__ import annotations

import json
from collections.abc import Iterable
from dataclasses import asdict
from typing import TYPE_CHECKING, Any

from rich.console import Console
from rich.panel import Panel
from rich.syntax import Syntax
from rich.table import Table

from rsilab.records import Event, Proposal, Verdict
from rsilab.store.history import VersionRow

if TYPE_CHECKING:
    from rsilab.experiment import Experiment

STATE_STYLE = {
    "deployed": "bold green", "approved": "green", "verified": "cyan",
    "rejected": "red", "retired": "dim", "proposed": "yellow",
}
STAGE_STYLE = {"round": "bold magenta", "assess": "blue", "propose": "yellow", "verify": "cyan",
               "review": "green", "deploy": "bold green", "recover": "red", "budget": "bold red"}


def stage_printer(console: Console):  # noqa: ANN201
    def report(stage: str, message: str) -> None:
        style = STAGE_STYLE.get(stage, "white")
        if stage == "round":
            console.rule(f"[{style}]{message}")
        else:
            console.print(f"[{style}]{stage:>8}[/{style}]  {message}", highlight=False)

    return report


def row_dict(row: VersionRow) -> dict[str, Any]:
    data = asdict(row)
    data["state"] = str(row.state)
    return data


def print_log(console: Console, rows: dict[str, VersionRow]) -> None:
    table = Table(title="versions", show_lines=False)
    for column in ("version", "parent", "round", "state", "held-out acc. (95% CI)", "tokens", "decided by"):
        table.add_column(column, no_wrap=True)
    table.add_column("why", overflow="ellipsis", no_wrap=True, ratio=1)
    for row in rows.values():
        acc = row.heldout.get("accuracy")
        shown_acc = f"{acc:.0%} ({row.heldout['low']:.0%}–{row.heldout['high']:.0%})" if acc is not None else "–"
        why = row.verdict_summary if row.failed_gate else (row.comment or row.rationale)
        if row.failed_gate:
            why = f"{row.failed_gate}: {why}"
        style = STATE_STYLE.get(str(row.state), "")
        table.add_row(
            row.id, row.parent or "–", str(row.round), f"[{style}]{row.state}[/{style}]", shown_acc,
            str(row.heldout.get("tokens", "–")), row.decided_by or "–", " ".join((why or "").split()),
        )
    console.print(table)


def print_version(console: Console, experiment: Experiment, version: str) -> None:
    rows = experiment.rows()
    row = rows.get(version)
    if row is None:
        console.print(f"[red]no version {version}[/red]: see `rsilab log`")
        return
    head = f"[bold]{row.id}[/bold]  state [{STATE_STYLE.get(str(row.state), '')}]{row.state}[/]  parent {row.parent or '–'}  round {row.round}"
    console.print(Panel(f"{head}\ncommit {row.commit or '(edits did not apply)'}\n\n{row.rationale or ''}", title="version"))
    if row.proposal_artifact:
        proposal = experiment.artifacts.get_record(row.proposal_artifact, Proposal)
        for problem in proposal.errors:
            console.print(f"[red]proposal problem:[/red] {problem}")
    if row.commit and row.parent:
        print_diff(console, experiment.versions.diff(experiment.commit_of(row.parent), row.commit))
    if row.verdict_artifact:
        print_verdict(console, experiment.artifacts.get_record(row.verdict_artifact, Verdict))
    if row.decided_by:
        console.print(f"decision by [bold]{row.decided_by}[/bold]: {row.comment}")


def print_verdict(console: Console, verdict: Verdict) -> None:
    table = Table(title=f"gates for {verdict.version}")
    for column in ("gate", "result", "summary", "evidence"):
        table.add_column(column, overflow="fold")
    for gate in verdict.gates:
        result = "[green]pass[/green]" if gate.passed else "[red]FAIL[/red]"
        if gate.needs_person:
            result += " [yellow](needs a person)[/yellow]"
        table.add_row(gate.name, result, gate.summary, json.dumps(gate.evidence)[:300])
    console.print(table)
    if verdict.violations:
        console.print(f"[red]sandbox violations:[/red] {', '.join(verdict.violations)}")


def print_diff(console: Console, patch: str) -> None:
    console.print(Syntax(patch or "(no change)", "diff", theme="ansi_dark", word_wrap=True))


def print_events(console: Console, events: Iterable[Event]) -> None:
    table = Table(title="ledger")
    for column in ("seq", "kind", "payload", "hash"):
        table.add_column(column, overflow="fold")
    for event in events:
        table.add_row(str(event.seq), event.kind, json.dumps(event.payload)[:160], event.hash[:12])
    console.print(table)


def print_answer(console: Console, answer: Any) -> None:
    """`rsilab llm ask`: the model's text, then what it cost."""
    c = answer.completion
    console.print(c.text, highlight=False, markup=False, soft_wrap=True)
    console.print(
        f"[dim]{answer.model} · {c.tokens_in} tokens in, {c.tokens_out} out ({c.finish_reason}) · "
        f"{answer.seconds:.2f} s, {answer.tokens_per_second:.1f} tokens/s · ${answer.dollars:.6f}[/dim]",
        highlight=False, soft_wrap=True,
    )


def print_replay(console: Console, report: Any) -> None:
    """`rsilab replay`: each round's decision in the original and in the replay."""
    table = Table(title=f"replay of {report.source}")
    for column in ("round", "original", "replay", ""):
        table.add_column(column)

    def brief(entry: dict[str, Any] | None) -> str:
        if entry is None:
            return "—"
        failed = next((name for name, ok in entry.get("gates", []) if not ok), None)
        return f"{entry['version']} {entry.get('outcome', 'open')}" + (f" at {failed}" if failed else "")

    for i in range(max(len(report.original), len(report.replayed))):
        a = report.original[i] if i < len(report.original) else None
        b = report.replayed[i] if i < len(report.replayed) else None
        table.add_row(str(i + 1), brief(a), brief(b), "[green]same[/green]" if a == b else "[red]differs[/red]")
    console.print(table)
    verdict = "[green]identical decisions[/green]" if report.identical else "[red]the decisions differ[/red]"
    console.print(f"{verdict}; replay in {report.replay}")
