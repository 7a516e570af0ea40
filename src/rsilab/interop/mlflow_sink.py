"""Rounds streamed to MLflow: one run per completed round, built from the ledger alone.

`[tracking] mlflow = URI` logs each round as it completes: parameters (config, seeds, parent),
metrics (held-out accuracy with its interval, tokens, dollars, seconds; the frontier for the
weights loop), the gates' outcomes, and the verdicts and diffs as artifacts. The ledger stays the
truth and MLflow is a copy: logging runs in a thread the round waits on for at most
`tracking.timeout_seconds`, and a server that is down, slow or refusing is recorded in the ledger
(`tracking.failed`) and never fails or blocks the round. `rsilab export mlflow` replays every
round the store lacks. Runs are tagged with the experiment's id and the round, and a run counts
only once its last tag (`rsilab.complete`) is set, so a replay skips what is there and redoes
what a timed-out attempt left half written.
"""

from __future__ import annotations

import json
import os
import threading
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlsplit, urlunsplit

from rsilab.errors import ConfigError
from rsilab.interop import need
from rsilab.interop.inspect_log import experiment_id
from rsilab.intervals import wilson
from rsilab.records import Event, Verdict
from rsilab.rounds import Report
from rsilab.state import ExperimentState
from rsilab.store.blobdiff import file_changes, patch_text

MAX_VALUE = 500  # a parameter or tag value is cut here (MLflow's own limits are larger)
COMPLETE = "rsilab.complete"


@dataclass(frozen=True)
class RoundRun:
    """What one MLflow run of a round holds, from the ledger: no MLflow needed to build it."""

    experiment: str
    experiment_id: str
    round: int
    start_ms: int
    end_ms: int
    params: dict[str, str]
    metrics: dict[str, float]
    tags: dict[str, str]
    artifacts: dict[str, str] = field(default_factory=dict)  # path in the run → text


def track_round(state: ExperimentState, number: int, report: Report) -> None:
    """Log round `number` to the configured tracking URI, bounded; a failure is recorded, never raised."""
    tracking = state.config.tracking
    if not tracking.mlflow:
        return
    uri, outcome = tracking.mlflow, {}  # outcome: "ok" or "error", set by the worker
    try:
        run = round_run(state, number)

        def work() -> None:
            try:
                log_run(_client(uri, live_timeout=tracking.timeout_seconds), run)
                outcome["ok"] = True
            except BaseException as exc:  # noqa: BLE001 - anything the client raises is a tracking failure
                outcome["error"] = f"{type(exc).__name__}: {str(exc)[:MAX_VALUE]}"

        worker = threading.Thread(target=work, name=f"rsilab-mlflow-round-{number}", daemon=True)
        worker.start()
        worker.join(tracking.timeout_seconds)
        error = None if outcome.get("ok") else outcome.get("error", f"no answer within {tracking.timeout_seconds:g} s")
    except Exception as exc:  # noqa: BLE001 - building the run must not fail the round either
        error = f"{type(exc).__name__}: {str(exc)[:MAX_VALUE]}"
    if error is None:
        report("track", f"round {number} logged to MLflow at {redact(uri)}")
        return
    state.ledger.append("tracking.failed", {"round": number, "sink": "mlflow", "uri": redact(uri), "error": error})
    report("track", f"round {number} not logged to MLflow at {redact(uri)} ({error}); "
           "the ledger has it: `rsilab export mlflow` logs it later")


def replay(state: ExperimentState, uri: str | None = None, report: Report | None = None) -> tuple[list[int], list[int]]:
    """Log every completed round the store lacks; returns (rounds logged, rounds already there)."""
    uri = uri or state.config.tracking.mlflow
    if not uri:
        raise ConfigError('no tracking URI: set [tracking] mlflow = "file:./mlruns" in rsilab.toml or pass --uri')
    client = _client(uri)
    logged, present = [], []
    for number in sorted({e.payload["round"] for e in state.events("round.completed")}):
        run = round_run(state, number)
        if log_run(client, run):
            logged.append(number)
            if report:
                report("track", f"round {number} logged to MLflow at {redact(uri)}")
        else:
            present.append(number)
    return logged, present


def log_run(client: Any, run: RoundRun) -> bool:
    """Write `run` unless a complete run of its round is there; a half-written one is replaced. True if written."""
    from mlflow.entities import Metric, Param, RunTag

    experiment = client.get_experiment_by_name(run.experiment)
    exp_id = experiment.experiment_id if experiment else client.create_experiment(run.experiment)
    found = client.search_runs([exp_id], f"tags.`rsilab.experiment_id` = '{run.experiment_id}' "
                                         f"and tags.`rsilab.round` = '{run.round}'")
    if any(r.data.tags.get(COMPLETE) == "true" for r in found):
        return False
    for stale in found:
        client.delete_run(stale.info.run_id)
    created = client.create_run(exp_id, start_time=run.start_ms, run_name=f"round {run.round}",
                                tags={"rsilab.experiment_id": run.experiment_id, "rsilab.round": str(run.round)})
    run_id = created.info.run_id
    params = [Param(k, v) for k, v in run.params.items()]
    for i in range(0, len(params), 100):  # MLflow takes at most 100 parameters per batch
        client.log_batch(run_id, params=params[i:i + 100])
    client.log_batch(run_id, metrics=[Metric(k, v, run.end_ms, run.round) for k, v in run.metrics.items()],
                     tags=[RunTag(k, v) for k, v in run.tags.items()])
    for path, text in run.artifacts.items():
        client.log_text(run_id, text, path)
    client.set_terminated(run_id, "FINISHED", end_time=run.end_ms)
    client.set_tag(run_id, COMPLETE, "true")  # last: a run without it is redone by the next replay
    return True


def round_run(state: ExperimentState, number: int) -> RoundRun:
    events = state.events()
    mine = [e for e in events if e.payload.get("round") == number]
    started = _one(mine, "round.started")
    completed = _one(mine, "round.completed")
    if started is None or completed is None:
        raise ValueError(f"round {number} has not completed")
    s, c = started.payload, completed.payload
    deployed = s.get("deployed", s.get("parent"))
    candidates = c.get("candidates") or ([c["candidate"]] if c.get("candidate") else [])
    params = {**{f"config.{k}": v for k, v in _flat(state.config.model_dump(mode="json", by_alias=True)).items()},
              **{f"seed.{k}": _text(v) for k, v in s.items() if k.endswith("seed") or k.endswith("seeds")},
              "parent": _text(s.get("parent")), "deployed_before": _text(deployed), "candidates": _text(candidates)}
    metrics: dict[str, float] = {"seconds": round(completed.ts - started.ts, 3), "candidates": float(len(candidates)),
                                 "deployed": float(c.get("outcome") == "deployed")}
    metrics.update(_accuracy(mine, "dev", s.get("parent"), "dev"))
    metrics.update(_accuracy(mine, "heldout", c.get("candidate"), "candidate_heldout"))
    metrics.update(_accuracy(mine, "heldout", deployed, "parent_heldout"))
    metrics.update(_accuracy(mine, "canary", c.get("candidate"), "canary"))
    usage = c.get("usage") or {}
    assessed = [e.payload.get("summary") or {} for e in mine if e.kind == "assessment.recorded"]
    metrics.update({"tokens_in": usage.get("tokens_in", 0), "tokens_out": usage.get("tokens_out", 0),
                    "tokens": usage.get("tokens_in", 0) + usage.get("tokens_out", 0) or sum(a.get("tokens", 0) for a in assessed),
                    "calls": usage.get("calls", 0), "dollars": usage.get("dollars", 0.0),
                    "assess_wall_seconds": round(sum(a.get("wall_seconds", 0.0) for a in assessed), 3)})
    for key in ("target", "frontier"):  # the weights loop's frontier, in digits
        if isinstance(c.get(key), int):
            metrics[key] = float(c[key])
    tags = {"rsilab.experiment": state.config.experiment.name, "rsilab.outcome": str(c.get("outcome")),
            "rsilab.candidate": _text(c.get("candidate")), "rsilab.parent": _text(s.get("parent")),
            "rsilab.ledger_event": completed.hash, "rsilab.root": str(state.root)}
    if c.get("reason"):
        tags["rsilab.reason"] = _text(c["reason"])
    artifacts = {"round-events.json": json.dumps([e.model_dump() for e in mine], indent=1, default=str)}
    for verdict_event in (e for e in mine if e.kind == "verdict.recorded"):
        version = verdict_event.payload["version"]
        for gate in verdict_event.payload.get("gates", []):
            tags[f"rsilab.gate.{version}.{gate['name']}"] = _text(("passed: " if gate["passed"] else "failed: ") + gate["summary"])
            if version == c.get("candidate"):
                metrics[f"gate.{gate['name']}"] = float(gate["passed"])
        if artifact := verdict_event.payload.get("artifact"):
            verdict = state.artifacts.get_record(artifact, Verdict)
            artifacts[f"verdicts/{version}.json"] = verdict.model_dump_json(indent=1)
            for gate in verdict.gates:  # each paired test's p-value (the benchmark's, the targeted length's)
                if version == c.get("candidate") and isinstance(gate.evidence.get("p_better"), (int, float)):
                    metrics[f"p_better.{gate.name}"] = float(gate.evidence["p_better"])
    for proposal in (e.payload for e in mine if e.kind == "proposal.recorded"):
        if proposal.get("commit") and s.get("commit"):
            old, new = state.versions.files(s["commit"]), state.versions.files(proposal["commit"])
            artifacts[f"diffs/{proposal['version']}.patch"] = patch_text(file_changes(old, new))
    for d in (e.payload for e in mine if e.kind == "decision.recorded"):
        tags[f"rsilab.decision.{d['version']}"] = _text(f"{'approved' if d['approved'] else 'rejected'} by {d['by']}: {d.get('comment', '')}")
    return RoundRun(experiment=state.config.experiment.name, experiment_id=experiment_id(events), round=number,
                    start_ms=int(started.ts * 1000), end_ms=int(completed.ts * 1000), params=params,
                    metrics={k: float(v) for k, v in metrics.items()}, tags=tags, artifacts=artifacts)


def redact(uri: str) -> str:
    """The URI without a password, for the ledger and the terminal."""
    parts = urlsplit(uri)
    if parts.password is None:
        return uri
    host = f"{parts.username}:***@{parts.hostname}" + (f":{parts.port}" if parts.port else "")
    return urlunsplit(parts._replace(netloc=host))


def _client(uri: str, live_timeout: float | None = None) -> Any:
    need("mlflow", "mlflow", "[tracking] mlflow")
    if uri.startswith("file:"):
        os.environ.setdefault("MLFLOW_ALLOW_FILE_STORE", "true")  # asked for by name; MLflow 3 refuses it otherwise
    if live_timeout is not None:  # during a round: fail fast, the replay retries (a user's own setting wins)
        os.environ.setdefault("MLFLOW_HTTP_REQUEST_MAX_RETRIES", "0")
        os.environ.setdefault("MLFLOW_HTTP_REQUEST_TIMEOUT", str(max(1, int(live_timeout))))
    from mlflow.tracking import MlflowClient

    return MlflowClient(tracking_uri=uri)


def _accuracy(events: list[Event], split: str, version: str | None, prefix: str) -> dict[str, float]:
    """Accuracy with its Wilson 95 % interval over every stage of `version`'s `split` assessments."""
    parts = [e.payload["summary"] for e in events if e.kind == "assessment.recorded"
             and e.payload.get("split") == split and e.payload.get("version") == version]
    n, correct = sum(p["n"] for p in parts), sum(p["correct"] for p in parts)
    if not n:
        return {}
    rate = wilson(correct, n)
    return {f"{prefix}_accuracy": correct / n, f"{prefix}_accuracy_low": rate.low,
            f"{prefix}_accuracy_high": rate.high, f"{prefix}_n": float(n)}


def _flat(data: dict[str, Any], prefix: str = "") -> dict[str, str]:
    out: dict[str, str] = {}
    for key, value in data.items():
        if isinstance(value, dict):
            out.update(_flat(value, f"{prefix}{key}."))
        else:
            out[f"{prefix}{key}"] = _text(value)
    return out


def _text(value: Any) -> str:
    text = value if isinstance(value, str) else json.dumps(value, default=str)
    return text if len(text) <= MAX_VALUE else text[:MAX_VALUE - 1] + "…"


def _one(events: list[Event], kind: str) -> Event | None:
    return next((e for e in reversed(events) if e.kind == kind), None)
