"""Shared by the dashboard's tests: the test app's token and host, a page's CSRF token, a real `rsilab ui`."""

from __future__ import annotations

import re
import signal
import subprocess
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from fastapi.testclient import TestClient

TOKEN = "test-token-" + "x" * 32
HOST = "testserver"  # the Host header TestClient sends
COOKIE = "rsilab_session"


def csrf_of(client: TestClient, path: str = "/proposals") -> str:
    """The CSRF token a page of this session carries in its decision form."""
    page = client.get(path).text
    found = re.search(r'name="csrf" value="([0-9a-f]+)"', page)
    assert found, f"no decision form on {path}"
    return found.group(1)


@contextmanager
def running_ui(root: Path, *args: str) -> Iterator[str]:
    """`rsilab ui` in its own process on a free port; yields the address with the token it printed."""
    process = subprocess.Popen(
        [sys.executable, "-m", "rsilab.cli", "ui", "-C", str(root), "--port", "0", *args],
        stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
    )
    try:
        printed = []
        assert process.stdout is not None
        for line in process.stdout:
            printed.append(line)
            if found := re.search(r"open (http://\S+)", line):
                break
        else:
            raise AssertionError(f"`rsilab ui` printed no address: {''.join(printed)}")
        yield found.group(1)
    finally:
        process.send_signal(signal.SIGINT)  # Ctrl-C: uvicorn shuts down cleanly
        try:
            process.wait(timeout=15)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()
