"""A provider SDK loaded in the background: `rsilab run` does not wait ~0.5 s for `import openai`.

The import starts in a daemon thread when the provider is made and overlaps with what
the round does first (the dev assessment in the sandbox); the first call waits for it.
Whether the SDK is installed is checked at once, so a missing extra still fails early.
"""

from __future__ import annotations

import importlib
import importlib.util
import threading
from collections.abc import Callable
from types import ModuleType
from typing import Any

from rsilab.errors import ProviderError


class LazySDK:
    def __init__(self, module: str, missing: str, build: Callable[[ModuleType], Any]) -> None:
        if importlib.util.find_spec(module) is None:
            raise ProviderError(missing)
        self._module, self._build = module, build
        self._lock = threading.Lock()
        self._sdk: ModuleType | None = None
        self._client: Any = None
        self._loader = threading.Thread(target=self._load, name=f"import-{module}", daemon=True)
        self._loader.start()

    def _load(self) -> None:
        try:
            importlib.import_module(self._module)
        except Exception:  # noqa: BLE001 - reported by the first call, which imports again
            pass

    @property
    def sdk(self) -> ModuleType:
        self.client()
        assert self._sdk is not None
        return self._sdk

    def client(self) -> Any:
        """The SDK's client, built once (by the first caller; the others wait)."""
        with self._lock:
            if self._client is None:
                self._loader.join()
                sdk = importlib.import_module(self._module)
                self._client, self._sdk = self._build(sdk), sdk
            return self._client
