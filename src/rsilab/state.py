"""What a round loop reads and writes of an experiment, as a protocol.

The weights loop works on an Experiment but must not import it (the experiment dispatches
to the loop): both depend on this description instead, so imports only run downwards.
"""

from __future__ import annotations

from pathlib import Path
from typing import Protocol

from rsilab.config import Config
from rsilab.records import Event
from rsilab.store.artifacts import ArtifactStore
from rsilab.store.history import VersionRow
from rsilab.store.ledger import Ledger
from rsilab.store.versions import VersionStore


class ExperimentState(Protocol):
    root: Path
    config: Config
    ledger: Ledger
    artifacts: ArtifactStore
    versions: VersionStore

    def events(self, kind: str | None = None) -> list[Event]: ...

    def rows(self) -> dict[str, VersionRow]: ...

    def deployed(self) -> tuple[str, str]: ...

    def commit_of(self, version: str) -> str: ...
