"""`rsilab llm ask`: one prompt to the configured model, with tokens, time and cost."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

from llm_server import ChatServer

from rsilab.llm.scripted import ScriptedProvider

CONFIG = """[llm]
provider = "openai-compatible"
model = "priced-model"
base_url = "{url}/v1"
[llm.prices.priced-model]
dollars_per_million_in = 1000000.0   # a dollar a token in, two out: easy to check
dollars_per_million_out = 2000000.0
"""


def rsilab(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "rsilab.cli", *args], capture_output=True, text=True, timeout=120)


def test_llm_ask_prints_answer_tokens_time_and_cost_from_the_experiments_config(tmp_path: Path):
    with ChatServer(ScriptedProvider([{"match": "capital of France", "responses": ["Paris"]}])) as server:
        (tmp_path / "rsilab.toml").write_text(CONFIG.format(url=server.url))
        as_json = rsilab("llm", "ask", "What is the capital of France?", "--json", "-C", str(tmp_path))
        shown = rsilab("llm", "ask", "What is the capital of France?", "--system", "Be brief.", "-C", str(tmp_path))
    assert as_json.returncode == 0, as_json.stderr
    data = json.loads(as_json.stdout)
    assert (data["answer"], data["model"], data["tokens_in"], data["tokens_out"]) == ("Paris", "priced-model", 6, 1)
    assert data["dollars"] == 8.0 and data["seconds"] > 0
    assert shown.returncode == 0, shown.stderr
    assert shown.stdout.startswith("Paris\n")
    assert "8 tokens in, 1 out" in shown.stdout and "$10.000000" in shown.stdout  # the system message counts too
    assert server.requests[-1]["body"]["messages"][0] == {"role": "system", "content": "Be brief."}


def test_llm_ask_with_an_unreachable_server_exits_1_with_a_message(tmp_path: Path):
    with ChatServer(ScriptedProvider([{"match": ".", "responses": ["x"]}])) as server:
        url = server.url
    config = CONFIG.format(url=url).replace('model = "priced-model"', 'model = "priced-model"\nmax_retries = 0')
    (tmp_path / "rsilab.toml").write_text(config)
    result = rsilab("llm", "ask", "hi", "-C", str(tmp_path))
    assert result.returncode == 1
    message = " ".join(result.stderr.split())  # Rich wraps long lines
    assert f"cannot reach openai-compatible at {url}/v1" in message and "Traceback" not in message
