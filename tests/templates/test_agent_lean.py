"""The agent template ships lean: a solve run loads only what it uses (each run is a fresh Python)."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

from agent_runs import template_tree

from rsilab.llm.scripted import ScriptedProvider
from rsilab.sandbox.broker import Broker

PROBE = """import json, sys
sys.path.insert(0, ".")
import main
code = main.main(["main.py", "solve", "in.json", "out.json"])
print(json.dumps(sorted(m for m in ("improve", "http.client", "subprocess", "email", "ssl", "pathlib") if m in sys.modules)))
sys.exit(code)
"""


def solve_in(workdir: Path, question: str, env: dict[str, str] | None = None) -> tuple[list[str], dict]:
    """The modules of PROBE's list a solve run of `question` loaded, and its answer."""
    for rel, data in template_tree().items():
        (workdir / rel).parent.mkdir(parents=True, exist_ok=True)
        (workdir / rel).write_bytes(data)
    (workdir / "in.json").write_text(json.dumps({"tasks": [{"id": "t0", "question": question}]}))
    done = subprocess.run([sys.executable, "-I", "-S", "-c", PROBE], cwd=workdir, capture_output=True, text=True,
                          timeout=60, env=env)
    assert done.returncode == 0, done.stderr
    return json.loads(done.stdout), json.loads((workdir / "out.json").read_text())["answers"][0]


def test_a_solve_run_that_needs_no_model_imports_neither_the_improver_nor_http(tmp_path: Path):
    loaded, answer = solve_in(tmp_path, "What is 3 + 4?")
    assert loaded == [] and answer["answer"] == "7"


def test_a_model_call_reaches_the_broker_without_loading_http_client(tmp_path: Path):
    # The template speaks HTTP/1.0 on the broker's socket itself: http.client's imports (email, ssl)
    # cost about a fifth of a short run.
    model = ScriptedProvider([{"match": "capital of France", "responses": ["It is Paris. \\boxed{Paris}"]}])
    with Broker(model, tmp_path / "llm.sock") as broker:
        loaded, answer = solve_in(tmp_path / "self", "What is the capital of France?",
                                  env={"RSILAB_LLM_SOCKET": str(broker.socket_path)})
        calls = broker.calls
    assert loaded == [] and answer["answer"] == "Paris"
    assert calls and all(c.task == "t0" and c.tokens_in > 0 and c.error is None for c in calls)  # counted, for this task
