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
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from importlib import resources
from pathlib import Path
from typing import Any

from rsilab.assess import tasks as task_suites
from rsilab.assess.metrics import summary
from rsilab.assess.runner import assess
from rsilab.assess.weakness import weakness_report
from rsilab.config import CONFIG_FILE, Config, load_config
from rsilab.errors import RsilabError, StoreError
from rsilab.llm.factory import make_provider
from rsilab.propose.stage import propose
from rsilab.records import Assessment, Decision, Event, GateResult, Proposal, Verdict
from rsilab.review.policy import decide
from rsilab.sandbox.broker import Broker, Budget, Prices
from rsilab.sandbox.process import Limits, ProcessSandbox
from rsilab.sandbox.selfrun import run_self
from rsilab.store.artifacts import ArtifactStore
from rsilab.store.history import VersionRow, deployed_version, version_rows
from rsilab.store.ledger import Ledger
from rsilab.store.versions import VersionStore
from rsilab.verify import gates

STATE_DIR = ".rsilab"
SELF_DIR = "self"

Report = Callable[[str, str], None]  # (stage, message) → shown to a person


def _quiet(stage: str, message: str) -> None:
    pass


@dataclass(frozen=True)
class RoundResult:
    round: int
    candidate: str | None
    outcome: str  # "deployed", "rejected", "awaiting-review"


class Experiment:
    def __init__(self, root: Path) -> None:
        self.root = root.resolve()
        self.config: Config = load_config(self.root / CONFIG_FILE)
        state = self.root / STATE_DIR
        if not (self.root / SELF_DIR).is_dir() or not state.is_dir():
            raise StoreError(f"{self.root} is not an rsilab experiment (no {SELF_DIR}/ or {STATE_DIR}/): run `rsilab init`")
        self.ledger = Ledger(state / "ledger.db", state / "ledger.head")
        self.artifacts = ArtifactStore(state / "artifacts")
        self.versions = VersionStore(self.root / SELF_DIR)

    # ---- creating -------------------------------------------------------------------------

    @classmethod
    def init(
        cls, root: Path, template: str = "agent", config_text: str | None = None, files: dict[str, bytes] | None = None
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
        experiment = cls(root)
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
        with self._lock(), self._runtime() as runtime:
            self._reconcile_deployed(report)
            while True:
                current = self._open_round()
                if current is None:
                    if len(self.ledger.events("round.completed")) >= rounds:
                        break
                    current = self._start_round(report)
                result = self._finish_round(current, runtime, report)
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
        seeds = {name: secrets.randbelow(2**31) for name in ("dev_seed", "heldout_seed", "smoke_seed")}
        payload = {"round": number, "parent": parent, "commit": commit, **seeds}
        self.ledger.append("round.started", payload)
        report("round", f"round {number} starts from {parent}")
        return payload

    def _finish_round(self, rnd: dict[str, Any], runtime: _Runtime, report: Report) -> RoundResult:
        number, parent, parent_commit = rnd["round"], rnd["parent"], rnd["commit"]
        in_round = lambda kind: [e.payload for e in self.ledger.events(kind) if e.payload.get("round") == number]  # noqa: E731
        parent_tree = self.versions.files(parent_commit)
        cfg = self.config

        # 1. assess the parent on the dev split: its failures are what the proposer may see.
        dev = self._assessment(number, parent, "dev", rnd["dev_seed"], cfg.assess.dev_n, parent_tree, runtime, report)

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
        self.ledger.append("round.completed", {"round": number, "candidate": proposal.version, "outcome": outcome})
        return RoundResult(number, proposal.version, outcome)

    def _assessment(
        self, number: int, version: str, split: str, seed: int, n: int, tree: dict[str, bytes], runtime: _Runtime, report: Report
    ) -> Assessment:
        for event in self.ledger.events("assessment.recorded"):
            p = event.payload
            if p["round"] == number and p["version"] == version and p["split"] == split:
                return self.artifacts.get_record(p["artifact"], Assessment)
        tasks = task_suites.generate(self.config.assess.suite, n, seed, self.config.assess.difficulties)
        report("assess", f"{version} answers {n} {split} tasks in the sandbox")
        result = assess(version, tasks, split, seed, runtime.runner(tree, "solve"))
        digest = self.artifacts.put_record(result)
        figures = summary(result)
        self.ledger.append(
            "assessment.recorded",
            {"round": number, "version": version, "split": split, "seed": seed, "artifact": digest, "summary": figures,
             "run_error": result.run_error},
        )
        report("assess", f"{version} {split}: {result.correct}/{result.n} correct, {figures['tokens']} tokens"
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
            run_improve=runtime.runner(parent_tree, "improve"),
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
        if (
            passed(gates.edit_hygiene(proposal, cfg.self_))
            and passed(gates.protected_integrity(proposal, parent_tree, candidate_tree, cfg.self_.protected))
            and candidate_tree is not None
            and passed(gates.capability_diff(parent_tree, candidate_tree))
        ):
            smoke_tasks = task_suites.generate(cfg.assess.suite, cfg.gates.contract_tasks, rnd["smoke_seed"], cfg.assess.difficulties)
            smoke = assess(version, smoke_tasks, "smoke", rnd["smoke_seed"], runtime.runner(candidate_tree, "solve"))
            violations += runtime.violations
            if passed(gates.contract(smoke)):
                n, seed = cfg.assess.heldout_n, rnd["heldout_seed"]
                parent_heldout = self._assessment(number, rnd["parent"], "heldout", seed, n, parent_tree, runtime, report)
                candidate_heldout = self._assessment(number, version, "heldout", seed, n, candidate_tree, runtime, report)
                violations += runtime.violations
                passed(gates.benchmark(parent_heldout, candidate_heldout, cfg.gates.benchmark))
        verdict = Verdict(version=version, gates=tuple(results), violations=tuple(violations))
        digest = self.artifacts.put_record(verdict)
        failed = verdict.failed_gate
        self.ledger.append(
            "verdict.recorded",
            {"round": number, "version": version, "passed": verdict.passed, "artifact": digest,
             "failed_gate": failed.name if failed else None,
             "summary": failed.summary if failed else results[-1].summary,
             "gates": [{"name": g.name, "passed": g.passed, "summary": g.summary} for g in results]},
        )
        return verdict

    # ---- helpers --------------------------------------------------------------------------

    def _history(self) -> list[dict[str, Any]]:
        """Past proposals with their outcome and the reviewer's comment: fed to the next proposal."""
        history = []
        for row in self.rows().values():
            if row.round == 0 or row.state == "proposed":
                continue
            outcome = f"{row.state}" + (f" at gate {row.failed_gate}: {row.verdict_summary}" if row.failed_gate else "")
            history.append({"version": row.id, "rationale": row.rationale, "outcome": outcome, "comment": row.comment})
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
            yield

    @contextmanager
    def _runtime(self) -> Iterator[_Runtime]:
        socket_dir = Path(tempfile.mkdtemp(prefix="rsilab-"))  # short path: unix socket paths are limited to 108 bytes
        llm, box = self.config.llm, self.config.sandbox
        budget = Budget(llm.budget.max_calls, llm.budget.max_tokens, llm.budget.max_dollars, llm.budget.max_tokens_per_call)
        broker = Broker(
            make_provider(llm), socket_dir / "llm.sock", budget=budget,
            prices=Prices(llm.dollars_per_million_in, llm.dollars_per_million_out),
        )
        limits = Limits(box.cpu_seconds, box.memory_mb, box.file_size_mb, box.open_files, box.processes, box.wall_seconds)
        try:
            with broker:
                yield _Runtime(broker, limits, self.root / STATE_DIR / "scratch")
        finally:
            shutil.rmtree(socket_dir, ignore_errors=True)


class _Runtime:
    """What a stage needs to run the self: the sandbox, the broker and the limits."""

    def __init__(self, broker: Broker, limits: Limits, scratch: Path) -> None:
        self.broker, self.limits, self.scratch = broker, limits, scratch
        self.sandbox = ProcessSandbox()
        self.violations: list[str] = []

    def runner(self, tree: dict[str, bytes], command: str) -> Callable[[bytes], Any]:
        def run(payload: bytes) -> Any:
            result = run_self(tree, command, payload, sandbox=self.sandbox, broker=self.broker, limits=self.limits,
                              scratch_root=self.scratch)
            self.violations = list(result.result.violations)
            return result

        return run


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
