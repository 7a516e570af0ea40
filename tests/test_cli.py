"""The command line, driven as a person would: real processes on a real experiment."""

from __future__ import annotations

import sqlite3
import subprocess
import sys
from pathlib import Path

from conftest import demo_config

from rsilab.experiment import Experiment
from rsilab.records import VersionState


def rsilab(*args: str, cwd: Path | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "rsilab.cli", *args], capture_output=True, text=True, cwd=cwd)


def _human_review_experiment(tmp_path: Path) -> Experiment:
    config = demo_config().replace('autonomy = "policy"', 'autonomy = "human"')
    return Experiment.init(tmp_path / "exp", "agent", config_text=config)


def test_person_approves_via_cli_and_the_approval_is_recorded_and_deployed(tmp_path: Path):
    exp = _human_review_experiment(tmp_path)
    first = rsilab("run", "--rounds", "3", "-C", str(exp.root))
    assert first.returncode == 3, first.stderr  # stopped: v4 awaits a person
    assert [p["version"] for p in exp.pending_reviews()] == ["v4"]
    assert exp.versions.deployed() == exp.commit_of("v1")

    listed = rsilab("review", "-C", str(exp.root))
    assert "v4" in listed.stdout and "benchmark" in listed.stdout

    decided = rsilab("review", "v4", "--approve", "-m", "clean fix", "--by", "ada", "-C", str(exp.root))
    assert decided.returncode == 0, decided.stderr
    decision = [e.payload for e in exp.events("decision.recorded") if e.payload["version"] == "v4"]
    assert decision == [{"round": 3, "version": "v4", "approved": True, "by": "person:ada", "comment": "clean fix"}]
    assert exp.versions.deployed() == exp.commit_of("v4")
    assert exp.rows()["v4"].state == VersionState.DEPLOYED


def test_person_rejects_and_the_comment_reaches_the_next_proposal(tmp_path: Path):
    exp = _human_review_experiment(tmp_path)
    rsilab("run", "--rounds", "3", "-C", str(exp.root))
    assert rsilab("review", "v4", "--reject", "-m", "needs a test first", "-C", str(exp.root)).returncode == 0
    assert exp.versions.deployed() == exp.commit_of("v1")
    history = exp._history()
    assert {"version": "v4", "comment": "needs a test first"}.items() <= next(h for h in history if h["version"] == "v4").items()


def test_rollback_is_an_event_and_keeps_history(tmp_path: Path):
    exp = Experiment.init(tmp_path / "exp", "agent", config_text=demo_config())
    exp.run(3)
    result = rsilab("rollback", "v1", "-m", "canary regressed", "-C", str(exp.root))
    assert result.returncode == 0, result.stderr
    assert exp.versions.deployed() == exp.commit_of("v1")
    assert exp.versions.tagged("v4") == exp.commit_of("v4")  # nothing rewritten
    assert exp.events("version.rolled_back")[-1].payload["version"] == "v1"
    refused = rsilab("rollback", "v3", "-C", str(exp.root))
    assert refused.returncode == 1 and "never deployed" in refused.stderr


def test_ledger_verify_cli_names_the_edited_event(tmp_path: Path):
    exp = Experiment.init(tmp_path / "exp", "agent", config_text=demo_config())
    assert rsilab("ledger", "verify", "-C", str(exp.root)).returncode == 0
    with sqlite3.connect(exp.root / ".rsilab" / "ledger.db") as conn:
        conn.execute("DROP TRIGGER IF EXISTS events_no_update")
        for (name,) in conn.execute("SELECT name FROM sqlite_master WHERE type = 'trigger'").fetchall():
            conn.execute(f"DROP TRIGGER {name}")
        conn.execute("UPDATE events SET payload = '{\"template\": \"evil\", \"config\": \"\"}' WHERE seq = 1")
    broken = rsilab("ledger", "verify", "-C", str(exp.root))
    assert broken.returncode == 1
    assert "event 1" in broken.stdout


def test_bad_config_exits_2_with_a_message_not_a_traceback(tmp_path: Path):
    (tmp_path / "rsilab.toml").write_text("[sandbox]\nmemory_mb = 1\n")
    result = rsilab("config", "check", "-C", str(tmp_path))
    assert result.returncode == 2
    assert "sandbox.memory_mb = 1" in result.stderr and "Traceback" not in result.stderr


def test_diff_shows_the_code_change_between_versions(tmp_path: Path):
    exp = Experiment.init(tmp_path / "exp", "agent", config_text=demo_config())
    exp.run(3)
    result = rsilab("diff", "v1", "v4", "-C", str(exp.root))
    assert "+    terms.append(sign * product)" in result.stdout


def test_init_refuses_a_non_empty_directory(tmp_path: Path):
    (tmp_path / "x").mkdir()
    (tmp_path / "x" / "keep.txt").write_text("mine")
    result = rsilab("init", str(tmp_path / "x"))
    assert result.returncode == 1 and "not empty" in result.stderr
    assert (tmp_path / "x" / "keep.txt").read_text() == "mine"


def test_run_candidates_flag_and_log_shows_the_archive_as_a_tree(tmp_path: Path):
    from search_scripts import search_config

    root = Experiment.init(tmp_path / "exp", "agent", config_text=search_config(candidates=1)).root
    done = rsilab("run", "--rounds", "1", "--candidates", "4", "-C", str(root))
    assert done.returncode == 0, done.stderr
    assert Experiment(root).events("round.started")[0].payload["candidates"] == 4  # the flag, not the file's 1

    shown = rsilab("log", "-C", str(root))
    assert shown.returncode == 0, shown.stderr
    tree = shown.stdout[shown.stdout.index("archive"):]
    lines = [" ".join(line.split()) for line in tree.splitlines()]
    assert any(line.startswith("└── v1 was deployed held-out") for line in lines), tree
    assert any("v3 candidate 2/4 of round 1 contract" in line for line in lines), tree
    assert any("v4 candidate 3/4 of round 1 deployed now held-out" in line for line in lines), tree

    refused = rsilab("run", "--parent", "oldest", "-C", str(root))
    assert refused.returncode == 2 and "deployed" in refused.stderr


def test_log_funnel_counts_how_far_each_rounds_candidates_got(tmp_path: Path):
    from search_scripts import search_config

    root = Experiment.init(tmp_path / "exp", "agent", config_text=search_config(candidates=4)).root
    assert rsilab("run", "--rounds", "1", "-C", str(root)).returncode == 0
    shown = rsilab("log", "--funnel", "-C", str(root))
    assert shown.returncode == 0, shown.stderr
    row = next(line.split() for line in shown.stdout.splitlines() if line.split()[:1] == ["1"])
    # proposed, parsed, applied, contract, safety, benchmark, deployed: the fix alone got all the way.
    assert row == ["1", "4", "4", "4", "2", "2", "1", "1"], shown.stdout
    assert "round 1 stopped at: benchmark ×1, contract ×1, protected-integrity ×1" in shown.stdout
