"""Secrets by value: the exact key strings the harness's provider holds, and their common encodings,
are cut from everything the broker passes back to the self, whatever shape the key has.

A pattern (`sk-...`, `Bearer ...`) misses a key of another shape that an upstream server quotes
in its error or its completion; matching the values themselves does not.
"""

from __future__ import annotations

import base64
import re
import urllib.parse
from collections.abc import Iterable
from typing import Any

REDACTED = "[redacted]"
MIN_SECRET_CHARS = 6  # shorter values would redact ordinary words; no real key is this short
_SECRETISH = re.compile(r"(?i)\b(sk-[\w-]{6,}|bearer\s+\S+|(api[_-]?key|token|secret)\s*[:=]\s*\S+)")


def held_secrets(provider: object) -> tuple[str, ...]:
    """The secret values a provider (and every provider it wraps, through `.inner`) holds."""
    found: list[str] = []
    seen: set[int] = set()
    while provider is not None and id(provider) not in seen:
        seen.add(id(provider))
        found += [s for s in getattr(provider, "secrets", ()) if isinstance(s, str)]
        provider = getattr(provider, "inner", None)
    return tuple(dict.fromkeys(found))


def encodings(secret: str) -> set[str]:
    """`secret` as it may appear in text: raw, URL-quoted, hex, and base64 at each alignment."""
    raw = secret.encode()
    forms = {secret, urllib.parse.quote(secret, safe=""), urllib.parse.quote_plus(secret), raw.hex(), raw.hex().upper()}
    for offset in range(3):
        # Inside a longer base64 string the key starts at any byte offset mod 3; the characters that
        # depend on the key alone (not on its neighbours) are the same whatever surrounds it.
        for encode in (base64.b64encode, base64.urlsafe_b64encode):
            text = encode(b"\0" * offset + raw).decode().rstrip("=")
            lead = (offset * 4 + 2) // 3  # characters touched by the padding bytes in front
            tail = len(text) - (len(text) % 4 if (offset + len(raw)) % 3 else 0) - 1
            core = text[lead:max(lead, tail)]
            if len(core) >= MIN_SECRET_CHARS:
                forms.add(core)
    return {f for f in forms if len(f) >= MIN_SECRET_CHARS}


class Scrubber:
    """Redacts a fixed set of secret values (and their encodings) from strings and JSON-like values."""

    def __init__(self, secrets: Iterable[str]) -> None:
        forms = set().union(*(encodings(s) for s in secrets if len(s) >= MIN_SECRET_CHARS)) if secrets else set()
        # Longest first, so a form that contains another is cut whole.
        self._pattern = re.compile("|".join(re.escape(f) for f in sorted(forms, key=len, reverse=True))) if forms else None

    def text(self, value: str) -> str:
        value = self._pattern.sub(REDACTED, value) if self._pattern is not None else value
        return value

    def value(self, value: Any) -> Any:
        """`value` with every string in it scrubbed (dicts, lists; keys too)."""
        if isinstance(value, str):
            return self.text(value)
        if isinstance(value, dict):
            return {self.value(k): self.value(v) for k, v in value.items()}
        if isinstance(value, list | tuple):
            return [self.value(v) for v in value]
        return value


def pattern_scrub(text: str) -> str:
    """A second net for what looks like a credential of a common shape (kept for keys we never held)."""
    return _SECRETISH.sub(REDACTED, text)
