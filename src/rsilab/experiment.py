"""The round: assess → propose → verify → review → deploy, wired together and resumable.

Stages never call each other; this module passes records between them and writes
every outcome to the ledger exactly once. A round is resumed from the ledger: each
step first looks for its event and only does the work when the event is missing,
so a crash (even kill -9) loses at most the step in flight, which is redone.
"""

from __future__ import annotations

import fcntl
import secrets
import shutil
import tempfile
import warnings
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from importlib import resources
from pathlib import Path
from typing import Any

from pydantic import ValidationError

from rsilab.assess.metrics import summary
from rsilab.assess.runner import assess, merge
from rsilab.assess.splits import draw_tasks
from rsilab.assess.weakness import weakness_report
from rsilab.config import CONFIG_FILE, AssessConfig, Config, load_config
from rsilab.errors import BudgetExceeded, ConfigError, RsilabError, SandboxError, StoreError
from rsilab.llm.base import Provider
from rsilab.llm.factory import make_provider
from rsilab.llm.meter import MeteredProvider
from rsilab.propose.stage import propose
from rsilab.rounds import Report, RoundResult, round_seed
from rsilab.records import Assessment, Decision, Event, GateResult, Proposal, Task, Usage, Verdict
from rsilab.review.policy import decide
from rsilab.sandbox.broker import Broker, Budget, Prices
from rsilab.sandbox.factory import make_sandbox, unsafe_warning
from rsilab.sandbox.integrity import changed, state_manifest
from rsilab.sandbox.process import Limits, RunResult, Sandbox
from rsilab.sandbox.progress import Progress
from rsilab.sandbox.selfrun import run_self, scratch_copy
from rsilab.store.artifacts import ArtifactStore
from rsilab.store.history import VersionRow, deployed_version, version_rows
from rsilab.store.ledger import Ledger
from rsilab.store.versions import VersionStore
from rsilab.verify import gates
from rsilab.verify.alignment import load_alignment
from rsilab.verify.stats import mcnemar

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
        self.seed_plan: dict[int, dict[str, int]] = {}  # round → seeds to use instead of fresh ones (replay)

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
        results = []
        with self._lock(), self._runtime(report) as runtime:
            self._reconcile_deployed(report)
            while True:
                current = self._open_round()
                if current is None:
                    if len(self.ledger.events("round.completed")) >= rounds:
                        break
                    if why := runtime.meter.spent("experiment"):  # no new round on a spent budget
                        results.append(self._budget_spent(None, "experiment", why, runtime, report))
                        break
                    current = self._start_round(report)
                try:
                    result = self._finish_round(current, runtime, report)
                except BudgetExceeded:
                    scope, why = runtime.meter.refused() or ("round", "budget spent")
                    results.append(self._budget_spent(current["round"], scope, why, runtime, report))
                    break
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
            tasks = draw_tasks(config, split, n, seed, self._dev_questions() if split == "heldout" else ())
            total = len(tasks)
            shown: Progress | None = None
            if on_progress is not None:
                on_progress(0, total)
                shown = lambda done: on_progress(min(done, total), total)  # noqa: E731 - the self's count, capped at the total
            with self._runtime() as runtime:
                result = assess(version, tasks, split, seed, runtime.runner(tree, "solve", on_progress=shown))
            digest = self.artifacts.put_record(result)
            self.ledger.append(
                "assessment.recorded",
                {"round": None, "version": version, "split": split, "seed": seed, "suite": config.suite,
                 "artifact": digest, "summary": summary(result), "run_error": result.run_error,
                 "violations": list(runtime.violations)},
            )
        return result, digest

    # ---- the round, step by step ----------------------------------------------------------

    def _open_round(self) -> dict[str, Any] | None:
        started = self.ledger.events("round.started")
        done = {e.payload["round"] for e in self.ledger.events("round.completed")}
        open_rounds = [e.payload for e in started if e.payload["round"] not in done]
        return open_rounds[-1] if open_rounds else None

    def _start_round(self, report: Report) -> dict[str, Any]:
        number = len(self.ledger.events("round.started")) + 1
        parent, commit = self.deployed()
        # Fresh seeds each round, drawn by the harness and kept in the ledger, out of the self's reach.
        seeds = self.seed_plan.get(number) or {
            name: round_seed(self.config.experiment.seed, number, name)
            for name in ("dev_seed", "heldout_seed", "smoke_seed", "canary_seed")
        }
        payload = {"round": number, "parent": parent, "commit": commit, **seeds}
        self.ledger.append("round.started", payload)
        report("round", f"round {number} starts from {parent}")
        return payload

    def _finish_round(self, rnd: dict[str, Any], runtime: _Runtime, report: Report) -> RoundResult:
        number, parent, parent_commit = rnd["round"], rnd["parent"], rnd["commit"]
        in_round = lambda kind: [e.payload for e in self.ledger.events(kind) if e.payload.get("round") == number]  # noqa: E731
        parent_tree = self.versions.files(parent_commit)
        cfg = self.config
        runtime.meter.start_round(self._spent_in_round(number))

        # 1. assess the parent on the dev split: its failures are what the proposer may see.
        dev_tasks = draw_tasks(cfg.assess, "dev", cfg.assess.dev_n, rnd["dev_seed"])
        dev = self._assessment(number, parent, "dev", rnd["dev_seed"], dev_tasks, parent_tree, runtime, report)

        # 2. propose: the parent's own improver, in the sandbox.
        recorded = in_round("proposal.recorded")
        if recorded:
            proposal = self.artifacts.get_record(recorded[0]["artifact"], Proposal)
            candidate_commit = recorded[0]["commit"]
        else:
            proposal, candidate_commit = self._propose(number, parent, parent_tree, dev, runtime, report)
        if candidate_commit:
            self.versions.tag(proposal.version, candidate_commit)
        candidate_tree = self.versions.files(candidate_commit) if candidate_commit else None

        # 3. verify: the gates, cheapest first, stopping at the first that fails.
        verdicts = in_round("verdict.recorded")
        if verdicts:
            verdict = self.artifacts.get_record(verdicts[0]["artifact"], Verdict)
        else:
            verdict = self._verify(rnd, proposal, parent_tree, candidate_tree, runtime, report)

        # 4. review: a failed gate rejects; otherwise policy or a person decides.
        decisions = in_round("decision.recorded")
        if decisions:
            decision = Decision.model_validate({k: v for k, v in decisions[0].items() if k != "round"})
        else:
            decision = decide(verdict, cfg.review.autonomy)
            if decision is None:
                if not in_round("review.requested"):
                    self.ledger.append("review.requested", {"round": number, "version": proposal.version})
                report("review", f"{proposal.version} passed every gate and awaits a person: run `rsilab review`")
                return RoundResult(number, proposal.version, "awaiting-review")
            self.ledger.append("decision.recorded", {"round": number, **decision.model_dump()})
        report("review", f"{decision.version} {'approved' if decision.approved else 'rejected'} by {decision.by}: {decision.comment}")

        # 5. deploy: the event first, then the ref; a crash between is repaired by _reconcile_deployed.
        outcome = "rejected"
        if decision.approved and candidate_commit:
            if not in_round("version.deployed"):
                self.ledger.append("version.deployed", {"round": number, "version": proposal.version, "commit": candidate_commit})
            self.versions.set_deployed(candidate_commit)
            outcome = "deployed"
            report("deploy", f"{proposal.version} is deployed")
            if self._canary(rnd, proposal.version, candidate_tree or {}, parent_tree, runtime, report):
                outcome = "rolled-back"
        self.ledger.append("round.completed", {"round": number, "candidate": proposal.version, "outcome": outcome,
                                               "usage": runtime.meter.usage("round").model_dump()})
        return RoundResult(number, proposal.version, outcome)

    def _assessment(
        self, number: int, version: str, split: str, seed: int, tasks: list[Task], tree: dict[str, bytes],
        runtime: _Runtime, report: Report, stage: int | None = None,
    ) -> Assessment:
        for event in self.ledger.events("assessment.recorded"):
            p = event.payload
            if (p["round"], p["version"], p["split"], p.get("stage")) == (number, version, split, stage):
                return self.artifacts.get_record(p["artifact"], Assessment)
        label = f"{split}" + (f" (stage {stage})" if stage else "")
        report("assess", f"{version} answers {len(tasks)} {label} tasks in the sandbox")
        context = {"round": number, "version": version, "split": split, "stage": stage}
        result = assess(version, tasks, split, seed, runtime.runner(tree, "solve", context))
        digest = self.artifacts.put_record(result)
        figures = summary(result)
        self.ledger.append(
            "assessment.recorded",
            {"round": number, "version": version, "split": split, "stage": stage, "seed": seed, "artifact": digest,
             "summary": figures, "run_error": result.run_error},
        )
        report("assess", f"{version} {label}: {result.correct}/{result.n} correct, {figures['tokens']} tokens"
               + (f" — {result.run_error}" if result.run_error else ""))
        return result

    def _propose(
        self, number: int, parent: str, parent_tree: dict[str, bytes], dev: Assessment, runtime: _Runtime, report: Report
    ) -> tuple[Proposal, str | None]:
        candidate = f"v{len(self.rows()) + 1}"
        report("propose", f"{parent}'s improver proposes {candidate}")
        proposal, candidate_tree = propose(
            candidate=candidate,
            parent=parent,
            round=number,
            parent_tree=parent_tree,
            weakness=weakness_report(dev, self.config.assess.failures_shown),
            history=self._history(),
            run_improve=runtime.runner(parent_tree, "improve", {"round": number, "version": parent, "split": "improve"}),
        )
        commit = None
        if candidate_tree is not None:
            message = f"{candidate}: {proposal.rationale or 'proposed by ' + parent}"[:2000]
            commit = self.versions.commit(candidate_tree, parent=self.commit_of(parent), message=message)
        digest = self.artifacts.put_record(proposal)
        self.ledger.append(
            "proposal.recorded",
            {"round": number, "version": candidate, "parent": parent, "commit": commit, "artifact": digest,
             "rationale": proposal.rationale, "edits": len(proposal.edits), "errors": list(proposal.errors),
             "usage": proposal.usage.model_dump()},
        )
        detail = f"{len(proposal.edits)} edit(s)" + (f"; problems: {'; '.join(proposal.errors)}" if proposal.errors else "")
        report("propose", f"{candidate}: {proposal.rationale or '(no rationale)'} — {detail}")
        return proposal, commit

    def _verify(
        self, rnd: dict[str, Any], proposal: Proposal, parent_tree: dict[str, bytes],
        candidate_tree: dict[str, bytes] | None, runtime: _Runtime, report: Report,
    ) -> Verdict:
        cfg, number, version = self.config, rnd["round"], proposal.version
        results: list[GateResult] = []
        violations: list[str] = []

        def passed(gate: GateResult) -> bool:
            results.append(gate)
            report("verify", f"{version} {gate.name}: {'pass' if gate.passed else 'FAIL'} — {gate.summary}")
            return gate.passed

        # Static gates first: a bad edit is rejected before any of its code runs.
        if not (
            passed(gates.edit_hygiene(proposal, cfg.self_))
            and passed(gates.protected_integrity(proposal, parent_tree, candidate_tree, cfg.self_.protected))
            and candidate_tree is not None
            and passed(gates.capability_diff(parent_tree, candidate_tree, cfg.gates.capability))
        ):
            return self._record_verdict(number, version, results, violations)
        smoke_tasks = draw_tasks(cfg.assess, "smoke", cfg.gates.contract_tasks, rnd["smoke_seed"])
        smoke = assess(version, smoke_tasks, "smoke", rnd["smoke_seed"],
                       runtime.runner(candidate_tree, "solve", {"round": number, "version": version, "split": "smoke"}))
        violations = self._violations_of(number, version)
        if not passed(gates.contract(smoke)):
            return self._record_verdict(number, version, results, violations)
        # The rules come from the parent's alignment.toml: protected, so the candidate's is identical.
        alignment = load_alignment(parent_tree)
        probes = assess(version, alignment.probes, "probes", 0,
                        runtime.runner(candidate_tree, "solve", {"round": number, "version": version, "split": "probes"}))
        violations = self._violations_of(number, version)
        if not passed(gates.safety(probes, alignment.budgets, [smoke], violations)):
            return self._record_verdict(number, version, results, violations)
        # Staged benchmark on the round's fresh held-out tasks: stage one may reject early.
        rule, n, seed = cfg.gates.benchmark, cfg.assess.heldout_n, rnd["heldout_seed"]
        # Held-out tasks skip every dev question a proposer may have seen.
        heldout = draw_tasks(cfg.assess, "heldout", n, seed, self._dev_questions(up_to_round=number))
        cut = max(1, round(n * rule.first_stage_fraction)) if rule.staged and rule.first_stage_fraction < 1 else n
        stages = [(1, heldout[:cut])] + ([(2, heldout[cut:])] if cut < n else [])
        parent_parts: list[Assessment] = []
        candidate_parts: list[Assessment] = []
        for stage, tasks in stages:
            parent_parts.append(self._assessment(number, rnd["parent"], "heldout", seed, tasks, parent_tree, runtime, report, stage))
            candidate_parts.append(self._assessment(number, version, "heldout", seed, tasks, candidate_tree, runtime, report, stage))
            violations = self._violations_of(number, version)
            if stage == 1 and len(stages) > 1:
                early = gates.futile(parent_parts[0], candidate_parts[0], rule)
                if early is not None:
                    passed(early)
                    return self._record_verdict(number, version, results, violations)
        passed(gates.benchmark(merge(parent_parts), merge(candidate_parts), rule))
        return self._record_verdict(number, version, results, violations)

    def _canary(
        self, rnd: dict[str, Any], version: str, tree: dict[str, bytes], previous_tree: dict[str, bytes],
        runtime: _Runtime, report: Report,
    ) -> bool:
        """Re-assess the new deployment beside its predecessor on fresh tasks; roll back on a regression."""
        canary, number, previous = self.config.gates.canary, rnd["round"], rnd["parent"]
        if canary.tasks == 0:
            return False
        done = [e.payload for e in self.ledger.events("canary.recorded") if e.payload["round"] == number]
        if done:
            regressed = done[0]["regressed"]
        else:
            seed = rnd["canary_seed"]
            tasks = draw_tasks(self.config.assess, "heldout", canary.tasks, seed, self._dev_questions(up_to_round=number))
            new = self._assessment(number, version, "canary", seed, tasks, tree, runtime, report)
            old = self._assessment(number, previous, "canary", seed, tasks, previous_tree, runtime, report)
            test = mcnemar([o.correct for o in new.outcomes], [o.correct for o in old.outcomes])
            regressed = test.p_better < canary.alpha or new.run_error is not None
            self.ledger.append(
                "canary.recorded",
                {"round": number, "version": version, "previous": previous, "regressed": regressed,
                 "p_regression": round(test.p_better, 6), "accuracy": [round(new.accuracy, 4), round(old.accuracy, 4)]},
            )
            report("canary", f"{version} {new.correct}/{new.n} vs {previous} {old.correct}/{old.n} on fresh tasks"
                   f" (p regression = {test.p_better:.3g})" + (" — REGRESSION" if regressed else ""))
        if not regressed:
            return False
        if not any(e.payload.get("round") == number for e in self.ledger.events("version.rolled_back")):
            self.ledger.append(
                "version.rolled_back",
                {"round": number, "version": previous, "commit": rnd["commit"], "by": "policy:canary",
                 "reason": f"{version} regressed on fresh canary tasks"},
            )
        self.versions.set_deployed(rnd["commit"])
        report("deploy", f"{version} rolled back to {previous} by the canary")
        return True

    def _record_verdict(self, number: int, version: str, results: list[GateResult], violations: list[str]) -> Verdict:
        verdict = Verdict(version=version, gates=tuple(results), violations=tuple(dict.fromkeys(violations)))
        digest = self.artifacts.put_record(verdict)
        failed = verdict.failed_gate
        self.ledger.append(
            "verdict.recorded",
            {"round": number, "version": version, "passed": verdict.passed, "artifact": digest,
             "failed_gate": failed.name if failed else None,
             "summary": failed.summary if failed else results[-1].summary,
             "gates": [{"name": g.name, "passed": g.passed, "summary": g.summary} for g in results],
             "violations": list(verdict.violations)},
        )
        return verdict

    # ---- helpers --------------------------------------------------------------------------

    def _dev_questions(self, up_to_round: int | None = None) -> frozenset[str]:
        """Every dev question a proposer may have seen (in rounds up to `up_to_round`)."""
        questions: set[str] = set()
        for event in self.ledger.events("assessment.recorded"):
            p = event.payload
            if p["split"] == "dev" and p.get("round") is not None and (up_to_round is None or p["round"] <= up_to_round):
                questions.update(o.question for o in self.artifacts.get_record(p["artifact"], Assessment).outcomes)
        return frozenset(questions)

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

    def _violations_of(self, number: int, version: str) -> list[str]:
        """Every containment event of `version`'s runs in round `number`, from the ledger (so a resumed round keeps them)."""
        found: list[str] = []
        for event in self.ledger.events("sandbox.violation"):
            if (event.payload["round"], event.payload["version"]) == (number, version):
                found += event.payload["violations"]
        return list(dict.fromkeys(found))

    def _record_violations(self, context: dict[str, Any], command: str, violations: tuple[str, ...]) -> None:
        self.ledger.append("sandbox.violation", {**context, "command": command, "violations": list(violations)})

    def sandbox_exec(self, argv: list[str]) -> RunResult:
        """Run `argv` in exactly the sandbox a candidate gets, on a scratch copy of the deployed version."""
        version, commit = self.deployed()
        tree = self.versions.files(commit)
        with self._runtime() as runtime:
            workdir = scratch_copy(tree, runtime.scratch, prefix="exec-")
            try:
                env = {"RSILAB_LLM_SOCKET": str(runtime.broker.socket_path)}
                return runtime.guarded(lambda: runtime.sandbox.run(argv, workdir, limits=runtime.limits, env=env))
            finally:
                shutil.rmtree(workdir, ignore_errors=True)

    def _budget_spent(self, number: int | None, scope: str, why: str, runtime: _Runtime, report: Report) -> RoundResult:
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

    def _history(self) -> list[dict[str, Any]]:
        """Past proposals with their outcome, the reviewer's comment and the harness's errors on their
        edits (each phrased for the model, in full): fed to the next proposal."""
        history = []
        for row in self.rows().values():
            if row.round == 0 or row.state == "proposed":
                continue
            # When the edits failed, `errors` says why in full; the gate's summary would repeat it, cut short.
            summary = "" if row.errors else f": {row.verdict_summary}"
            outcome = f"{row.state}" + (f" at gate {row.failed_gate}{summary}" if row.failed_gate else "")
            history.append({"version": row.id, "rationale": row.rationale, "outcome": outcome, "comment": row.comment,
                            "errors": row.errors})
        return history

    def _pending_reviews(self) -> list[dict[str, Any]]:
        decided = {e.payload["version"] for e in self.ledger.events("decision.recorded")}
        return [e.payload for e in self.ledger.events("review.requested") if e.payload["version"] not in decided]

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
    def _runtime(self, report: Report = _quiet) -> Iterator[_Runtime]:
        socket_dir = Path(tempfile.mkdtemp(prefix="rsilab-"))  # short path: unix socket paths are limited to 108 bytes
        llm, box = self.config.llm, self.config.sandbox
        budget = Budget(llm.budget.max_calls, llm.budget.max_tokens, llm.budget.max_dollars, llm.budget.max_tokens_per_call)
        price = llm.price()
        # Round and experiment budgets are kept here; the broker keeps each candidate's.
        meter = MeteredProvider(self._provider or make_provider(llm), price, {"round": llm.round_budget, "experiment": llm.experiment_budget})
        meter.preload("experiment", self._spent_before())
        broker = Broker(
            meter, socket_dir / "llm.sock", budget=budget,
            prices=Prices(price.dollars_per_million_in, price.dollars_per_million_out),
        )
        limits = Limits(box.cpu_seconds, box.memory_mb, box.file_size_mb, box.open_files, box.processes, box.wall_seconds)
        warning = unsafe_warning(box.backend)
        if warning:
            warnings.warn(warning, stacklevel=3)
            report("sandbox", warning)
        try:
            with broker:
                sandbox = make_sandbox(box, llm_socket=broker.socket_path, protected=self.config.self_.protected)
                yield _Runtime(self, broker, meter, sandbox, limits)
        finally:
            shutil.rmtree(socket_dir, ignore_errors=True)


class _Runtime:
    """What a stage needs to run the self: the sandbox, the broker and the limits.

    Every run is bracketed by a manifest of what it must not change (the deployed self, its
    refs, the ledger) and its containment events go to the ledger as `sandbox.violation`.
    """

    def __init__(
        self, experiment: Experiment, broker: Broker, meter: MeteredProvider, sandbox: Sandbox, limits: Limits
    ) -> None:
        self.experiment, self.broker, self.meter, self.sandbox, self.limits = experiment, broker, meter, sandbox, limits
        self.scratch = experiment.root / STATE_DIR / "scratch"
        self.violations: list[str] = []  # of the last run

    def runner(
        self, tree: dict[str, bytes], command: str, context: dict[str, Any] | None = None,
        on_progress: Progress | None = None,
    ) -> Callable[[bytes], Any]:
        def run(payload: bytes) -> Any:
            result = self.guarded(lambda: run_self(tree, command, payload, sandbox=self.sandbox, broker=self.broker,
                                                   limits=self.limits, scratch_root=self.scratch,
                                                   on_progress=on_progress))
            self.violations = list(result.result.violations)
            if self.violations and context is not None:
                self.experiment._record_violations(context, command, result.result.violations)
            if refused := self.meter.refused():  # the run went without calls it needed: its result is not kept
                raise BudgetExceeded(refused[1])
            return result

        return run

    def guarded(self, run: Callable[[], Any]) -> Any:
        """Run, then fail loudly if the deployed self, its refs or the ledger changed meanwhile."""
        before = state_manifest(self.experiment.root)
        result = run()
        moved = changed(before, state_manifest(self.experiment.root))
        if moved:
            raise SandboxError(f"a sandboxed run changed what it must not: {', '.join(moved[:5])} — "
                               "stop and inspect the experiment; `rsilab ledger verify` checks the ledger")
        return result


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
