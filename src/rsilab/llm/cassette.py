"""Record and replay provider calls: a cassette of completions keyed by the request.

Recording appends one JSON line per answered call (request, key, completion) and syncs
it, so a crash loses at most the call in flight. Replaying answers from the file alone:
no provider is made, no key or network is needed. A request recorded n times is
answered with its n recordings in order, then the last one again; a request never
recorded is an error, because the run has left the recorded path.
"""

from __future__ import annotations

import hashlib
import json
import os
import threading
from collections import Counter
from pathlib import Path

from rsilab.errors import ProviderError
from rsilab.llm.base import ChatRequest, Completion, Provider


def request_key(request: ChatRequest) -> str:
    """The sha256 of the request's canonical JSON: equal requests, equal keys.

    The sampling seed is part of the key, so a replayed sampled run gets each candidate's own
    answer; unset sampling fields are left out, so greedy requests keep the keys they always had.
    """
    fields = request.model_dump(mode="json")
    for optional in ("top_p", "seed"):
        if fields.get(optional) is None:
            fields.pop(optional, None)
    canonical = json.dumps(fields, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
    return hashlib.sha256(canonical.encode("utf-8")).hexdigest()


class RecordingProvider:
    def __init__(self, provider: Provider, path: Path) -> None:
        self.inner = provider
        self.name = provider.name
        self.path = Path(path)
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self._lock = threading.Lock()

    def complete(self, request: ChatRequest) -> Completion:
        completion = self.inner.complete(request)
        entry = {"key": request_key(request), "provider": self.inner.name,
                 "request": request.model_dump(mode="json"), "completion": completion.model_dump(mode="json")}
        line = json.dumps(entry, ensure_ascii=False) + "\n"
        with self._lock, self.path.open("a", encoding="utf-8") as handle:
            handle.write(line)
            handle.flush()
            os.fsync(handle.fileno())
        return completion


class ReplayingProvider:
    name = "replay"

    def __init__(self, path: Path) -> None:
        self.path = Path(path)
        self._recorded = _load(self.path)
        self._used: Counter[str] = Counter()
        self._lock = threading.Lock()

    @property
    def calls_answered(self) -> int:
        with self._lock:
            return sum(self._used.values())

    def complete(self, request: ChatRequest) -> Completion:
        key = request_key(request)
        recordings = self._recorded.get(key)
        if not recordings:
            last_user = next((m.content for m in reversed(request.messages) if m.role == "user"), "")
            raise ProviderError(
                f"cassette {self.path} holds no recording of this request (key {key[:12]}, last user message "
                f"starts {last_user[:80]!r}): the run left the recorded path; record again with llm.cassette_mode = 'record'"
            )
        with self._lock:
            index = min(self._used[key], len(recordings) - 1)
            self._used[key] += 1
        return recordings[index]


def _load(path: Path) -> dict[str, list[Completion]]:
    try:
        lines = path.read_text(encoding="utf-8").splitlines()
    except OSError as e:
        raise ProviderError(f"cannot read the cassette {path}: {e}; record one first with llm.cassette_mode = 'record'") from e
    recorded: dict[str, list[Completion]] = {}
    for number, line in enumerate(lines, start=1):
        try:
            entry = json.loads(line)
            completion = Completion.model_validate(entry["completion"])
            key = entry["key"]
        except (ValueError, KeyError, TypeError) as e:
            if number == len(lines):
                break  # a line torn by a crash while recording: that call was never answered
            raise ProviderError(f"cassette {path} is damaged at line {number}: {e}") from e
        recorded.setdefault(key, []).append(completion)
    return recorded
