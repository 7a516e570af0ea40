"""The round: assess → propose → verify → review → deploy, wired together and resumable.

Stages never call each other; this module passes records between them and writes
every outcome to the ledger exactly once. A round is resumed from the ledger: each
step first looks for its event and only does the work when the event is missing,
so a crash (even kill -9) loses at most the step in flight, which is redone.
"""

from __future__ import annotations

import fcntl
import secrets
import warnings
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from importlib import resources
from pathlib import Path
from typing import Any

from pydantic import ValidationError

from rsilab.assess.metrics import summary
from rsilab.assess.splits import draw_tasks
from rsilab.config import CONFIG_FILE, AssessConfig, Config, load_config
from rsilab.errors import BudgetExceeded, ConfigError, EditError, RsilabError, StoreError, UntrustedInput
from rsilab.interop.mlflow_sink import track_round
from rsilab.llm.base import Provider
from rsilab.records import Assessment, Decision, Event, Usage
from rsilab.round.code import CodeRound, start_round
from rsilab.round.records import dev_questions, history
from rsilab.rounds import Report, RoundResult
from rsilab.runtime import Runtime, default_workers
from rsilab.runtime_open import open_runtime
from rsilab.sandbox.process import RunResult
from rsilab.sandbox.progress import Progress
from rsilab.store.artifacts import ArtifactStore
from rsilab.store.history import VersionRow, deployed_version, version_rows
from rsilab.store.ledger import Ledger
from rsilab.store.versions import VersionStore

STATE_DIR = ".rsilab"
SELF_DIR = "self"

def _quiet(stage: str, message: str) -> None:
    pass


class Experiment:
    def __init__(self, root: Path, provider: Provider | None = None) -> None:
        """`provider` replaces the configured LLM (for embedding rsilab in other code, and tests)."""
        self.root = root.resolve()
        self._provider = provider
        self.config: Config = load_config(self.root / CONFIG_FILE)
        state = self.root / STATE_DIR
        if not (self.root / SELF_DIR).is_dir() or not state.is_dir():
            raise StoreError(f"{self.root} is not an rsilab experiment (no {SELF_DIR}/ or {STATE_DIR}/): run `rsilab init`")
        self.ledger = Ledger(state / "ledger.db", state / "ledger.head")
        self.artifacts = ArtifactStore(state / "artifacts")
        self.versions = VersionStore(self.root / SELF_DIR)
        self.seed_plan: dict[int, dict[str, Any]] = {}  # round → seeds to use instead of fresh ones (replay)

    # ---- creating -------------------------------------------------------------------------

    @classmethod
    def init(
        cls, root: Path, template: str = "agent", config_text: str | None = None,
        provider: Provider | None = None, files: dict[str, bytes] | None = None,
    ) -> Experiment:
        """`files` replace or add files of the template's self (e.g. a shorter training recipe)."""
        source = resources.files("rsilab") / "templates" / template
        if not source.is_dir():
            raise RsilabError(f"no template {template!r}: choose one of {', '.join(available_templates())}")
        if root.exists() and any(root.iterdir()):
            raise RsilabError(f"{root} exists and is not empty: choose a new directory")
        root.mkdir(parents=True, exist_ok=True)
        default_config = (resources.files("rsilab") / "templates" / f"{template}.rsilab.toml").read_text()
        (root / CONFIG_FILE).write_text(config_text or default_config)
        (root / STATE_DIR).mkdir()
        files = {**{rel: data for rel, data in _read_template(source)}, **(files or {})}
        store, commit = VersionStore.create(root / SELF_DIR, files, f"v1: template {template}")
        store.tag("v1", commit)
        experiment = cls(root, provider)
        experiment.ledger.append("experiment.created", {"template": template, "config": (root / CONFIG_FILE).read_text()})
        experiment.ledger.append("version.created", {"version": "v1", "commit": commit, "parent": None, "round": 0})
        experiment.ledger.append("version.deployed", {"version": "v1", "commit": commit, "round": 0, "reason": "initial"})
        return experiment

    # ---- reading --------------------------------------------------------------------------

    def events(self, kind: str | None = None) -> list[Event]:
        return self.ledger.events(kind)

    def rows(self) -> dict[str, VersionRow]:
        return version_rows(self.ledger.events())

    def deployed(self) -> tuple[str, str]:
        found = deployed_version(self.ledger.events())
        if found is None:
            raise StoreError("the ledger names no deployed version: was this experiment made by `rsilab init`?")
        return found

    def commit_of(self, version: str) -> str:
        row = self.rows().get(version)
        if row is None or row.commit is None:
            raise RsilabError(f"no version {version} with code: see `rsilab log`")
        return row.commit

    # ---- running --------------------------------------------------------------------------

    def run(self, rounds: int, report: Report = _quiet) -> list[RoundResult]:
        """Finish any unfinished round, then run new ones until `rounds` rounds are complete in all."""
        if self.config.experiment.template == "transformer":  # the weights loop: same stages and records
            from rsilab.weights.loop import WeightsLoop

            with self._lock():
                return WeightsLoop(self).run(rounds, report)
        if self.config.experiment.template == "lm-adapters":  # the weights loop on a real LM: LoRA adapters
            from rsilab.weights.adapters import AdaptersLoop

            with self._lock():
                return AdaptersLoop(self).run(rounds, report)
        results = []
        with self._lock(), self._runtime(report, workers=self.workers()) as runtime:
            self._reconcile_deployed(report)
            while True:
                current = self._open_round()
                if current is None:
                    if len(self.ledger.events("round.completed")) >= rounds:
                        break
                    if why := runtime.meter.spent("experiment"):  # no new round on a spent budget
                        results.append(self._budget_spent(None, "experiment", why, runtime, report))
                        break
                    current = start_round(self, report, self.seed_plan.get(len(self.events("round.started")) + 1))
                try:
                    runtime.meter.start_round(self._spent_in_round(current["round"]))
                    result = CodeRound(self, runtime, current, report).finish()
                except BudgetExceeded:
                    scope, why = runtime.meter.refused() or ("round", "budget spent")
                    results.append(self._budget_spent(current["round"], scope, why, runtime, report))
                    break
                except (UntrustedInput, EditError) as exc:  # a last resort: the stages reject what the self wrote
                    reason = f"a self-written input stopped the round: {exc}; the round is closed — run `rsilab run` to go on"
                    result = self.close_round(current["round"], reason, by="policy:round-closed", report=report)
                results.append(result)
                if result.outcome == "awaiting-review":
                    break
        return results

    def decide(self, version: str, approved: bool, by: str, comment: str, report: Report = _quiet) -> RoundResult:
        """Record a person's decision on a pending candidate and act on it."""
        with self._lock():
            pending = {p["version"]: p for p in self._pending_reviews()}
            if version not in pending:
                raise RsilabError(f"{version} is not awaiting review: see `rsilab review`")
            decision = Decision(version=version, approved=approved, by=by, comment=comment)
            self.ledger.append("decision.recorded", {"round": pending[version]["round"], **decision.model_dump()})
        return self.run(rounds=0, report=report)[-1]  # finish the round: deploy or close it

    def close_round(self, number: int, reason: str, by: str, report: Report = _quiet) -> RoundResult:
        """Close open round `number` with `reason` (a person's `rsilab round abandon`, or the last resort of `run`)."""
        if number != (self._open_round() or {}).get("round"):
            raise RsilabError(f"round {number} is not open: `rsilab log` shows the rounds")
        candidates = [e.payload["version"] for e in self.ledger.events("proposal.recorded") if e.payload["round"] == number]
        self.ledger.append("round.completed", {"round": number, "candidate": candidates[-1] if candidates else None,
                                               "candidates": candidates, "outcome": "closed", "reason": reason, "by": by})
        report("round", f"round {number} closed: {reason}")
        track_round(self, number, report)
        return RoundResult(number, candidates[-1] if candidates else None, "closed")

    def abandon_round(self, number: int, reason: str, by: str) -> RoundResult:
        with self._lock():
            return self.close_round(number, reason, by)

    def pending_reviews(self) -> list[dict[str, Any]]:
        return self._pending_reviews()

    def rollback(self, version: str, by: str, reason: str) -> None:
        with self._lock():
            commit = self.commit_of(version)
            rows = self.rows()
            if rows[version].state not in {"deployed", "retired"}:
                raise RsilabError(f"{version} was never deployed ({rows[version].state}); roll back only to a version that was")
            self.ledger.append("version.rolled_back", {"version": version, "commit": commit, "by": by, "reason": reason})
            self.versions.set_deployed(commit)

    def assess_version(
        self, version: str, *, suite: str | None = None, dataset: Path | None = None, n: int | None = None,
        split: str = "heldout", on_progress: Callable[[int, int], None] | None = None,
    ) -> tuple[Assessment, str]:
        """Assess one version outside any round, on fresh tasks; returns it and its artifact digest.

        The seed is drawn here, out of the self's reach, and kept in the ledger event;
        held-out tasks skip every dev question a proposer has seen. `on_progress(done, total)`
        hears the self's own count of finished tasks (see sandbox/progress.py).
        """
        if split not in {"dev", "heldout"}:
            raise RsilabError(f"split must be dev or heldout, not {split!r}")
        config = self._assess_config(suite, dataset)
        n = n or (config.heldout_n if split == "heldout" else config.dev_n)
        with self._lock():
            tree = self.versions.files(self.commit_of(version))
            seed = secrets.randbelow(2**31)
            tasks = draw_tasks(config, split, n, seed, dev_questions(self) if split == "heldout" else ())
            total = len(tasks)
            shown: Progress | None = None
            if on_progress is not None:
                on_progress(0, total)
                shown = lambda done: on_progress(min(done, total), total)  # noqa: E731 - the self's count, capped at the total
            with self._runtime() as runtime:
                context = {"round": None, "version": version, "split": split}
                result = runtime.assess(version, tasks, split, seed, tree, context, on_progress=shown)
                shards = runtime.take_shards(context)  # where each run ran, on a cluster
                runtime.take_violations()  # recorded below, with the assessment
            digest = self.artifacts.put_record(result)
            self.ledger.append(
                "assessment.recorded",
                {"round": None, "version": version, "split": split, "seed": seed, "suite": config.suite,
                 "artifact": digest, "summary": summary(result), "run_error": result.run_error,
                 "violations": list(runtime.violations), **({"shards": shards} if shards else {})},
            )
        return result, digest

    # ---- helpers --------------------------------------------------------------------------

    def workers(self) -> int:
        """Concurrent sandboxes for a round: search.workers, else this machine's cores."""
        return self.config.search.workers or default_workers()

    def _history(self) -> list[dict[str, Any]]:
        return history(self)

    def _open_round(self) -> dict[str, Any] | None:
        started = self.ledger.events("round.started")
        done = {e.payload["round"] for e in self.ledger.events("round.completed")}
        open_rounds = [e.payload for e in started if e.payload["round"] not in done]
        return open_rounds[-1] if open_rounds else None

    def _assess_config(self, suite: str | None, dataset: Path | None) -> AssessConfig:
        """The experiment's [assess] section with a suite (or a JSONL file) chosen on the command line."""
        data = self.config.assess.model_dump()
        if dataset is not None:
            data.update(suite="jsonl", dataset=dataset.resolve())
        elif suite is not None:
            data["suite"] = suite
        try:
            return AssessConfig.model_validate(data)
        except ValidationError as exc:
            raise ConfigError(f"cannot assess with suite {data['suite']!r}: {exc.errors()[0]['msg'].removeprefix('Value error, ')}") from None

    def sandbox_exec(self, argv: list[str]) -> RunResult:
        """Run `argv` in exactly the sandbox a candidate gets, on a scratch copy of the deployed version."""
        _, commit = self.deployed()
        with self._runtime() as runtime:
            return runtime.exec(self.versions.files(commit), argv)

    def _budget_spent(self, number: int | None, scope: str, why: str, runtime: Runtime, report: Report) -> RoundResult:
        """A clean stop: the stage in flight recorded nothing, so `rsilab run` with a larger budget redoes it."""
        # round_usage: what the unfinished round spent in this run, so the next run counts it too.
        round_usage = runtime.meter.usage("round") if number is not None else Usage()
        number = number or len(self.ledger.events("round.started")) + 1
        limit = getattr(self.config.llm, f"{scope}_budget")
        self.ledger.append("budget.exhausted", {
            "round": number, "scope": scope, "reason": why, "limit": limit.model_dump(),
            "usage": runtime.meter.usage(scope).model_dump(), "round_usage": round_usage.model_dump(),
        })
        report("budget", f"{why}; stopped cleanly — raise llm.{scope}_budget in {CONFIG_FILE} and run again to go on")
        return RoundResult(number, None, "budget-spent")

    def _spent_in_round(self, number: int) -> Usage:
        """What earlier runs spent on round `number` before a budget stopped them (each stop counts all so far)."""
        stops = [e.payload for e in self.ledger.events("budget.exhausted") if e.payload["round"] == number]
        return Usage.model_validate(stops[-1].get("round_usage", {})) if stops else Usage()

    def _spent_before(self) -> Usage:
        """LLM use recorded by earlier runs: completed rounds, and the unfinished one a budget stopped."""
        completed = {e.payload["round"]: Usage.model_validate(e.payload.get("usage", {}))
                     for e in self.ledger.events("round.completed")}
        unfinished = {e.payload["round"] for e in self.ledger.events("budget.exhausted")} - completed.keys()
        total = Usage()
        for usage in [*completed.values(), *(self._spent_in_round(n) for n in unfinished)]:
            total += usage
        return total

    def _pending_reviews(self) -> list[dict[str, Any]]:
        decided = {e.payload["version"] for e in self.ledger.events("decision.recorded")}
        closed = {e.payload["round"] for e in self.ledger.events("round.completed")}  # an abandoned round's too
        return [e.payload for e in self.ledger.events("review.requested")
                if e.payload["version"] not in decided and e.payload["round"] not in closed]

    def _reconcile_deployed(self, report: Report) -> None:
        """The ledger is the truth: make the `deployed` ref agree with it after a crash."""
        version, commit = self.deployed()
        if self.versions.deployed() != commit:
            self.versions.set_deployed(commit)
            report("recover", f"deployed ref moved to {version} to match the ledger")

    @contextmanager
    def _lock(self) -> Iterator[None]:
        with open(self.root / STATE_DIR / "lock", "w") as handle:
            try:
                fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except BlockingIOError:
                raise RsilabError("another rsilab command is changing this experiment; wait for it to finish") from None
            # No other rsilab writer runs now, so a git lock file in self/ is a killed writer's leftover.
            if removed := self.versions.remove_stale_locks():
                warnings.warn(f"removed git lock files left by an interrupted rsilab command: {', '.join(removed)}", stacklevel=3)
            yield

    @contextmanager
    def _runtime(self, report: Report = _quiet, workers: int = 1) -> Iterator[Runtime]:
        with open_runtime(self.root, self.config, provider=self._provider, spent_before=self._spent_before(),
                          workers=workers, report=report) as runtime:
            yield runtime


def available_templates() -> list[str]:
    root = resources.files("rsilab") / "templates"
    return sorted(p.name for p in root.iterdir() if p.is_dir() and not p.name.startswith(("_", ".")))


def _read_template(source: Any, prefix: str = "") -> Iterator[tuple[str, bytes]]:
    for item in source.iterdir():
        if item.name in {"__pycache__"} or item.name.endswith(".pyc"):
            continue
        rel = f"{prefix}{item.name}"
        if item.is_dir():
            yield from _read_template(item, f"{rel}/")
        else:
            yield rel, item.read_bytes()
