"""Assessments as Inspect logs: read back by inspect_ai intact, and listed by a real `inspect view` server."""

from __future__ import annotations

import json
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pytest
from interop_lab import free_port

from rsilab.experiment import Experiment
from rsilab.records import Assessment

CHROMIUM = Path("/usr/bin/chromium")
CHROMIUM_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-component-update",
                 "--disable-sync", "--no-first-run"]
SCREENSHOTS = Path(__file__).resolve().parents[2] / "artifacts" / "ui"


def export(exp: Experiment, out: Path, *args: str) -> list[Path]:
    """The command a user types; its --json output names the files it wrote."""
    done = subprocess.run([sys.executable, "-m", "rsilab.cli", "export", "inspect", *args, "--out", str(out),
                           "--json", "-C", str(exp.root)], capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    return [Path(p) for p in json.loads(done.stdout)]


def test_every_assessment_reads_back_with_each_samples_exact_score_and_trusted_usage(inspect_round: Experiment, tmp_path: Path):
    from inspect_ai.log import read_eval_log

    exp = inspect_round
    events = exp.events("assessment.recorded")
    paths = export(exp, tmp_path / "logs")
    assert len(paths) == len(events) and {p.suffix for p in paths} == {".eval"}
    by_seq = {int(p.stem.rsplit("_e", 1)[1]): p for p in paths}
    tokens_seen = 0
    for event in events:
        assessment = exp.artifacts.get_record(event.payload["artifact"], Assessment)
        log = read_eval_log(str(by_seq[event.seq]))
        meta = log.eval.metadata["rsilab"]
        assert (meta["version"], meta["round"], meta["seed"], meta["split"]) == (
            assessment.version, event.payload["round"], assessment.seed, assessment.split)
        assert meta["experiment"] == "demo-agent" and meta["ledger_event"]["hash"] == event.hash
        assert meta["parent"] == exp.rows()[assessment.version].parent
        assert log.eval.model == f"rsilab/{assessment.version}"
        assert log.results.scores[0].metrics["accuracy"].value == assessment.accuracy
        usage = log.stats.model_usage[log.eval.model]
        assert (usage.input_tokens, usage.output_tokens) == (assessment.usage.tokens_in, assessment.usage.tokens_out)
        outcomes = {o.task_id: o for o in assessment.outcomes}
        assert sorted(str(s.id) for s in log.samples) == sorted(outcomes)
        for sample in log.samples:
            outcome = outcomes[str(sample.id)]
            assert (sample.input, sample.target) == (outcome.question, outcome.expected)
            assert sample.scores["exact"].value == ("C" if outcome.correct else "I")
            assert sample.scores["exact"].answer == outcome.answer
            u = sample.model_usage[log.eval.model]
            assert (u.input_tokens, u.output_tokens) == (outcome.usage.tokens_in, outcome.usage.tokens_out)
            assert sample.metadata["accounting"]["calls"] == outcome.usage.calls
            assert sample.metadata["trace"] == outcome.trace
            tokens_seen += u.input_tokens
    assert tokens_seen > 0  # the capitals went through the broker: real accounting, not zeros


def test_the_benchmark_gates_paired_test_travels_in_the_held_out_logs(inspect_round: Experiment, tmp_path: Path):
    from inspect_ai.log import read_eval_log

    paths = export(inspect_round, tmp_path / "logs", "v4", "--round", "3")
    splits = {read_eval_log(str(p)).eval.metadata["rsilab"]["split"]: read_eval_log(str(p)) for p in paths}
    assert set(splits) == {"heldout", "canary"}
    paired = splits["heldout"].eval.metadata["rsilab"]["paired"]
    bench = next(p for p in paired if p["test"] == "benchmark")
    assert bench["candidate"] == "v4" and bench["compared_with"] == "v1" and bench["passed"]
    assert 0 <= bench["evidence"]["p_better"] < 0.05 and len(bench["evidence"]["accuracy_delta"]) == 3
    assert splits["canary"].eval.metadata["rsilab"]["paired"][0]["regressed"] is False


@contextmanager
def inspect_view(log_dir: Path) -> Iterator[tuple[int, dict[str, Any]]]:
    """A real `inspect view` on 127.0.0.1 (a free port), up once it lists the directory; killed after."""
    port = free_port()
    server = subprocess.Popen([sys.executable, "-m", "inspect_ai", "view", "--log-dir", str(log_dir), "--host", "127.0.0.1",
                               "--port", str(port)], stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    try:
        listed, deadline = None, time.monotonic() + 90
        while listed is None and time.monotonic() < deadline and server.poll() is None:
            try:
                with urllib.request.urlopen(f"http://127.0.0.1:{port}/api/log-files", timeout=5) as answer:
                    listed = json.load(answer)
            except OSError:
                time.sleep(0.3)
        assert listed is not None, f"inspect view did not answer: {server.stderr.read().decode() if server.poll() is not None else 'still starting'}"
        yield port, listed
    finally:
        server.kill()
        server.wait(timeout=30)


def test_inspect_view_lists_the_exported_logs_over_its_http_api(inspect_round: Experiment, tmp_path: Path):
    out = tmp_path / "logs"
    names = {p.name for p in export(inspect_round, out, "--round", "3")}
    with inspect_view(out) as (port, listed):
        assert names == {Path(f["name"]).name for f in listed["files"]}
        first = next(f["name"] for f in listed["files"] if "heldout" in f["name"])
        url = f"http://127.0.0.1:{port}/api/logs/{urllib.request.quote(first, safe='/:')}?header-only=0"  # header only past 0 MB
        with urllib.request.urlopen(url, timeout=30) as answer:
            header = json.load(answer)
        assert header["eval"]["model"] in {"rsilab/v1", "rsilab/v4"}
        assert header["eval"]["metadata"]["rsilab"]["round"] == 3


def test_a_person_opens_a_held_out_assessment_in_inspects_viewer_in_chromium(inspect_round: Experiment, tmp_path: Path):
    """Headless Debian Chromium on the real viewer; screenshots land in artifacts/ui/ for a person to look at."""
    from playwright.sync_api import sync_playwright

    if not CHROMIUM.exists():
        pytest.fail(f"no browser at {CHROMIUM}: install Debian's chromium (`make test` does it)")
    out = tmp_path / "logs"
    export(inspect_round, out, "v4", "--round", "3")
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    with inspect_view(out) as (port, _), sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS)
        try:
            page = browser.new_page(viewport={"width": 1400, "height": 900})
            page.goto(f"http://127.0.0.1:{port}/", timeout=60_000)
            page.get_by_text("rsilab/heldout").first.wait_for(timeout=60_000)
            page.screenshot(path=SCREENSHOTS / "inspect-view-logs.png")
            page.get_by_text("rsilab/heldout").first.click()
            page.get_by_text("What is the capital of").first.wait_for(timeout=60_000)
            body = page.inner_text("body")
            assert "rsilab/v4" in body and "CI_LOW" in body and "exact" in body
            page.screenshot(path=SCREENSHOTS / "inspect-view-heldout.png")
        finally:
            browser.close()
