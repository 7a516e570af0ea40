"""Inspect and MLflow are optional: core rsilab never imports them, and a missing one is named."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from rsilab.config import parse_config
from rsilab.errors import ConfigError
from rsilab.interop import MissingExtra, need


def test_core_rsilab_imports_neither_inspect_nor_mlflow():
    code = ("import sys, rsilab.cli, rsilab.experiment, rsilab.round.code, rsilab.weights.loop, rsilab.assess.splits; "
            "print(sorted({m.split('.')[0] for m in sys.modules} & {'inspect_ai', 'mlflow'}))")
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120, check=True)
    assert done.stdout.strip() == "[]"


def test_a_missing_extra_says_which_to_install():
    with pytest.raises(MissingExtra, match=r"an inspect: suite needs the `inspect` extra .*pip install 'rsilab\[inspect\]'"):
        need("rsilab_no_such_module", "inspect", "an inspect: suite")


def test_an_inspect_task_file_inside_self_is_refused(tmp_path: Path):
    with pytest.raises(ConfigError, match="inside self/, which the self can edit"):
        parse_config({"assess": {"suite": "inspect:self/tasks.py@t"}}, source=tmp_path / "rsilab.toml")
