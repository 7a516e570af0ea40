"""The in-process witness's two ends on the harness side: its policy and its report.

The witness (guard/sitecustomize.py) runs inside the self's interpreter, so what it reports
is the self's own account: bounded, parsed as untrusted bytes, and never the only evidence.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

AUDIT_CAP_BYTES = 256 * 1024


def guard_policy(fd: int, writable: Sequence[str], readonly: Sequence[str], site: Sequence[str], broker: str) -> str:
    """The witness's policy as one environment value (see guard/sitecustomize.py)."""
    fields = {"fd": str(fd), "writable": "\x1f".join(writable), "readonly": "\x1f".join(readonly),
              "site": "\x1f".join(site), "broker": broker}
    return "\x1e".join(f"{k}={v}" for k, v in fields.items())


def audit_violations(path: Path) -> list[str]:
    """The witness's lines (`kind\x1fdetail\x1fpid`), read as untrusted bytes: `kind: detail`, deduplicated."""
    with open(path, "rb") as handle:
        data = handle.read(AUDIT_CAP_BYTES)
    found: list[str] = []
    for line in data.decode("utf-8", "replace").splitlines():
        parts = line.split("\x1f")
        if len(parts) == 3 and parts[0].replace("-", "").isalpha():
            found.append(f"{parts[0][:40]}: {parts[1][:300]}")
    return list(dict.fromkeys(found))
