"""Rounds into MLflow: one run per round in a real file store; a server down or stalled never fails a round."""

from __future__ import annotations

import socket
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest
from conftest import demo_config
from interop_lab import free_port, need

from rsilab.experiment import Experiment


def runs_in(uri: str, experiment: str = "demo-agent") -> dict[int, object]:
    import mlflow

    mlflow.set_tracking_uri(uri)
    runs = mlflow.search_runs(experiment_names=[experiment], output_format="list")
    by_round = {int(r.data.tags["rsilab.round"]): r for r in runs}
    assert len(by_round) == len(runs), "one run per round"
    return by_round


def export_mlflow(exp: Experiment, *args: str) -> str:
    done = subprocess.run([sys.executable, "-m", "rsilab.cli", "export", "mlflow", *args, "-C", str(exp.root)],
                          capture_output=True, text=True, timeout=120, cwd=exp.root)
    assert done.returncode == 0, done.stderr
    return done.stdout


def test_a_file_store_after_three_rounds_holds_one_run_per_round_with_its_figures(inspect_round: Experiment,
                                                                                   monkeypatch: pytest.MonkeyPatch):
    monkeypatch.setenv("MLFLOW_ALLOW_FILE_STORE", "true")
    exp = inspect_round
    uri = exp.config.tracking.mlflow
    assert uri.startswith("file:///") and uri.endswith("/exp/mlruns")  # file:./mlruns, beside rsilab.toml
    runs = runs_in(uri)
    assert sorted(runs) == [1, 2, 3] and not exp.events("tracking.failed")
    started = {e.payload["round"]: e.payload for e in exp.events("round.started")}
    for number, run in runs.items():
        data = run.data
        assert run.info.status == "FINISHED" and data.tags["rsilab.complete"] == "true"
        assert data.params["parent"] == "v1" and data.params["seed.heldout_seed"] == str(started[number]["heldout_seed"])
        assert data.params["config.assess.suite"].startswith("inspect:") and data.params["config.assess.suite"].endswith("@precedence")
        assert data.metrics["tokens"] > 0 and data.metrics["calls"] >= 1 and "dollars" in data.metrics
        assert data.metrics["seconds"] > 0 and data.metrics["dev_accuracy_low"] <= data.metrics["dev_accuracy"]
    r3 = runs[3].data
    assert r3.tags["rsilab.outcome"] == "deployed" and r3.metrics["deployed"] == 1.0
    assert r3.metrics["candidate_heldout_accuracy"] == 1.0 > r3.metrics["parent_heldout_accuracy"]
    assert r3.metrics["candidate_heldout_accuracy_low"] < 1.0 == r3.metrics["candidate_heldout_accuracy_high"]
    assert r3.metrics["gate.benchmark"] == 1.0 and r3.metrics["p_better.benchmark"] < 0.05
    assert runs[1].data.metrics["gate.protected-integrity"] == 0.0
    assert runs[2].data.tags["rsilab.gate.v3.contract"].startswith("failed: ")
    import mlflow

    diff = mlflow.artifacts.load_text(f"{runs[3].info.artifact_uri}/diffs/v4.patch")
    verdict = mlflow.artifacts.load_text(f"{runs[3].info.artifact_uri}/verdicts/v4.json")
    assert "+    terms.append(sign * product)" in diff and '"benchmark"' in verdict
    # A replay finds every round there and adds nothing.
    assert "0 round(s) logged, 3 already" in export_mlflow(exp)
    assert sorted(runs_in(uri)) == [1, 2, 3]


def tracked_demo(root: Path, uri: str, timeout: float) -> Experiment:
    tracking = f'\n[tracking]\nmlflow = "{uri}"\ntimeout_seconds = {timeout}\n'
    return Experiment.init(root, "agent", config_text=demo_config() + tracking)


def test_a_closed_port_never_fails_the_round_and_export_mlflow_fills_the_store_later(tmp_path: Path,
                                                                                    monkeypatch: pytest.MonkeyPatch):
    need("mlflow")
    exp = tracked_demo(tmp_path / "exp", f"http://127.0.0.1:{free_port()}", timeout=10)
    results = exp.run(2)
    assert [r.outcome for r in results] == ["rejected", "rejected"]  # the rounds' own story, untouched
    failed = [e.payload for e in exp.events("tracking.failed")]
    assert [f["round"] for f in failed] == [1, 2] and all(f["sink"] == "mlflow" and f["error"] for f in failed)
    # The ledger kept everything: the store is filled from it once one is reachable.
    out = export_mlflow(exp, "--uri", "file:./mlruns")
    assert "2 round(s) logged, 0 already" in out
    monkeypatch.setenv("MLFLOW_ALLOW_FILE_STORE", "true")
    runs = runs_in((exp.root / "mlruns").as_uri())
    assert sorted(runs) == [1, 2] and runs[2].data.metrics["gate.contract"] == 0.0
    assert "0 round(s) logged, 2 already" in export_mlflow(exp, "--uri", "file:./mlruns")
    # A run an interrupted attempt left without its last tag is replaced, never kept beside a new one.
    import mlflow

    mlflow.MlflowClient().delete_tag(runs[1].info.run_id, "rsilab.complete")
    assert "1 round(s) logged, 1 already" in export_mlflow(exp, "--uri", "file:./mlruns")
    again = runs_in((exp.root / "mlruns").as_uri())
    assert sorted(again) == [1, 2] and again[1].info.run_id != runs[1].info.run_id


@contextmanager
def stalled_server() -> Iterator[int]:
    """A real listener that accepts connections and never answers (a hung tracking server)."""
    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    listener.listen(16)
    held: list[socket.socket] = []
    stop = threading.Event()

    def accept() -> None:
        listener.settimeout(0.2)
        while not stop.is_set():
            try:
                held.append(listener.accept()[0])
            except OSError:
                continue

    thread = threading.Thread(target=accept, daemon=True)
    thread.start()
    try:
        yield listener.getsockname()[1]
    finally:
        stop.set()
        thread.join(5)
        for conn in held:
            conn.close()
        listener.close()


def test_a_stalled_tracking_server_costs_a_round_at_most_its_timeout(tmp_path: Path):
    need("mlflow")
    with stalled_server() as port:
        exp = tracked_demo(tmp_path / "exp", f"http://127.0.0.1:{port}", timeout=2)
        start = time.monotonic()
        results = exp.run(1)
        took = time.monotonic() - start
    assert [r.outcome for r in results] == ["rejected"]
    failed = exp.events("tracking.failed")
    assert len(failed) == 1 and "no answer within 2 s" in failed[0].payload["error"]
    assert took < 60  # a round is ~2 s and the wait 2 s; MLflow's own retries would take minutes


@pytest.mark.slow
def test_a_weights_round_logs_its_frontier_and_held_out_accuracy(tmp_path: Path, monkeypatch: pytest.MonkeyPatch):
    need("mlflow")
    pytest.importorskip("torch", reason="needs the `weights` extra")
    from weights.test_loop import CONFIG, _recipe

    config = CONFIG.format(filters='"exact"') + '\n[tracking]\nmlflow = "file:./mlruns"\n'
    exp = Experiment.init(tmp_path / "exp", "transformer", config_text=config, files={"recipe.toml": _recipe(0.5)})
    exp.run(1)
    done = exp.events("round.completed")[0].payload
    monkeypatch.setenv("MLFLOW_ALLOW_FILE_STORE", "true")
    [run] = runs_in(exp.config.tracking.mlflow, "experiment").values()
    metrics = run.data.metrics
    assert (metrics["target"], metrics["frontier"]) == (done["target"], done["frontier"])
    assert 0 <= metrics["candidate_heldout_accuracy_low"] <= metrics["candidate_heldout_accuracy"] <= 1
    assert run.data.tags["rsilab.outcome"] == done["outcome"] and "seed.train_seed" in run.data.params
    assert 0 <= metrics["p_better.targeted-length"] <= 1  # the loop's paired test at the targeted length
