"""Helpers of the interop tests: an Inspect task file, the demo's story on its dataset, free ports.

`make test` installs the `inspect` and `mlflow` extras and sets RSILAB_REQUIRE_INTEROP: there a
missing extra fails; elsewhere (`make test-fast`) these tests skip.
"""

from __future__ import annotations

import os
import socket
from pathlib import Path
from types import ModuleType

import pytest
from conftest import demo_config

from rsilab.experiment import Experiment

CAPITALS = {"France": "Paris", "Japan": "Tokyo", "Kenya": "Nairobi", "Peru": "Lima", "Chile": "Santiago",
            "Egypt": "Cairo", "Spain": "Madrid", "Italy": "Rome", "Ghana": "Accra", "Nepal": "Kathmandu"}

# An Inspect task file as a user writes one: operator precedence (v1's calculator gets it wrong, the
# demo's v4 fixes it) and capitals (answered by the scripted model through the broker: real tokens).
TASK_FILE = f'''
from inspect_ai import Task, task
from inspect_ai.dataset import MemoryDataset, Sample
from inspect_ai.scorer import match

CAPITALS = {CAPITALS!r}


@task
def precedence():
    samples = [Sample(input=f"Compute {{a}} - {{b}} * {{c}}", target=str(a - b * c), id=f"p-{{a}}-{{b}}-{{c}}",
                      metadata={{"family": "precedence", "difficulty": 2}})
               for a in (50, 61, 72, 83, 94) for b in (2, 3, 4) for c in (3, 5, 7)]
    samples += [Sample(input=f"What is the capital of {{country}}?", target=city, id=country.lower(),
                       metadata={{"family": "capitals"}})
                for country, city in CAPITALS.items()]
    return Task(dataset=MemoryDataset(samples), scorer=match())
'''


def need(module: str) -> ModuleType:
    if os.environ.get("RSILAB_REQUIRE_INTEROP"):
        return __import__(module)
    return pytest.importorskip(module)


def inspect_config(tracking: str = 'mlflow = "file:./mlruns"') -> str:
    """The demo's story on the Inspect task's dataset, the capitals answered by the scripted model."""
    config = demo_config().replace('suite = "arithmetic"\ndev_n = 24\nheldout_n = 60',
                                   'suite = "inspect:tasks.py@precedence"\ndev_n = 10\nheldout_n = 40')
    capitals = "".join(f'[[llm.rules]]\nmatch = "capital of {country}"\nresponses = ["\\\\boxed{{{city}}}"]\n\n'
                       for country, city in CAPITALS.items())
    config = config.replace('[[llm.rules]]\nmatch = "."', capitals + '[[llm.rules]]\nmatch = "."')
    assert "inspect:tasks.py" in config and "capital of France" in config
    return config + f"\n[tracking]\n{tracking}\n"


def make_experiment(root: Path, tracking: str = 'mlflow = "file:./mlruns"') -> Experiment:
    root.mkdir(parents=True)
    (root / "tasks.py").write_text(TASK_FILE)  # before init: the config names it
    exp_root = root / "exp"
    exp = Experiment.init(exp_root, "agent", config_text=inspect_config(tracking).replace("tasks.py", str(root / "tasks.py")))
    return exp


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]
