"""The assessment stage: the self answers questions in the sandbox; the harness scores.

Targets stay here: the self receives `Task.public()` only, under an id that says
nothing (t0, t1, ...), so no seed or generator state reaches it either. Efficiency
figures that matter come from trusted accounting (the broker's usage, the sandbox's timers).
"""

from __future__ import annotations

import json
import random
from collections.abc import Callable, Sequence
from typing import Any

from rsilab.assess.scoring import score
from rsilab.errors import ContainmentBreach, SandboxError, UntrustedInput
from rsilab.records import Assessment, CallCost, Task, TaskOutcome, Usage, VersionId
from rsilab.sandbox.selfrun import OUTPUT_FILE, SelfRun
from rsilab.untrusted import read_json

# Runs the self's `solve` on a JSON payload; the experiment binds sandbox, broker and tree.
SolveRunner = Callable[[bytes], SelfRun]


def assess(version: VersionId, tasks: Sequence[Task], split: str, seed: int, run_solve: SolveRunner) -> Assessment:
    public_ids = [f"t{i}" for i in range(len(tasks))]
    payload = json.dumps({"tasks": [{**t.public(), "id": pid} for t, pid in zip(tasks, public_ids)]}).encode()
    try:
        run = run_solve(payload)
    except ContainmentBreach:
        raise  # not the candidate's failure alone: everything stops
    except (SandboxError, UntrustedInput) as exc:  # the self's run failed: it answered nothing
        return _unanswered(version, tasks, split, seed, f"the sandboxed solve run failed: {exc}")
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


def unassessable(assessment: Assessment) -> str | None:
    """Why `assessment` says nothing about the version (its run failed and no task got an answer), or None."""
    if assessment.run_error and all(o.answer is None for o in assessment.outcomes):
        return f"{assessment.version} could not be assessed on {assessment.split}: {assessment.run_error}"
    return None


def _unanswered(version: VersionId, tasks: Sequence[Task], split: str, seed: int, why: str) -> Assessment:
    outcomes = tuple(TaskOutcome(task_id=t.id, family=t.family, difficulty=t.difficulty, question=t.question,
                                 expected=t.answer, answer=None, correct=score(None, t), error="no answer")
                     for t in tasks)
    return Assessment(version=version, split=split, seed=seed, outcomes=outcomes, usage=Usage(),
                      wall_seconds=0.0, cpu_seconds=0.0, run_error=why)


def _parse_answers(output: bytes | None) -> tuple[dict[str, dict[str, Any]], str | None]:
    """The self's output is untrusted: accept only the documented shape."""
    if output is None:
        return {}, None
    try:
        data = read_json(output, what=f"answers ({OUTPUT_FILE})")
    except UntrustedInput as exc:
        return {}, str(exc)
    items = data.get("answers") if isinstance(data, dict) else None
    if not isinstance(items, list):
        return {}, "output is not JSON of the form {\"answers\": [...]}"
    answers: dict[str, dict[str, Any]] = {}
    for item in items:
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


MAX_STEP_CHARS = 2000


def _bounded_trace(trace: object) -> list[Any]:
    """At most 50 steps; a string step cut to MAX_STEP_CHARS, a dict step kept only while its JSON is that short."""
    if not isinstance(trace, list):
        return []
    return [_bounded_step(step) for step in trace[:50]]


def _bounded_step(step: object) -> Any:
    if isinstance(step, dict):
        text = json.dumps(step)
        return step if len(text) <= MAX_STEP_CHARS else text[:MAX_STEP_CHARS]
    return (step if isinstance(step, str) else str(step))[:MAX_STEP_CHARS]


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


def split_run(both: Assessment, sizes: Sequence[int], splits: Sequence[str]) -> list[Assessment]:
    """Assessments from one run on several task lists, in order (`sizes[i]` outcomes for `splits[i]`).

    Calls the broker attributed to a task go with that task's part; the rest (untagged calls,
    dollars) stay with the first part, so a budget checked on it never sees less than was spent.
    The run's seconds are shared out by task count: no part is charged the whole run's time.
    """
    bounds = [sum(sizes[:i]) for i in range(len(sizes) + 1)]
    parts = [both.outcomes[a:b] for a, b in zip(bounds, bounds[1:])]
    usages = [_summed(part) for part in parts]
    u, rest = both.usage, _summed(both.outcomes[bounds[1]:])
    usages[0] = Usage(calls=max(0, u.calls - rest.calls), tokens_in=max(0, u.tokens_in - rest.tokens_in),
                      tokens_out=max(0, u.tokens_out - rest.tokens_out), dollars=u.dollars)
    total = max(1, len(both.outcomes))
    return [Assessment(version=both.version, split=split, seed=both.seed, outcomes=part, usage=usage,
                       wall_seconds=both.wall_seconds * len(part) / total,
                       cpu_seconds=both.cpu_seconds * len(part) / total, run_error=both.run_error)
            for split, part, usage in zip(splits, parts, usages)]


def _summed(outcomes: Sequence[TaskOutcome]) -> Usage:
    total = Usage()
    for o in outcomes:
        total = total + o.usage
    return total


def shuffled(tasks: Sequence[Task], seed: int) -> tuple[list[Task], list[int]]:
    """`tasks` in an order drawn from `seed`, and that order (so a run's outcomes can be put back)."""
    order = list(range(len(tasks)))
    random.Random(seed).shuffle(order)
    return [tasks[i] for i in order], order


def unshuffled(run: Assessment, order: Sequence[int]) -> Assessment:
    """The outcomes of a run on shuffled tasks, back in the tasks' own order."""
    back = [run.outcomes[0]] * len(order) if run.outcomes else []
    for position, index in enumerate(order):
        back[index] = run.outcomes[position]
    return run.model_copy(update={"outcomes": tuple(back)})
