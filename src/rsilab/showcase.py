"""`rsilab demo`: the product's first impression, offline, on both kinds of self.

1. agent: the LLM agent with a scripted model whose three proposals meet three different
   gates (protected file, a breaking edit, a real bug fix that is deployed);
2. embedded: the same agent thinking with the embedded model (a real 1.5B LLM on the CPU),
   one round, proposing whatever it proposes, judged by the same gates;
3. transformer: the weights loop, a small transformer labelling its own training data
   where it is weak; the frontier moves round by round;
4. adapters (only when asked for: `--part adapters`): a real 0.5B LM trains a LoRA adapter
   on its own verified answers, one round (~10 minutes on 2 cores; needs a prepared base).
Each part lives in its own experiment under the demo directory; a part whose extra is not
installed is skipped with the command that installs it.
"""

from __future__ import annotations

import importlib.util
import shutil
from importlib import resources
from pathlib import Path

from rich.console import Console

from rsilab import views
from rsilab.shown import line
from rsilab.errors import RsilabError

DEFAULT_PARTS = ("agent", "embedded", "transformer")
PARTS = (*DEFAULT_PARTS, "adapters")


def run_demo(directory: Path, parts: tuple[str, ...], console: Console, transformer_rounds: int = 5) -> None:
    if directory.exists() and any(directory.iterdir()) and not (directory / ".rsilab-demo").exists():
        raise RsilabError(f"{directory} exists and is not a demo directory; choose another directory")
    if "adapters" in parts:  # before anything is replaced: the base takes a download to prepare
        from rsilab.adapters_demo import check_ready

        check_ready()
    if directory.exists():
        shutil.rmtree(directory)
    directory.mkdir(parents=True)
    (directory / ".rsilab-demo").write_text("made by `rsilab demo`; replaced by the next one\n")
    for part in parts:
        {"agent": _agent, "embedded": _embedded, "transformer": _transformer, "adapters": _adapters}[part](directory, console, transformer_rounds)


def _agent(directory: Path, console: Console, _: int) -> None:
    from rsilab.experiment import Experiment

    config_text = (resources.files("rsilab") / "demo" / "agent.toml").read_text()
    experiment = Experiment.init(directory / "agent", "agent", config_text=config_text)
    console.rule("[bold]1. an agent that improves its own code (scripted model: one proposal per gate)")
    experiment.run(3, report=views.stage_printer(console))
    _summary(console, experiment, directory / "agent")


def _embedded(directory: Path, console: Console, _: int) -> None:
    from rsilab.errors import ProviderError
    from rsilab.experiment import Experiment
    from rsilab.llm.weights import QWEN_CODER_1_5B, locate_chunks

    try:
        if importlib.util.find_spec("llama_cpp") is None:
            raise ProviderError("llama-cpp-python is missing")
        locate_chunks(QWEN_CODER_1_5B)
    except ProviderError as exc:
        console.print(f"[yellow]skipping part 2: the embedded model is not installed (run `make embedded`): {exc}[/yellow]")
        return
    template = (resources.files("rsilab") / "templates" / "agent.rsilab.toml").read_text()
    # A policy decides, so the demo needs no person; everything else is the template as shipped.
    config_text = template.replace('autonomy = "human"', 'autonomy = "policy"')
    experiment = Experiment.init(directory / "agent-embedded", "agent", config_text=config_text)
    candidates = experiment.config.search.candidates_for(experiment.config.llm.provider)
    console.rule(f"[bold]2. the same agent on the embedded model (Qwen2.5-Coder-1.5B, CPU): one real round, {candidates} sampled candidates")
    console.print(f"each improver call reads ~3,000 tokens and writes a few hundred: about three minutes on one core, "
                  f"so about {3 * candidates} minutes for {candidates} candidates (each with its own harness-drawn seed)")
    experiment.run(1, report=views.stage_printer(console))
    _summary(console, experiment, directory / "agent-embedded")


def _transformer(directory: Path, console: Console, rounds: int) -> None:
    if importlib.util.find_spec("torch") is None:
        console.print("[yellow]skipping part 3: the transformer self needs torch (run `make weights`)[/yellow]")
        return
    from rsilab.transformer_demo import run_transformer_demo

    console.rule("[bold]3. a transformer that makes its own training data where it is weak")
    run_transformer_demo(directory / "transformer", rounds, console)


def _adapters(directory: Path, console: Console, _: int) -> None:
    from rsilab.adapters_demo import run_adapters_demo

    run_adapters_demo(directory / "adapters", console)


def _summary(console: Console, experiment: object, where: Path) -> None:
    views.print_log(console, experiment.rows())  # type: ignore[attr-defined]
    report = experiment.ledger.verify()  # type: ignore[attr-defined]
    console.print(line(f"ledger: {report.checked} events, {'verified' if report.ok else 'BROKEN: ' + report.problem}"))
    console.print(f"explore: [cyan]rsilab log -C {where}[/cyan], [cyan]rsilab ui -C {where}[/cyan]")
