"""Benchmark: the transformer's addition frontier per round, and the wall time, on the CPU default run.

    .venv/bin/python bench/weights_frontier.py [--rounds 10] [--filters exact] [--dir /tmp/frontier-bench]

Runs `rsilab init --template transformer` with its default rsilab.toml and recipe (pretraining
included in the wall time), then the weights loop for the given rounds, and prints the frontier
after every round. The reference to beat (2 CPU cores, 0.15 M parameters, NoPE): frontier
6 → 9 digits in 10 rounds, about 9 minutes in all.

Measured here (2 shared cores, 0.15 M parameters, coupled positions with RoPE, exact filter):
frontier 6 → 19 digits in 10 rounds, 474 s wall including 113 s of pretraining; past 9 digits
after round 5 (249 s). Other work on the machine moves these figures by tens of percent.
"""

from __future__ import annotations

import argparse
import os
import re
import tempfile
import time
from importlib import resources
from pathlib import Path

from rich.console import Console

from rsilab.transformer_demo import run_transformer_demo


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=10)
    parser.add_argument("--dir", type=Path, default=None, help="experiment directory (default: a temporary one)")
    parser.add_argument("--filters", default="exact", help="comma-separated: exact, length, vote (default: exact)")
    args = parser.parse_args()
    template_config = (resources.files("rsilab") / "templates" / "transformer.rsilab.toml").read_text()
    chosen = ", ".join(f'"{name.strip()}"' for name in args.filters.split(",") if name.strip())
    config_text = re.sub(r"(?m)^filters = \[.*?\]", f"filters = [{chosen}]", template_config)
    console = Console()
    directory = args.dir or Path(tempfile.mkdtemp(prefix="rsilab-bench-")) / "exp"
    console.print(f"cores {os.cpu_count()}, load average at start {os.getloadavg()[0]:.1f} (other work on this machine slows every figure)")
    started = time.monotonic()
    console.print(f"filters: {chosen}")
    rows = run_transformer_demo(directory, args.rounds, console, config_text=config_text)
    wall = time.monotonic() - started
    first = rows[0].target if rows else None
    last = rows[-1].shown if rows else None
    console.print(f"RESULT frontier {first} → {last} digits in {len(rows)} rounds, {wall:.0f} s wall "
                  f"({wall / 60:.1f} min) including pretraining; load average at end {os.getloadavg()[0]:.1f}")
    console.print("per round: " + ", ".join(f"r{r.round}:{r.shown}" for r in rows))


if __name__ == "__main__":
    main()
