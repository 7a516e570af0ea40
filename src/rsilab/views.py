"""Rich renderings of records for the command line."""

from __future__ import annotations

import json
from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager
from dataclasses import asdict
from typing import TYPE_CHECKING, Any

from rich import box
from rich.console import Console
from rich.panel import Panel
from rich.progress import (
    BarColumn,
    MofNCompleteColumn,
    Progress,
    SpinnerColumn,
    TextColumn,
    TimeElapsedColumn,
)
from rich.syntax import Syntax
from rich.table import Table
from rich.text import Text
from rich.tree import Tree

from rsilab.intervals import wilson
from rsilab.records import Event, Proposal, Verdict
from rsilab.search.archive import Archive, Entry
from rsilab.search.funnel import STEPS, RoundFunnel
from rsilab.shown import line, shown, visible
from rsilab.store.history import VersionRow

if TYPE_CHECKING:
    from rsilab.experiment import Experiment

STATE_STYLE = {
    "deployed": "bold green", "approved": "green", "verified": "cyan",
    "rejected": "red", "retired": "dim", "proposed": "yellow",
}
STAGE_STYLE = {"round": "bold magenta", "assess": "blue", "propose": "yellow", "verify": "cyan",
               "review": "green", "deploy": "bold green", "canary": "bold blue", "recover": "red",
               "budget": "bold red"}


def stage_printer(console: Console):  # noqa: ANN201
    """Progress lines; a message may quote the self (a rationale, a gate's stderr), so it is shown, never parsed."""

    def report(stage: str, message: str) -> None:
        style = STAGE_STYLE.get(stage, "white")
        if stage == "round":
            console.rule(line(message, style=style))
        else:
            console.print(Text.assemble(line(f"{stage:>8}", style=style), "  ", shown(message)), highlight=False)

    return report


@contextmanager
def task_progress(console: Console, description: str) -> Iterator[Callable[[int, int], None]]:
    """A progress bar fed with (done, total); it pulses until the total is known (tasks being drawn)."""
    columns = (SpinnerColumn(), TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn())
    with Progress(*columns, console=console, transient=True) as progress:
        bar = progress.add_task(f"{description}: drawing tasks", total=None)

        def update(done: int, total: int) -> None:
            progress.update(bar, description=description, completed=done, total=total)

        yield update
        if progress.tasks[0].total is not None:
            progress.update(bar, completed=progress.tasks[0].total)  # the run is over, whatever the self counted


def row_dict(row: VersionRow) -> dict[str, Any]:
    data = asdict(row)
    data["state"] = str(row.state)
    return data


def print_log(console: Console, rows: dict[str, VersionRow]) -> None:
    """The versions table, then one line per version saying why it ended as it did."""
    table = Table(title="versions", box=box.SIMPLE_HEAD, pad_edge=False)
    for column in ("version", "from", "round", "state", "held-out [95% CI]", "tokens", "decided by"):
        table.add_column(column, no_wrap=True, min_width=len(column))
    notes = []
    for row in rows.values():
        acc = row.heldout.get("accuracy")
        shown_acc = f"{acc:.0%} [{row.heldout['low'] * 100:.0f}–{row.heldout['high']:.0%}]" if acc is not None else "–"
        style = STATE_STYLE.get(str(row.state), "")
        table.add_row(
            line(row.id), line(row.parent or "–"), str(row.round), line(row.state, style=style), shown_acc,
            line(row.heldout.get("tokens", "–")), line(row.decided_by or "–"),
        )
        why = f"{row.failed_gate}: {row.verdict_summary}" if row.failed_gate else (row.comment or row.rationale)
        if why:
            notes.append(Text.assemble(line(row.id, style=style), " ", line(" ".join(why.split()))))
    console.print(table)
    for note in notes:
        console.print(note, highlight=False)


def print_archive(console: Console, archive: Archive, deployed: str | None) -> None:
    """The archive as a tree: each version under its parent, with the gate it reached and its held-out score."""
    tree = Tree(Text("archive", style="bold"), guide_style="dim")
    children = {v: [e for e in archive.entries.values() if e.parent == v] for v in archive.entries}
    todo = [(tree, e) for e in archive.entries.values() if e.parent not in archive.entries]
    while todo:
        branch, entry = todo.pop(0)
        node = branch.add(archive_line(entry, entry.version == deployed))
        todo.extend((node, child) for child in children[entry.version])
    console.print(tree)


def print_funnel(console: Console, rows: Iterable[RoundFunnel]) -> None:
    """Candidates per round by how far they got, then each round's first failed gates."""
    table = Table(title="candidates per round, by the furthest step reached", box=box.SIMPLE_HEAD, pad_edge=False)
    for column in ("round", *STEPS):
        table.add_column(column, justify="right", no_wrap=True, min_width=len(column))
    notes = []
    for row in rows:
        table.add_row(str(row.round), *(str(row.counts[s]) for s in STEPS))
        if row.failures:
            stopped = ", ".join(f"{g} ×{n}" for g, n in sorted(row.failures.items()))
            notes.append(f"round {row.round} stopped at: {stopped}" + (f"; {row.no_op} no-op edit(s)" if row.no_op else ""))
    console.print(table)
    for note in notes:
        console.print(Text(note))


def archive_line(entry: Entry, deployed_now: bool) -> Text:
    """One version of the archive as plain text (no markup: nothing here is read as Rich syntax)."""
    line = Text(entry.version, style="bold green" if deployed_now else "bold")
    if entry.candidate:
        line.append(f"  candidate {entry.candidate[0]}/{entry.candidate[1]} of round {entry.round}", style="dim")
    reached = "deployed now" if deployed_now else "was deployed" if entry.deployed else entry.reached
    failed = reached not in ("deployed now", "was deployed", "initial", "passed", "proposed")
    line.append(f"  {reached}", style="green" if "deployed" in reached else "red" if failed else "")
    if entry.n:
        rate = wilson(entry.successes, entry.n)
        line.append(f"  held-out {entry.successes}/{entry.n} = {entry.accuracy:.0%} [{rate.low:.0%}, {rate.high:.0%}]")
    return line


def print_version(console: Console, experiment: Experiment, version: str) -> None:
    rows = experiment.rows()
    row = rows.get(version)
    if row is None:
        console.print(f"[red]no version {version}[/red]: see `rsilab log`")
        return
    body = Text.assemble(
        line(row.id, style="bold"), "  state ", line(row.state, style=STATE_STYLE.get(str(row.state), "")),
        "  parent ", line(row.parent or "–"), f"  round {row.round}\ncommit ", line(row.commit or "(edits did not apply)"),
        "\n\n", shown(row.rationale or ""),
    )
    console.print(Panel(body, title="version"))
    if row.proposal_artifact:
        proposal = experiment.artifacts.get_record(row.proposal_artifact, Proposal)
        for problem in proposal.errors:
            console.print(Text.assemble(("proposal problem:", "red"), " ", shown(problem)))
        paths = list(dict.fromkeys(edit.path for edit in proposal.edits))  # as the self wrote them, made visible
        if paths:
            console.print(Text.assemble(("edits: ", "dim"), line(", ".join(paths))))
    if row.commit and row.parent:
        print_diff(console, experiment.versions.diff(experiment.commit_of(row.parent), row.commit))
    if row.verdict_artifact:
        print_verdict(console, experiment.artifacts.get_record(row.verdict_artifact, Verdict))
    if row.decided_by:
        console.print(Text.assemble("decision by ", line(row.decided_by, style="bold"), ": ", shown(row.comment or "")))


def print_verdict(console: Console, verdict: Verdict) -> None:
    table = Table(title=Text.assemble("gates for ", line(verdict.version)))
    for column in ("gate", "result", "summary", "evidence"):
        table.add_column(column, overflow="fold")
    for gate in verdict.gates:
        result = Text("pass", style="green") if gate.passed else Text("FAIL", style="red")
        if gate.needs_person:
            result.append(" (needs a person)", style="yellow")
        evidence = "" if gate.name == "benchmark" else _compact(gate.evidence)  # benchmark: see the deltas table
        # A gate's summary and evidence quote the self (its stderr, its file names): shown, never parsed.
        table.add_row(line(gate.name), result, shown(gate.summary), shown(evidence))
    console.print(table)
    bench = next((g for g in verdict.gates if g.name == "benchmark"), None)
    if bench is not None:
        print_deltas(console, bench.evidence)
    if verdict.violations:
        console.print(Text.assemble(("sandbox violations:", "red"), " ", line(", ".join(verdict.violations))))


def _compact(evidence: dict[str, Any], limit: int = 240) -> str:
    text = "; ".join(f"{key}={json.dumps(value)}" for key, value in evidence.items() if value not in ([], {}, None, ""))
    return text if len(text) <= limit else text[: limit - 1] + "…"


def print_deltas(console: Console, evidence: dict[str, Any]) -> None:
    """Candidate minus parent on the same held-out tasks, with 95 % paired-bootstrap intervals."""
    table = Table(title=f"metric deltas on {evidence.get('n', '?')} paired held-out tasks", box=box.SIMPLE_HEAD)
    for column in ("metric", "parent", "candidate", "delta [95% CI]"):
        table.add_column(column, no_wrap=True)
    acc = evidence.get("accuracy_delta")
    if acc:
        table.add_row("accuracy", f"{evidence['parent_accuracy']:.1%}", f"{evidence['candidate_accuracy']:.1%}",
                      f"{acc[0]:+.1%} [{acc[1]:+.1%}, {acc[2]:+.1%}]")
    tok = evidence.get("tokens_per_task_delta")
    if tok:
        table.add_row("tokens", str(evidence["tokens_parent"]), str(evidence["tokens_candidate"]),
                      f"{tok[0]:+.1f} a task [{tok[1]:+.1f}, {tok[2]:+.1f}]")
    cpu = evidence.get("cpu_seconds")
    if cpu:
        table.add_row("cpu seconds", f"{cpu[0]:.2f}", f"{cpu[1]:.2f}", f"{cpu[1] - cpu[0]:+.2f}")
    console.print(table)
    if "p_better" in evidence:
        console.print(f"McNemar: candidate alone right on {evidence['candidate_only']}, parent alone on "
                      f"{evidence['parent_only']}; one-sided p = {evidence['p_better']:.3g}", highlight=False)


def print_assessment(console: Console, report: dict[str, Any], weakness: dict[str, Any], digest: str) -> None:
    """Accuracy and cost per family and difficulty, the totals, then the weakest groups with an example each."""
    summary, cost = report["summary"], report["efficiency"]
    table = Table(title=f"{report['version']} on {summary['n']} {report['split']} tasks",
                  caption="steps*: the self's own count, shown but never decisive; calls and tokens: counted by the broker")
    for column in ("family", "difficulty", "accuracy (95% CI)", "n", "calls", "tokens", "steps*"):
        table.add_column(column, no_wrap=True, justify="left" if column == "family" else "right")
    for g in report["groups"]:
        style = "green" if g["accuracy"] >= 0.9 else "yellow" if g["accuracy"] >= 0.5 else "red"
        steps = "–" if g["self_reported_steps"] is None else f"{g['self_reported_steps']:.1f}"
        table.add_row(g["family"], str(g["difficulty"]), f"[{style}]{g['accuracy']:.0%}[/{style}] ({g['low']:.0%}–{g['high']:.0%})",
                      str(g["n"]), str(g["calls"]), str(g["tokens"]), steps)
    table.add_section()
    table.add_row("[bold]all[/bold]", "", f"[bold]{summary['accuracy']:.0%}[/bold] ({summary['low']:.0%}–{summary['high']:.0%})",
                  str(summary["n"]), str(summary["calls"]), str(summary["tokens"]), "")
    console.print(table)
    console.print(f"cost (trusted): {summary['calls']} calls, {summary['tokens']} tokens, {summary['wall_seconds']:.2f} s wall, "
                  f"{summary['cpu_seconds']:.2f} s CPU — {cost['wall_seconds_per_task'] * 1000:.1f} ms and "
                  f"{cost['tokens_per_task']:g} tokens per task", highlight=False)
    if report["run_error"]:
        console.print(shown(f"the self {report['run_error']}", style="red"))
    weak = [g for g in weakness["groups"] if g["failures"]][:3]
    for group in weak:
        console.print(f"[bold red]weak:[/bold red] {group['family']} difficulty {group['difficulty']}: "
                      f"{group['failures']} of {group['n']} wrong (sure shortfall {group['shortfall']:.0%})", highlight=False)
        example = next((f for f in weakness["failures"] if (f["family"], f["difficulty"]) == (group["family"], group["difficulty"])), None)
        if example:
            question = " ".join(example["question"].split())
            console.print(line(f"    {question[:160]}{'…' if len(question) > 160 else ''}"), highlight=False)
            console.print(Text.assemble("    expected ", line(example["expected"], style="green"), ", answered ",
                                        line(example["answer"], style="red"), "; trace: ",
                                        line(json.dumps(example["trace"])[:200])), highlight=False)
    console.print(f"stored: artifact {digest[:12]}… and a ledger event (assessment.recorded)")


def print_diff(console: Console, patch: str) -> None:
    """A patch of self-written files: controls made visible first, then coloured (Syntax reads no markup)."""
    console.print(Syntax(visible(patch) or "(no change)", "diff", theme="ansi_dark", word_wrap=True))


def print_events(console: Console, events: Iterable[Event]) -> None:
    table = Table(title="ledger")
    for column in ("seq", "kind", "payload", "hash"):
        table.add_column(column, overflow="fold")
    for event in events:
        table.add_row(str(event.seq), line(event.kind), line(json.dumps(event.payload)[:160]), event.hash[:12])
    console.print(table)


def print_answer(console: Console, answer: Any) -> None:
    """`rsilab llm ask`: the model's text, then what it cost."""
    c = answer.completion
    console.print(shown(c.text), highlight=False, soft_wrap=True)
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
        table.add_row(str(i + 1), line(brief(a)), line(brief(b)), Text("same", "green") if a == b else Text("differs", "red"))
    console.print(table)
    verdict = "[green]identical decisions[/green]" if report.identical else "[red]the decisions differ[/red]"
    console.print(f"{verdict}; replay in {report.replay}")
