"""The weights loop for real: a tiny transformer trained in the sandbox, scored and gated by the harness."""

from __future__ import annotations

import tomllib
from importlib import resources
from pathlib import Path

import pytest
import tomli_w

pytest.importorskip("torch", reason="needs the `weights` extra")

from rsilab.experiment import Experiment  # noqa: E402
from rsilab.records import Assessment, Verdict  # noqa: E402

TEMPLATE = resources.files("rsilab") / "templates" / "transformer"

CONFIG = """
[experiment]
template = "transformer"

[weights]
original_digits = 2
pretrain_examples = 20000
assess_per_length = 400  # McNemar needs this many to see a gain of a few points at p < 0.05
lookahead = 2
generate_n = 6000
replay_n = 3000
filters = [{filters}]
device = "cpu"
seed = 7  # reproducible on one machine (single-thread CPU torch); other CPUs round floats differently

[sandbox]
cpu_seconds = 900
memory_mb = 16384
wall_seconds = 900

[review]
autonomy = "policy"
"""


def _recipe(new_data_share: float) -> bytes:
    """The template's recipe with fewer refining steps, so a round takes about a minute.

    Pretraining keeps the template's 2,000 steps: fewer leave 2-digit accuracy near the 95 %
    threshold, and then float differences between CPUs decide whether the target is 2 or 3 digits
    (seen in CI). With 2,000 every seed tried learns 1–2 digits fully and lands at 3 digits with
    5–15 % right, from which one round gains 5–37 points.
    """
    recipe = tomllib.loads((TEMPLATE / "recipe.toml").read_text())
    recipe["refine"]["steps"] = 400
    recipe["pretrain"]["position_slack"] = recipe["refine"]["position_slack"] = 3
    recipe["refine"]["new_data_share"] = new_data_share
    recipe["generate"]["lengths_past_frontier"] = 0  # every new problem at the frontier itself
    return tomli_w.dumps(recipe).encode()


# A planted fault in the self's labeller: every label it hands over is a random number of the
# right length, so the length filter passes it and training learns noise.
NOISY_LABELS = '''
_clean_generate = generate_command


def generate_command(request: dict, device: str) -> dict:
    noise = __import__("random").Random(request["seed"])
    examples = _clean_generate(request, device)["examples"]
    return {"examples": [[q, str(noise.randint(10 ** max(0, len(a) - 1), 10 ** max(1, len(a)) - 1))] for q, a in examples]}


'''


def _experiment(root: Path, filters: str, new_data_share: float, noisy: bool = False) -> Experiment:
    files = {"recipe.toml": _recipe(new_data_share)}
    if noisy:
        main = (TEMPLATE / "main.py").read_text()
        files["main.py"] = main.replace('if __name__ == "__main__":', NOISY_LABELS + 'if __name__ == "__main__":').encode()
    return Experiment.init(root, "transformer", config_text=CONFIG.format(filters=filters), files=files)


def _heldout(exp: Experiment, version: str) -> Assessment:
    event = next(e.payload for e in exp.events("assessment.recorded")
                 if e.payload["version"] == version and e.payload["split"] == "heldout")
    return exp.artifacts.get_record(event["artifact"], Assessment)


def _accuracy_at(assessment: Assessment, length: int) -> float:
    outcomes = [o for o in assessment.outcomes if o.difficulty == length]
    return sum(o.correct for o in outcomes) / len(outcomes)


@pytest.mark.slow
def test_one_round_raises_heldout_accuracy_at_the_targeted_length(tmp_path: Path):
    exp = _experiment(tmp_path / "exp", '"exact"', new_data_share=0.5)
    [result] = exp.run(1)

    done = exp.events("round.completed")[0].payload
    target = done["target"]
    parent, candidate = _heldout(exp, "v1"), _heldout(exp, "v2")
    assert parent.seed == candidate.seed  # the same fresh problems for both
    verdict = exp.events("verdict.recorded")[0].payload
    assert _accuracy_at(candidate, target) > _accuracy_at(parent, target), verdict["summary"]
    assert verdict["passed"], [g["summary"] for g in verdict["gates"]]
    assert [g["name"] for g in verdict["gates"]][-1] == "targeted-length"  # McNemar p < 0.05
    assert result.outcome == "deployed" and exp.rows()["v2"].state == "deployed"
    # A new version is new weights on the same code, stored content-addressed and named in the ledger.
    proposal = exp.events("proposal.recorded")[0].payload
    assert proposal["weights"] != exp.events("weights.pretrained")[0].payload["weights"]
    assert exp.artifacts.get_bytes(proposal["weights"])[:8]  # the safetensors file itself
    assert exp.versions.files(exp.commit_of("v2")) == exp.versions.files(exp.commit_of("v1"))
    # The labels trained on were the self's own answers, all verified by the harness.
    data = exp.events("data.generated")[0].payload
    assert data["kept"] > 0 and data["kept_label_accuracy"] == 1.0 and data["label_accuracy"] < 1.0
    assert exp.ledger.verify().ok
    count = len(exp.events())
    exp.run(1)  # finished: nothing is redone
    assert len(exp.events()) == count


@pytest.mark.slow
def test_planted_collapse_of_noisy_self_labels_is_rejected_by_the_gates(tmp_path: Path):
    exp = _experiment(tmp_path / "exp", '"length"', new_data_share=0.8, noisy=True)
    [result] = exp.run(1)

    data = exp.events("data.generated")[0].payload
    assert data["kept"] > 0 and data["kept_label_accuracy"] < 0.2  # the length filter let the noise through
    verdict = exp.events("verdict.recorded")[0].payload
    assert not verdict["passed"] and verdict["failed_gate"] in {"original-range", "targeted-length"}
    assert result.outcome == "rejected"
    assert exp.deployed()[0] == "v1" and exp.versions.deployed() == exp.commit_of("v1")


# A planted runaway in the self's refining: pretraining is honest, every later training run spins.
RUNAWAY_REFINE = '''
_honest_train = train_command


def train_command(request: dict, device: str) -> dict:
    if request["init"] is not None:
        while True:
            pass
    return _honest_train(request, device)


'''


@pytest.mark.slow
def test_a_limit_hit_while_training_is_a_recorded_violation_of_the_candidate(tmp_path: Path):
    recipe = tomllib.loads((TEMPLATE / "recipe.toml").read_text())
    recipe["pretrain"]["steps"] = 30
    main = (TEMPLATE / "main.py").read_text().replace('if __name__ == "__main__":', RUNAWAY_REFINE + 'if __name__ == "__main__":')
    config = (CONFIG.format(filters='"exact"').replace("cpu_seconds = 900", "cpu_seconds = 20")
              .replace("pretrain_examples = 20000", "pretrain_examples = 2000").replace("assess_per_length = 400", "assess_per_length = 20")
              .replace("generate_n = 6000", "generate_n = 50").replace("replay_n = 3000", "replay_n = 100"))
    exp = Experiment.init(tmp_path / "exp", "transformer", config_text=config,
                          files={"recipe.toml": tomli_w.dumps(recipe).encode(), "main.py": main.encode()})
    exp.run(1, report=lambda *_: None)
    recorded = [e.payload for e in exp.events("sandbox.violation")]
    assert [(p["command"], p["versions"]) for p in recorded] == [("train", ["v2"])], recorded
    assert "cpu-limit" in recorded[0]["violations"]
    event = next(e.payload for e in exp.events("verdict.recorded") if e.payload["version"] == "v2")
    verdict = exp.artifacts.get_record(event["artifact"], Verdict)
    assert "cpu-limit" in verdict.violations and not event["passed"]
    assert exp.rows()["v2"].state == "rejected"
