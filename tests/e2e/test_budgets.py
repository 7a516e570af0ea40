"""Round and experiment LLM budgets on real rounds: a clean stop, a ledger event, and a resume when raised."""

from __future__ import annotations

from pathlib import Path

import pytest
from conftest import demo_config

from rsilab.experiment import Experiment
from rsilab.round.code import start_round


def _with_experiment_budget(max_calls: int) -> str:
    return demo_config() + f"\n[llm.experiment_budget]\nmax_calls = {max_calls}\n"


@pytest.mark.slow
def test_spent_experiment_budget_stops_cleanly_with_an_event_and_a_raised_budget_goes_on(tmp_path: Path):
    exp = Experiment.init(tmp_path / "exp", "agent", config_text=_with_experiment_budget(1))

    # Round 1's proposal spends the one call: no second round is started.
    assert [r.outcome for r in exp.run(3)] == ["rejected", "budget-spent"]
    stop = exp.events("budget.exhausted")[-1].payload
    assert (stop["round"], stop["scope"], stop["reason"]) == (2, "experiment", "experiment budget spent: 1 of 1 calls")
    assert [e.payload["round"] for e in exp.events("round.started")] == [1]

    # A round already under way (as after a crash) stops inside its proposal stage, which records nothing.
    start_round(exp, lambda stage, message: None)
    assert [r.outcome for r in exp.run(3)] == ["budget-spent"]
    assert len(exp.events("budget.exhausted")) == 2
    assert [e.payload["round"] for e in exp.events("proposal.recorded")] == [1]

    # With a larger budget the same experiment resumes where it stopped and finishes as the demo does.
    (exp.root / "rsilab.toml").write_text(_with_experiment_budget(10))
    resumed = Experiment(exp.root)
    resumed.run(3)
    completed = [e.payload for e in resumed.events("round.completed")]
    assert [p["outcome"] for p in completed] == ["rejected", "rejected", "deployed"]
    # Trusted counts: one proposal call a round; round 3's candidate also meets the safety gate, whose
    # 3 probes each take an answer and a verification call (the template's `verify` step).
    assert [p["usage"]["calls"] for p in completed] == [1, 1, 1 + 3 * 2]
    assert resumed.ledger.verify().ok

    # A later run counts what earlier runs spent, from the ledger: nine calls of nine leave no fourth round.
    (exp.root / "rsilab.toml").write_text(_with_experiment_budget(9))
    assert [r.outcome for r in Experiment(exp.root).run(4)] == ["budget-spent"]
    assert exp.events("budget.exhausted")[-1].payload["reason"] == "experiment budget spent: 9 of 9 calls"
