"""Scale-out on Ray: a round's sandboxed runs as Ray tasks, with the keys, ledger and targets on the head.

The head (where `rsilab run` runs) keeps the ledger, the artifacts, the version store, the
targets and scoring, and one provider actor holding the provider, its keys and the budgets.
A worker receives a version's tree and questions, runs the same sandbox as a local run, with
a broker of its own that forwards the self's LLM calls to that actor, and returns answers and
trusted accounting. Ray is the `cluster` extra and is imported only here, only when asked for.
"""

from __future__ import annotations

from types import ModuleType

from rsilab.errors import ConfigError, RsilabError

INSTALL_HINT = "pip install 'rsilab[cluster]'"


class ClusterError(RsilabError):
    """The cluster could not run a round's work: a node is unfit, or a run failed on every try."""


def require_ray() -> ModuleType:
    """The `ray` module, or a ConfigError saying which extra to install."""
    try:
        import ray
    except ImportError as exc:
        raise ConfigError(f'cluster.backend = "ray" needs Ray, which is not installed ({exc.name}): {INSTALL_HINT}') from None
    return ray
