"""What every `rsilab` command module shares: the console, the --dir option, finding the experiment."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Optional

import typer
from rich.console import Console

from rsilab.errors import RsilabError

console = Console()
DirOption = Annotated[Optional[Path], typer.Option("--dir", "-C", help="Experiment directory (default: found from here up).")]


def find_experiment(directory: Path | None):  # noqa: ANN201 - lazy import keeps --help fast
    from rsilab.config import CONFIG_FILE
    from rsilab.experiment import Experiment

    start = (directory or Path.cwd()).resolve()
    for candidate in (start, *start.parents):
        if (candidate / CONFIG_FILE).is_file():
            return Experiment(candidate)
    raise RsilabError(f"no {CONFIG_FILE} in {start} or above: run `rsilab init DIR` first, or pass --dir")
