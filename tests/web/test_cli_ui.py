"""`rsilab ui` as a person starts it: a real server process, on loopback, behind its printed token."""

from __future__ import annotations

import http.client
import subprocess
import sys
from pathlib import Path
from urllib.parse import urlsplit

import pytest
from dashboard_client import running_ui

from rsilab.experiment import Experiment


def _listening_addresses(port: int) -> set[str]:
    """Local addresses with a socket listening on `port`, read from the kernel's table."""
    found = set()
    for table in ("/proc/net/tcp", "/proc/net/tcp6"):
        if not Path(table).exists():
            continue
        for line in Path(table).read_text().splitlines()[1:]:
            local, state = line.split()[1], line.split()[3]
            address, hex_port = local.split(":")
            if state == "0A" and int(hex_port, 16) == port:  # 0A: LISTEN
                found.add(".".join(str(int(address[i:i + 2], 16)) for i in (6, 4, 2, 0)) if len(address) == 8 else address)
    return found


def _get(url: str, path: str, cookie: str | None = None) -> http.client.HTTPResponse:
    parts = urlsplit(url)
    connection = http.client.HTTPConnection(parts.hostname, parts.port, timeout=10)
    connection.request("GET", path, headers={"Cookie": cookie} if cookie else {})
    response = connection.getresponse()
    response.read()
    return response


@pytest.mark.slow
def test_ui_listens_on_loopback_only_and_serves_nothing_without_its_printed_token(pending_experiment: Experiment):
    with running_ui(pending_experiment.root) as url:
        parts = urlsplit(url)
        assert parts.hostname == "127.0.0.1"
        assert _listening_addresses(parts.port) == {"127.0.0.1"}
        assert _get(url, "/proposals").status == 401
        assert _get(url, "/?token=not-the-token").status == 401

        exchanged = _get(url, f"/?{parts.query}")
        assert exchanged.status == 303 and exchanged.getheader("location") == "/"
        cookie = exchanged.getheader("set-cookie").split(";")[0]
        assert cookie.startswith(f"rsilab_session_{parts.port}=")  # named by port: two dashboards never share one
        assert _get(url, "/proposals", cookie).status == 200


def test_ui_without_the_web_extra_says_which_extra_to_install(pending_experiment: Experiment):
    # fastapi made unimportable, as on an install without the `web` extra.
    code = "import sys; sys.modules['fastapi'] = None; from rsilab.cli import main; main()"
    result = subprocess.run([sys.executable, "-c", code, "ui", "-C", str(pending_experiment.root)],
                            check=False, capture_output=True, text=True, timeout=60)
    said = " ".join(result.stderr.split())  # Rich wraps long lines
    assert result.returncode == 1
    assert "needs the web extra" in said and "pip install 'rsilab[web]'" in said and "Traceback" not in said
