"""Interop with the tools researchers already use: Inspect logs and datasets, MLflow tracking.

Each back end is an optional extra, imported only inside the function that needs it, so core
rsilab never loads Inspect (~84 packages) or MLflow; a missing extra says which one to install.
"""

from __future__ import annotations

import importlib
from types import ModuleType

from rsilab.errors import RsilabError


class MissingExtra(RsilabError):
    """An optional back end is not installed."""


def need(module: str, extra: str, why: str) -> ModuleType:
    """`module` imported, or MissingExtra naming the extra that brings it."""
    try:
        return importlib.import_module(module)
    except ImportError as exc:
        raise MissingExtra(f"{why} needs the `{extra}` extra ({exc.name or module} is not installed): "
                           f"pip install 'rsilab[{extra}]'") from None
