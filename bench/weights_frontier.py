"""Benchmark: the transformer's addition frontier per round, and the wall time, on the CPU default run.

    .venv/bin/python bench/weights_frontier.py [--rounds 10] [--dir /tmp/frontier-bench]

Runs `rsilab init --template transformer` with its default rsilab.toml and recipe (pretraining
included in the wall time), then the weights loop for the given rounds, and prints the frontier
after every round. The reference to beat (2 CPU cores, 0.15 M parameters, NoPE): frontier
6 → 9 digits in 10 rounds, about 9 minutes in all.
"""

from __future__ import annotations

import argparse
import os
import tempfile
import time
from pathlib import Path

from rich.console import Console

from rsilab.weights.demo import run_transformer_demo


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=10)
    parser.add_argument("--dir", type=Path, default=None, help="experiment directory (default: a temporary one)")
    args = parser.parse_args()
    console = Console()
    directory = args.dir or Path(tempfile.mkdtemp(prefix="rsilab-bench-")) / "exp"
    console.print(f"cores {os.cpu_count()}, load average at start {os.getloadavg()[0]:.1f} (other work on this machine slows every figure)")
    started = time.monotonic()
    rows = run_transformer_demo(directory, args.rounds, console)
    wall = time.monotonic() - started
    first = rows[0].target if rows else None
    last = rows[-1].shown if rows else None
    console.print(f"RESULT frontier {first} → {last} digits in {len(rows)} rounds, {wall:.0f} s wall "
                  f"({wall / 60:.1f} min) including pretraining; load average at end {os.getloadavg()[0]:.1f}")
    console.print("per round: " + ", ".join(f"r{r.round}:{r.shown}" for r in rows))


if __name__ == "__main__":
    main()
