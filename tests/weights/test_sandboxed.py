"""What crosses the sandbox boundary of a trainable self: weight files in, weight files out."""

from __future__ import annotations

import hashlib
from pathlib import Path

import pytest

from rsilab.experiment import Experiment
from rsilab.config import SandboxConfig
from rsilab.sandbox.factory import make_sandbox
from rsilab.sandbox.process import Limits
from rsilab.store.artifacts import ArtifactStore
from rsilab.weights.sandboxed import run_trainable

# A stand-in self (plain Python, no torch): copies its input weights to two outputs, one of
# them through a planted link to a harness file, and echoes whether site-packages are visible.
SELF = b'''
import json, os, sys, sysconfig
request = json.load(open(sys.argv[2]))
data = open("in.safetensors", "rb").read()
open("out/out.safetensors", "wb").write(data[::-1])
os.symlink(request["secret"], "out/leak.safetensors")  # a link to a harness file, planted in the output dir
site = sysconfig.get_paths()["purelib"]
json.dump({"site_packages": site in sys.path, "seen": len(data)}, open(sys.argv[3], "w"))
'''


def test_weights_go_in_by_hash_and_come_out_stored_but_planted_links_are_not_followed(tmp_path: Path):
    store = ArtifactStore(tmp_path / "artifacts")
    digest = store.put_bytes(b"weights-of-the-parent")
    secret = tmp_path / "harness-secret"
    secret.write_bytes(b"never leaves")
    run = run_trainable({"main.py": SELF}, "train", {"secret": str(secret)}, store=store,
                        weights_in={"in.safetensors": digest}, files_out=("out/out.safetensors", "out/leak.safetensors"),
                        sandbox=make_sandbox(SandboxConfig(site_packages=True), llm_socket=None, protected=()),
                        limits=Limits(cpu_seconds=20, wall_seconds=20), scratch_root=tmp_path / "scratch")

    assert run.problem is None, run.result.stderr
    assert run.output == {"site_packages": True, "seen": len(b"weights-of-the-parent")}  # torch would be importable
    out = run.files["out/out.safetensors"]
    assert out == hashlib.sha256(b"weights-of-the-parent"[::-1]).hexdigest() and store.has(out)
    assert "out/leak.safetensors" not in run.files  # a link the self planted is never read through
    assert not any((tmp_path / "scratch").iterdir())  # the scratch copy is gone


def test_transformer_template_inits_with_editable_model_recipe_and_data_strategy(tmp_path: Path):
    exp = Experiment.init(tmp_path / "exp", "transformer")
    assert exp.config.experiment.template == "transformer"
    assert exp.config.weights.filters == ("exact",)
    files = exp.versions.files(exp.commit_of("v1"))
    assert {"main.py", "model.py", "train.py", "data.py", "recipe.toml"} <= set(files)
    assert exp.deployed()[0] == "v1" and exp.rows()["v1"].weights is None  # weights come with the first run


# Outputs a reader could hang on or be led out by: a FIFO, a link to a harness directory on the way, NaN stats.
SELF_WEDGE = b'''
import json, os, sys
request = json.load(open(sys.argv[2]))
os.makedirs("out/via", exist_ok=True)
os.rmdir("out/via")  # under bwrap a bind mount (EBUSY): this attack needs the process backend
os.mkfifo("out/fifo.safetensors")
os.symlink(request["secret_dir"], "out/via")  # out/via/w.safetensors would be a harness file
open(sys.argv[3], "w").write('{"stats": {"loss": NaN}}')
'''


@pytest.mark.filterwarnings("ignore::UserWarning")  # the process backend warns that it does not isolate
def test_weights_outputs_that_are_fifos_or_behind_a_link_are_refused_without_hanging(tmp_path: Path):
    store = ArtifactStore(tmp_path / "artifacts")
    secret_dir = tmp_path / "harness"
    secret_dir.mkdir()
    (secret_dir / "w.safetensors").write_bytes(b"never leaves")
    run = run_trainable({"main.py": SELF_WEDGE}, "train", {"secret_dir": str(secret_dir)}, store=store,
                        weights_in={}, files_out=("out/fifo.safetensors", "out/via/w.safetensors"),
                        sandbox=make_sandbox(SandboxConfig(backend="process"), llm_socket=None, protected=()),
                        limits=Limits(cpu_seconds=20, wall_seconds=20), scratch_root=tmp_path / "scratch")
    assert run.result.returncode == 0, run.result.stderr
    assert run.files == {}
    assert run.output is None and "NaN is not JSON" in (run.problem or "")
