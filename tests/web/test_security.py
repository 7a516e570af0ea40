"""Access control: no token, no page; no cross-site or forged post changes anything."""

from __future__ import annotations

import httpx2
import pytest
from dashboard_client import COOKIE, HOST, TOKEN, csrf_of
from fastapi.testclient import TestClient

from rsilab.experiment import Experiment

OURS = f"http://{HOST}"
PAGES = ["/", "/proposals", "/lineage", "/ledger", "/versions/v4", "/versions/v1/assessments", "/static/style.css", "/live"]


def _approve(client: TestClient, csrf: str, **headers: str) -> httpx2.Response:
    return client.post("/versions/v4/decision", data={"verdict": "approve", "csrf": csrf, "comment": "ok"}, headers=headers)


def _still_pending(exp: Experiment) -> bool:
    decided = [e for e in exp.events("decision.recorded") if e.payload["version"] == "v4"]
    return [p["version"] for p in exp.pending_reviews()] == ["v4"] and not decided


@pytest.mark.parametrize("path", PAGES)
def test_every_page_without_the_token_is_refused_and_shows_nothing_of_the_experiment(anonymous: TestClient, path: str):
    response = anonymous.get(path)
    assert response.status_code == 401
    assert "v4" not in response.text and "calculator" not in response.text
    assert "token" in response.text  # says what to do


def test_a_wrong_token_is_refused_and_opens_no_session(anonymous: TestClient):
    response = anonymous.get("/?token=" + "y" * 43)
    assert response.status_code == 401
    assert COOKIE not in response.cookies
    assert anonymous.get("/").status_code == 401


def test_the_token_is_exchanged_for_an_httponly_strict_cookie_and_dropped_from_the_address(anonymous: TestClient):
    response = anonymous.get(f"/ledger?kind=round.started&token={TOKEN}")
    assert response.status_code == 303
    assert response.headers["location"] == "/ledger?kind=round.started"
    cookie = response.headers["set-cookie"].lower()
    assert "httponly" in cookie and "samesite=strict" in cookie and "path=/" in cookie
    assert TOKEN not in cookie  # the session is not the token
    page = anonymous.get("/ledger?kind=round.started")
    assert page.status_code == 200 and "round.started" in page.text


def test_a_forged_session_cookie_is_refused(anonymous: TestClient):
    anonymous.cookies.set(COOKIE, "made-up-session")
    assert anonymous.get("/").status_code == 401
    anonymous.cookies.set(COOKIE, TOKEN)  # the token itself is not a session either
    assert anonymous.get("/").status_code == 401


def test_an_unexpected_host_header_is_refused_even_with_the_token(anonymous: TestClient):
    """A DNS-rebinding page reaches us under its own host name: refuse it."""
    response = anonymous.get(f"/?token={TOKEN}", headers={"host": "evil.example:8765"})
    assert response.status_code == 400 and COOKIE not in response.cookies


def test_pages_forbid_framing_inline_scripts_and_caching(client: TestClient):
    response = client.get("/")
    assert response.status_code == 200
    csp = response.headers["content-security-policy"]
    assert "script-src 'self'" in csp and "frame-ancestors 'none'" in csp and "form-action 'self'" in csp
    assert response.headers["x-frame-options"] == "DENY" and response.headers["cache-control"] == "no-store"
    assert "<script>" not in response.text  # every script is a file the CSP allows


def test_a_cross_site_post_is_refused_even_with_the_session_cookie_and_csrf_token(client: TestClient, pending_experiment: Experiment):
    csrf = csrf_of(client)
    response = _approve(client, csrf, origin="http://evil.example")
    assert response.status_code == 403 and "cross-site" in response.text
    response = _approve(client, csrf, referer="http://evil.example/page")
    assert response.status_code == 403
    assert _still_pending(pending_experiment)


def test_a_post_from_another_port_of_the_same_host_is_refused(client: TestClient, pending_experiment: Experiment):
    """Ports share cookies (SameSite does not see them), so the Origin check must."""
    response = _approve(client, csrf_of(client), origin=f"{OURS}:9999")
    assert response.status_code == 403
    assert _still_pending(pending_experiment)


def test_a_post_naming_no_origin_or_referer_is_refused(client: TestClient, pending_experiment: Experiment):
    response = _approve(client, csrf_of(client))
    assert response.status_code == 403 and "Origin" in response.text
    assert _still_pending(pending_experiment)


def test_a_same_origin_post_without_the_csrf_token_is_refused(client: TestClient, pending_experiment: Experiment):
    for csrf in ("", "0" * 64):
        response = _approve(client, csrf, origin=OURS)
        assert response.status_code == 403
    assert _still_pending(pending_experiment)


def test_a_csrf_token_from_another_session_is_refused(client: TestClient, pending_experiment: Experiment):
    stolen = csrf_of(client)
    assert client.get(f"/?token={TOKEN}").status_code == 303  # a second login: a new session, a new CSRF token
    assert csrf_of(client) != stolen
    response = _approve(client, stolen, origin=OURS)
    assert response.status_code == 403
    assert _still_pending(pending_experiment)


def test_a_post_without_a_session_is_refused_before_anything_else(anonymous: TestClient, pending_experiment: Experiment):
    response = anonymous.post("/versions/v4/decision", data={"verdict": "approve"}, headers={"origin": OURS})
    assert response.status_code == 401
    assert anonymous.post(f"/versions/v4/decision?token={TOKEN}", data={"verdict": "approve"},
                          headers={"origin": OURS}).status_code == 401  # the token opens sessions only on GET
    assert _still_pending(pending_experiment)


def test_a_same_origin_post_with_the_sessions_csrf_token_is_accepted(client: TestClient, pending_experiment: Experiment):
    response = _approve(client, csrf_of(client), referer=f"{OURS}/proposals")
    assert response.status_code == 303
    assert pending_experiment.pending_reviews() == []
