"""The assessment stage: the self answers questions in the sandbox; the harness scores.

Targets stay here: the self receives `Task.public()` only, under an id that says
nothing (t0, t1, ...), so no seed or generator state reaches it either. Efficiency
figures that matter come from trusted accounting (the broker's usage, the sandbox's timers).
"""

from __future__ import annotations

import json
from collections.abc import Callable, Sequence
from typing import Any

from rsilab.assess.scoring import score
from rsilab.records import Assessment, CallCost, Task, TaskOutcome, Usage, VersionId
from rsilab.sandbox.selfrun import SelfRun

# Runs the self's `solve` on a JSON payload; the experiment binds sandbox, broker and tree.
SolveRunner = Callable[[bytes], SelfRun]


def assess(version: VersionId, tasks: Sequence[Task], split: str, seed: int, run_solve: SolveRunner) -> Assessment:
    public_ids = [f"t{i}" for i in range(len(tasks))]
    payload = json.dumps({"tasks": [{**t.public(), "id": pid} for t, pid in zip(tasks, public_ids)]}).encode()
    run = run_solve(payload)
    answers, parse_problem = _parse_answers(run.output)
    per_task = _usage_by_task(run.broker_calls)
    per_call = _calls_by_task(run.broker_calls)
    outcomes = []
    for task, pid in zip(tasks, public_ids):
        given = answers.get(pid, {})
        answer = given.get("answer")
        answer = None if answer is None else str(answer)[:1000]
        outcomes.append(
            TaskOutcome(
                task_id=task.id,
                family=task.family,
                difficulty=task.difficulty,
                question=task.question,
                expected=task.answer,
                answer=answer,
                correct=score(answer, task),
                usage=per_task.get(pid, Usage()),
                calls=per_call.get(pid, ()),
                trace=_bounded_trace(given.get("trace")),
                self_reported_steps=_int_or_none(given.get("steps")),
                error=None if pid in answers else "no answer",
            )
        )
    return Assessment(
        version=version,
        split=split,
        seed=seed,
        outcomes=tuple(outcomes),
        usage=run.usage,
        wall_seconds=run.result.wall_seconds,
        cpu_seconds=run.result.cpu_seconds,
        run_error=run.problem or parse_problem,
    )


def _parse_answers(output: bytes | None) -> tuple[dict[str, dict[str, Any]], str | None]:
    """The self's output is untrusted: accept only the documented shape."""
    if output is None:
        return {}, None
    try:
        data = json.loads(output)
        items = data["answers"]
    except (ValueError, KeyError, TypeError):
        return {}, "output is not JSON of the form {\"answers\": [...]}"
    answers: dict[str, dict[str, Any]] = {}
    for item in items if isinstance(items, list) else []:
        if isinstance(item, dict) and isinstance(item.get("id"), str):
            answers.setdefault(item["id"], item)
    return answers, None


def _usage_by_task(calls: Sequence[dict[str, object]]) -> dict[str, Usage]:
    totals: dict[str, Usage] = {}
    for call in calls:
        task = call.get("task")
        if isinstance(task, str) and not call.get("error"):  # refused calls cost nothing
            one = Usage(calls=1, tokens_in=int(call.get("tokens_in") or 0), tokens_out=int(call.get("tokens_out") or 0))
            totals[task] = totals.get(task, Usage()) + one
    return totals


def _calls_by_task(calls: Sequence[dict[str, object]]) -> dict[str, tuple[CallCost, ...]]:
    found: dict[str, list[CallCost]] = {}
    for call in calls:
        task = call.get("task")
        if isinstance(task, str) and not call.get("error"):
            found.setdefault(task, []).append(CallCost(tokens_in=int(call.get("tokens_in") or 0),
                                                       tokens_out=int(call.get("tokens_out") or 0),
                                                       seconds=round(float(call.get("seconds") or 0.0), 3)))
    return {task: tuple(costs) for task, costs in found.items()}


def _bounded_trace(trace: object) -> list[Any]:
    if not isinstance(trace, list):
        return []
    return [str(step)[:2000] if not isinstance(step, (dict, str)) else step for step in trace[:50]]


def _int_or_none(value: object) -> int | None:
    return value if isinstance(value, int) and not isinstance(value, bool) else None


def merge(parts: Sequence[Assessment]) -> Assessment:
    """One assessment from several runs of the same version on disjoint tasks (the benchmark's stages)."""
    first = parts[0]
    usage = Usage()
    for part in parts:
        usage = usage + part.usage
    errors = [p.run_error for p in parts if p.run_error]
    return Assessment(
        version=first.version,
        split=first.split,
        seed=first.seed,
        outcomes=tuple(o for p in parts for o in p.outcomes),
        usage=usage,
        wall_seconds=sum(p.wall_seconds for p in parts),
        cpu_seconds=sum(p.cpu_seconds for p in parts),
        run_error="; ".join(errors) or None,
    )
