"""Who may use the dashboard: a token printed at start, then a session cookie; no cross-site posts.

The token, given once as `?token=…`, is exchanged for a session held in an HttpOnly,
SameSite=Strict cookie, and the redirect drops it from the address bar (and so from history
and Referer headers). Every request must name a Host we serve (a DNS-rebinding page cannot
reach us), and every state-changing request must come from our own origin (its Origin header,
else its Referer) and carry the CSRF token tied to its session.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
import threading
from collections.abc import Awaitable, Callable, Iterable
from html import escape
from urllib.parse import urlsplit

from starlette.requests import Request
from starlette.responses import HTMLResponse, RedirectResponse, Response

TOKEN_PARAM = "token"
SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})

# Scripts only from us; plotly.js injects <style> elements, hence 'unsafe-inline' for styles only.
SECURITY_HEADERS = {
    "Content-Security-Policy": (
        "default-src 'self'; script-src 'self'; style-src 'self' 'unsafe-inline'; img-src 'self' data:; "
        "connect-src 'self'; frame-ancestors 'none'; base-uri 'none'; form-action 'self'"
    ),
    "X-Frame-Options": "DENY",
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "same-origin",
}

CallNext = Callable[[Request], Awaitable[Response]]


class Refused(Exception):
    """A request the guard will not serve; `status` and `reason` go back to the browser."""

    def __init__(self, status: int, reason: str) -> None:
        super().__init__(reason)
        self.status, self.reason = status, reason


class Guard:
    """The dashboard's access control, used as an HTTP middleware; one per server."""

    def __init__(self, token: str, hosts: Iterable[str], cookie_name: str = "rsilab_session") -> None:
        if len(token) < 16:
            raise ValueError("the access token must be at least 16 characters")
        self._token = token.encode()
        self.hosts = frozenset(h.lower() for h in hosts)
        self.cookie_name = cookie_name
        self._sessions: set[str] = set()
        self._sessions_lock = threading.Lock()
        self._csrf_key = secrets.token_bytes(32)

    # -- sessions and CSRF tokens ----------------------------------------------------------

    def open_session(self) -> str:
        session = secrets.token_urlsafe(32)
        with self._sessions_lock:
            self._sessions.add(session)
        return session

    def session_of(self, request: Request) -> str | None:
        session = request.cookies.get(self.cookie_name)
        with self._sessions_lock:
            return session if session in self._sessions else None

    def csrf_token(self, session: str) -> str:
        """Derived from the session, so a token lifted from one session is useless in another."""
        return hmac.new(self._csrf_key, session.encode(), hashlib.sha256).hexdigest()

    def check_csrf(self, request: Request, submitted: str) -> None:
        session = self.session_of(request)
        if session is None or not hmac.compare_digest(submitted.encode(), self.csrf_token(session).encode()):
            raise Refused(403, "this form is stale or was not sent by the dashboard: reload the page and try again")

    # -- the middleware ----------------------------------------------------------------------

    async def __call__(self, request: Request, call_next: CallNext) -> Response:
        try:
            response = await self._admit(request, call_next)
        except Refused as refused:
            response = refusal(refused.status, refused.reason)
        response.headers.update(SECURITY_HEADERS)
        response.headers.setdefault("Cache-Control", "no-store")
        return response

    async def _admit(self, request: Request, call_next: CallNext) -> Response:
        host = request.headers.get("host", "").lower()
        if host not in self.hosts:
            raise Refused(400, f"this dashboard does not answer to host {host!r}: use the address `rsilab ui` printed")
        offered = request.query_params.get(TOKEN_PARAM)
        if offered is not None:
            return self._exchange_token(request, offered)
        session = self.session_of(request)
        if session is None:
            raise Refused(401, "this dashboard needs its access token: open the address `rsilab ui` printed "
                               "(it ends in ?token=…)")
        if request.method not in SAFE_METHODS:
            self._check_same_origin(request, host)
        request.state.session = session
        request.state.csrf = self.csrf_token(session)
        return await call_next(request)

    def _exchange_token(self, request: Request, offered: str) -> Response:
        if request.method not in SAFE_METHODS or not hmac.compare_digest(offered.encode(), self._token):
            raise Refused(401, "wrong access token: open the address `rsilab ui` printed when it started")
        clean = request.url.remove_query_params(TOKEN_PARAM)
        response = RedirectResponse(clean.path + (f"?{clean.query}" if clean.query else ""), status_code=303)
        response.set_cookie(self.cookie_name, self.open_session(), httponly=True, samesite="strict", path="/")
        return response

    def _check_same_origin(self, request: Request, host: str) -> None:
        """A browser names the page a post came from; only our own pages may post."""
        ours = f"{request.url.scheme}://{host}"
        origin = request.headers.get("origin")
        if origin is not None:
            if origin.lower() != ours:
                raise Refused(403, f"cross-site request refused: it came from {origin}, not from this dashboard")
            return
        referer = request.headers.get("referer")
        if referer is None:
            raise Refused(403, "request refused: it names no Origin or Referer, so it cannot be shown to come from this dashboard")
        parts = urlsplit(referer)
        if f"{parts.scheme}://{parts.netloc}".lower() != ours:
            raise Refused(403, f"cross-site request refused: it came from {parts.scheme}://{parts.netloc}")


def refusal(status: int, reason: str, title: str = "Refused") -> HTMLResponse:
    """A bare page: it must not need the ledger or the templates, which may be what failed."""
    body = (
        f"<!doctype html><html lang='en'><head><meta charset='utf-8'><title>rsilab: {escape(title)}</title></head>"
        f"<body><h1>{escape(title)} ({status})</h1><p>{escape(reason)}</p></body></html>"
    )
    return HTMLResponse(body, status_code=status)
