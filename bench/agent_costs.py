"""What the agent template's settings cost, measured by the broker (run: python bench/agent_costs.py).

Runs the template's own `solve`, in the process sandbox, on word problems answered by
a deterministic model behind the real broker, once per setting, side by side; then
prints how large the improver's request to its model is.
"""

from __future__ import annotations

import json
import random
import re
import shutil
import tempfile
import tomllib
from importlib import resources
from pathlib import Path

import tomli_w

from rsilab.llm.base import ChatRequest, Completion
from rsilab.sandbox.broker import Broker
from rsilab.sandbox.process import Limits, ProcessSandbox
from rsilab.sandbox.selfrun import run_self

N = 40
SETTINGS = [
    ("as shipped (verify on)", {}),
    ("verify off", {"verify": False}),
    ("3 samples, verify on", {"samples": 3}),
    ("3 samples, verify off", {"samples": 3, "verify": False}),
]


class Adder:
    """Adds the two numbers of a word problem; always right, so a check never changes an answer."""

    name = "adder"

    def complete(self, request: ChatRequest) -> Completion:
        text = "\n".join(m.content for m in request.messages)
        a, b = re.search(r"has (\d+) apples and buys (\d+) more", text).groups()
        reply = f"{a} + {b} = \\boxed{{{int(a) + int(b)}}}"
        return Completion(text=reply, tokens_in=len(text.split()), tokens_out=len(reply.split()), model=self.name)


def template(**settings: object) -> dict[str, bytes]:
    root = resources.files("rsilab") / "templates" / "agent"
    tree = {p.name: p.read_bytes() for p in root.iterdir() if p.is_file()}
    tree |= {f"prompts/{p.name}": p.read_bytes() for p in (root / "prompts").iterdir()}
    if settings:  # rewritten only when changed: the comments in it are part of what the model reads
        tree["settings.toml"] = tomli_w.dumps({**tomllib.loads(tree["settings.toml"].decode()), **settings}).encode()
    return tree


def main() -> None:
    rng = random.Random(0)
    tasks = [{"id": f"t{i}", "question": f"Ada has {rng.randint(2, 99)} apples and buys {rng.randint(2, 99)} more. "
              "How many apples does she have?"} for i in range(N)]
    work = Path(tempfile.mkdtemp(prefix="bench-", dir="/tmp"))
    print(f"agent template's solve on {N} word problems; calls and tokens counted by the broker (this model counts words)")
    print(f"{'setting':<24} {'calls/task':>10} {'tokens/task':>12} {'vs shipped':>11} {'wall s':>7}")
    try:
        shipped = None
        for label, settings in SETTINGS:
            with Broker(Adder(), work / "llm.sock") as broker:
                run = run_self(template(**settings), "solve", json.dumps({"tasks": tasks}).encode(),
                               sandbox=ProcessSandbox(), broker=broker, limits=Limits(wall_seconds=120),
                               scratch_root=work / "scratch")
            assert run.problem is None, run.result.stderr
            shipped = shipped or run.usage.tokens
            print(f"{label:<24} {run.usage.calls / N:>10.2f} {run.usage.tokens / N:>12.1f} "
                  f"{run.usage.tokens / shipped:>10.2f}x {run.result.wall_seconds:>7.2f}")
    finally:
        shutil.rmtree(work, ignore_errors=True)
    shown = {p: d for p, d in template().items() if p not in {"main.py", "llm.py", "alignment.toml"}}
    size = sum(len(d) for d in shown.values())
    print(f"the improver shows its model {len(shown)} of its files: {size} bytes (~{size // 4} tokens at ~4 bytes a token)")


if __name__ == "__main__":
    main()
