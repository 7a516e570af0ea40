"""The agent template ships lean: a solve run loads only what it uses (each run is a fresh Python)."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

from agent_runs import template_tree

PROBE = """import sys
sys.path.insert(0, ".")
import main
code = main.main(["main.py", "solve", "in.json", "out.json"])
print(sorted(m for m in ("improve", "http.client", "subprocess", "email", "ssl", "pathlib") if m in sys.modules))
sys.exit(code)
"""


def test_a_solve_run_that_needs_no_model_imports_neither_the_improver_nor_http(tmp_path: Path):
    for rel, data in template_tree().items():
        (tmp_path / rel).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / rel).write_bytes(data)
    (tmp_path / "in.json").write_text(json.dumps({"tasks": [{"id": "t0", "question": "What is 3 + 4?"}]}))
    done = subprocess.run([sys.executable, "-I", "-S", "-c", PROBE], cwd=tmp_path, capture_output=True, text=True,
                          timeout=60)
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "[]"
    assert json.loads((tmp_path / "out.json").read_text())["answers"][0]["answer"] == "7"
