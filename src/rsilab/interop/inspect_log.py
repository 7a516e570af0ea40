"""rsilab assessments as Inspect logs: one `.eval` file per assessment, readable by `inspect view`.

Built with inspect_ai.log's own objects and written by `write_eval_log` (its Python API is the
stable surface; the file format is not a frozen spec). Everything in a log comes from the ledger
and the content-addressed artifacts: targets and exact scores from the harness, tokens, calls and
seconds from the broker's accounting, the self's trace as sample metadata (informative only). The
paired comparisons Inspect has no place for (the benchmark gate's McNemar test and bootstrap
intervals, the canary's regression test) go in the eval's metadata, so they travel with the log.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from rsilab.errors import RsilabError
from rsilab.interop import need
from rsilab.intervals import wilson
from rsilab.records import Assessment, Event, TaskOutcome, Verdict
from rsilab.state import ExperimentState

SCORER = "exact"  # rsilab's exact check: right or wrong, never partly


def export_inspect(state: ExperimentState, out: Path, versions: Sequence[str] = (), round: int | None = None) -> list[Path]:
    """Write one Inspect log per recorded assessment (of `versions`, in `round`, when given) under `out`."""
    need("inspect_ai", "inspect", "`rsilab export inspect`")
    from inspect_ai.log import write_eval_log

    events = state.events()
    chosen = [e for e in events if e.kind == "assessment.recorded"
              and (not versions or e.payload["version"] in versions)
              and (round is None or e.payload.get("round") == round)]
    if not chosen:
        raise RsilabError("no assessment matches: `rsilab log` lists versions and rounds"
                          + (f" (asked for {', '.join(versions)})" if versions else "")
                          + (f" (round {round})" if round is not None else ""))
    out.mkdir(parents=True, exist_ok=True)
    written = []
    for event in chosen:
        assessment = state.artifacts.get_record(event.payload["artifact"], Assessment)
        path = out / log_name(state, event)
        write_eval_log(eval_log(state, event, assessment, events), location=str(path), format="eval")
        written.append(path)
    return written


def log_name(state: ExperimentState, event: Event) -> str:
    """Inspect's `{created}_{task}_{id}.eval`, fixed by the ledger event: a second export rewrites the same file."""
    created = datetime.fromtimestamp(event.ts, UTC).strftime("%Y-%m-%dT%H-%M-%S+00-00")
    p = event.payload
    task = re.sub(r"[^A-Za-z0-9-]+", "-", f"rsilab-{state.config.experiment.name}-{p['version']}-{p['split']}")
    return f"{created}_{task}_e{event.seq}.eval"


def eval_log(state: ExperimentState, event: Event, assessment: Assessment, events: Sequence[Event]) -> Any:
    """The EvalLog of one assessment.recorded event."""
    from inspect_ai.log import (EvalConfig, EvalDataset, EvalError, EvalLog, EvalMetric, EvalPlan, EvalPlanStep,
                                EvalResults, EvalScore, EvalSpec, EvalStats)
    from inspect_ai.model import ModelUsage
    from inspect_ai.viewer import ViewerConfig

    p = event.payload
    model = f"rsilab/{assessment.version}"
    created = _iso(event.ts)
    rate = wilson(assessment.correct, assessment.n)
    suite = p.get("suite") or state.config.assess.suite
    experiment = state.config.experiment.name
    metadata = {
        "rsilab": {
            "experiment": experiment, "experiment_id": experiment_id(events), "root": str(state.root),
            "version": assessment.version, "parent": _parent(state, assessment.version),
            "round": p.get("round"), "split": assessment.split, "stage": p.get("stage"), "seed": assessment.seed,
            "suite": suite, "artifact": p["artifact"],
            "ledger_event": {"seq": event.seq, "kind": event.kind, "hash": event.hash, "ts": event.ts},
            "accounting": {**assessment.usage.model_dump(), "wall_seconds": assessment.wall_seconds,
                           "cpu_seconds": assessment.cpu_seconds},
            "accuracy_interval": {"method": "wilson 95%", "low": rate.low, "high": rate.high},
            "run_error": assessment.run_error,
            "paired": paired_results(state, events, p.get("round"), assessment.version, assessment.split),
        }
    }
    usage = ModelUsage(input_tokens=assessment.usage.tokens_in, output_tokens=assessment.usage.tokens_out,
                       total_tokens=assessment.usage.tokens, total_cost=assessment.usage.dollars)
    ids = _sample_ids(assessment.outcomes)
    return EvalLog(
        version=2,
        status="error" if assessment.run_error and not any(o.answer for o in assessment.outcomes) else "success",
        error=EvalError(message=assessment.run_error, traceback="", traceback_ansi="") if assessment.run_error else None,
        eval=EvalSpec(
            eval_id=f"{experiment_id(events)}-e{event.seq}", run_id=f"{experiment_id(events)}-r{p.get('round')}",
            # One task id per assessment: Inspect's viewer folds logs sharing a task id and model as retries.
            created=created, task=f"rsilab/{assessment.split}", task_id=f"{experiment_id(events)}-e{event.seq}",
            task_display_name=f"{assessment.split}, round {p.get('round')} ({suite})", task_version=0,
            dataset=EvalDataset(name=f"{suite} ({assessment.split}, seed {assessment.seed})",
                                samples=assessment.n, sample_ids=ids),
            model=model, config=EvalConfig(), metadata=metadata, tags=["rsilab", assessment.split],
            # The answers and traces are the self's: the viewer shows them as plain text, never markup.
            viewer=ViewerConfig(trust_content=False),
        ),
        plan=EvalPlan(name="rsilab", steps=[EvalPlanStep(solver="rsilab/solve (the self, sandboxed)")]),
        results=EvalResults(
            total_samples=assessment.n, completed_samples=assessment.n,
            scores=[EvalScore(name=SCORER, scorer=SCORER, scored_samples=assessment.n, unscored_samples=0, metrics={
                "accuracy": EvalMetric(name="accuracy", value=rate.value if assessment.n else 0.0),
                "ci_low": EvalMetric(name="ci_low", value=rate.low),
                "ci_high": EvalMetric(name="ci_high", value=rate.high)})],
        ),
        stats=EvalStats(started_at=_iso(event.ts - assessment.wall_seconds), completed_at=created,
                        model_usage={model: usage}),
        samples=[_sample(o, sid, model) for o, sid in zip(assessment.outcomes, ids)],
    )


def experiment_id(events: Sequence[Event]) -> str:
    """A stable id of the experiment: the start of its first ledger event's hash."""
    return events[0].hash[:16] if events else "unknown"


def paired_results(state: ExperimentState, events: Sequence[Event], number: int | None, version: str, split: str) -> list[dict[str, Any]]:
    """The round's paired tests this assessment took part in: benchmark gates (held-out) or the canary."""
    if number is None:
        return []
    in_round = [e.payload for e in events if e.payload.get("round") == number]
    found: list[dict[str, Any]] = []
    if split == "canary":
        return [{"test": "canary (McNemar, regression)", **c} for c in in_round
                if c.get("version") == version or c.get("previous") == version
                if "regressed" in c]
    started = next((e.payload for e in events if e.kind == "round.started" and e.payload["round"] == number), {})
    comparator = started.get("deployed", started.get("parent"))
    for e in events:
        if e.kind != "verdict.recorded" or e.payload.get("round") != number or not e.payload.get("artifact"):
            continue
        if version not in (e.payload["version"], started.get("parent"), comparator):
            continue
        verdict = state.artifacts.get_record(e.payload["artifact"], Verdict)
        for gate in verdict.gates:
            if "p_better" in gate.evidence:  # a paired test: the benchmark's, the weights loop's targeted length
                found.append({"test": gate.name, "candidate": verdict.version, "compared_with": comparator,
                              "passed": gate.passed, "summary": gate.summary, "verdict_artifact": e.payload["artifact"],
                              "evidence": dict(gate.evidence)})
    return found


def _sample(outcome: TaskOutcome, sample_id: str, model: str) -> Any:
    from inspect_ai.log import EvalSample
    from inspect_ai.model import ChatMessageAssistant, ChatMessageUser, ModelOutput, ModelUsage
    from inspect_ai.scorer import CORRECT, INCORRECT, Score

    seconds = round(sum(c.seconds for c in outcome.calls), 3)
    answer = outcome.answer if outcome.answer is not None else ""
    return EvalSample(
        id=sample_id, epoch=1, input=outcome.question, target=outcome.expected,
        messages=[ChatMessageUser(content=outcome.question), ChatMessageAssistant(content=answer, model=model)],
        output=ModelOutput.from_content(model, answer),
        scores={SCORER: Score(value=CORRECT if outcome.correct else INCORRECT, answer=outcome.answer,
                              explanation="exactly right" if outcome.correct else (outcome.error or "not the target"))},
        metadata={"family": outcome.family, "difficulty": outcome.difficulty, "task_id": outcome.task_id,
                  "accounting": {**outcome.usage.model_dump(), "model_seconds": seconds,
                                 "calls_detail": [c.model_dump() for c in outcome.calls]},
                  "trace": outcome.trace, "self_reported_steps": outcome.self_reported_steps, "error": outcome.error},
        model_usage={model: ModelUsage(input_tokens=outcome.usage.tokens_in, output_tokens=outcome.usage.tokens_out,
                                       total_tokens=outcome.usage.tokens, total_cost=outcome.usage.dollars)},
        total_time=seconds, working_time=seconds,
    )


def _sample_ids(outcomes: Sequence[TaskOutcome]) -> list[str]:
    """Task ids, made unique (Inspect needs one sample per id and epoch)."""
    seen: dict[str, int] = {}
    ids = []
    for o in outcomes:
        seen[o.task_id] = seen.get(o.task_id, 0) + 1
        ids.append(o.task_id if seen[o.task_id] == 1 else f"{o.task_id}#{seen[o.task_id]}")
    return ids


def _parent(state: ExperimentState, version: str) -> str | None:
    row = state.rows().get(version)
    return row.parent if row else None


def _iso(ts: float) -> str:
    return datetime.fromtimestamp(ts, UTC).isoformat()

