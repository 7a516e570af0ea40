"""Serving the dashboard: bind, mint the access token, print the address, run uvicorn."""

from __future__ import annotations

import ipaddress
import secrets
import socket
from collections.abc import Callable

import uvicorn

from rsilab.errors import RsilabError
from rsilab.experiment import Experiment
from rsilab.web.app import create_app

LOOPBACK_NAMES = ("127.0.0.1", "localhost", "[::1]")


def serve(experiment: Experiment, host: str = "127.0.0.1", port: int = 8765, say: Callable[[str], None] = print) -> None:
    """Run the dashboard until interrupted. Port 0 picks a free port; the address printed names it."""
    sock = _bind(host, port)
    port = sock.getsockname()[1]
    token = secrets.token_urlsafe(32)
    shown_host = f"[{host}]" if ":" in host else host
    names = {shown_host, *LOOPBACK_NAMES} if _is_loopback(host) else {shown_host}
    hosts = [f"{name}:{port}" for name in names]
    # The cookie name carries the port: browsers share cookies between ports of one host.
    app = create_app(experiment, token, hosts, cookie_name=f"rsilab_session_{port}")
    if not _is_loopback(host):
        say(f"warning: {host} is reachable from other machines and this server has no TLS; "
            "the token is all that protects it")
    say(f"rsilab dashboard for {experiment.root}")
    say(f"open http://{shown_host}:{port}/?token={token}")
    say("stop with Ctrl-C")
    # No access log: the first request's address carries the token.
    config = uvicorn.Config(app, log_level="warning", access_log=False, lifespan="on")
    uvicorn.Server(config).run(sockets=[sock])


def _bind(host: str, port: int) -> socket.socket:
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    try:
        sock.bind((host, port))
    except OSError as exc:
        sock.close()
        raise RsilabError(f"cannot listen on {host}:{port} ({exc.strerror}): choose another --port, or --port 0 for any free one") from exc
    sock.listen(64)
    sock.set_inheritable(True)
    return sock


def _is_loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False
