"""Shared by the dashboard's tests: the token and host a test app uses, and reading a page's CSRF token."""

from __future__ import annotations

import re

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
