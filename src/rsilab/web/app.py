"""The dashboard's routes: server-rendered pages over one experiment, and the review action.

Every page reads the ledger afresh (a run in another process may be appending: SQLite's WAL
lets us read while it writes). Approve and reject call `Experiment.decide`, the very action
behind `rsilab review`, so the ledger cannot tell which of the two a person used.
"""

from __future__ import annotations

import getpass
import json
import re
from collections.abc import AsyncIterator, Iterable
from contextlib import asynccontextmanager
from datetime import UTC, datetime
from pathlib import Path
from typing import Annotated, Any

from fastapi import FastAPI, Form, HTTPException, Request
from fastapi.responses import (
    FileResponse,
    HTMLResponse,
    JSONResponse,
    RedirectResponse,
    Response,
)
from fastapi.staticfiles import StaticFiles
from fastapi.templating import Jinja2Templates
from markupsafe import Markup
from starlette.exceptions import HTTPException as StarletteHTTPException

from rsilab.errors import RsilabError
from rsilab.experiment import SELF_DIR, Experiment
from rsilab.records import Event
from rsilab.search.archive import build_archive
from rsilab.shown import visible
from rsilab.store.history import VersionRow, deployed_version, version_rows
from rsilab.store.versions import VersionStore
from rsilab.web import charts, pages
from rsilab.web.security import Guard, Refused, refusal

HERE = Path(__file__).parent
VERSION_ID = re.compile(r"v[0-9]{1,9}")
LEDGER_PAGE_LIMIT = 500
NAME_LIMIT = 80
COMMENT_LIMIT = 4000


def create_app(experiment: Experiment, token: str, hosts: Iterable[str], cookie_name: str = "rsilab_session") -> FastAPI:
    """The dashboard for `experiment`, answering only to `hosts` (Host header values) and `token`."""
    guard = Guard(token, hosts, cookie_name)

    @asynccontextmanager
    async def lifespan(_: FastAPI) -> AsyncIterator[None]:
        yield
        experiment.ledger.close()

    app = FastAPI(title="rsilab", docs_url=None, redoc_url=None, openapi_url=None, lifespan=lifespan)
    app.middleware("http")(guard)
    app.mount("/static", StaticFiles(directory=HERE / "static"), name="static")
    templates = _templates()
    default_person = getpass.getuser()

    def events() -> list[Event]:
        return experiment.ledger.events()

    def pending() -> set[str]:
        return {p["version"] for p in experiment.pending_reviews()}

    def head_seq() -> int:
        last = experiment.ledger.last()
        return last.seq if last else 0

    def render(request: Request, name: str, status_code: int = 200, **context: Any) -> HTMLResponse:
        base = {"pending_count": len(pending()), "plotly_js": charts.plotly_js_name(), "head_seq": head_seq(),
                "csrf": getattr(request.state, "csrf", ""), "default_person": default_person,
                "experiment_name": experiment.config.experiment.name}
        return templates.TemplateResponse(request, name, {**base, **context}, status_code=status_code)

    @app.exception_handler(RsilabError)
    async def rsilab_error(request: Request, exc: RsilabError) -> HTMLResponse:
        try:
            return render(request, "error.html", status_code=500, message=str(exc))
        except RsilabError:  # the page frame reads the ledger too; if that fails, say so plainly
            return refusal(500, str(exc), title="Error")

    @app.exception_handler(StarletteHTTPException)
    async def http_error(request: Request, exc: StarletteHTTPException) -> HTMLResponse:
        return render(request, "error.html", status_code=exc.status_code, message=str(exc.detail))

    @app.exception_handler(Refused)
    async def refused(request: Request, exc: Refused) -> HTMLResponse:
        return refusal(exc.status, exc.reason)

    @app.get("/", response_class=HTMLResponse)
    def overview(request: Request) -> HTMLResponse:
        snapshot = pages.overview(events(), pending())
        return render(
            request, "overview.html", nav="overview", o=snapshot,
            accuracy_chart=charts.accuracy_chart(snapshot.points, snapshot.rows),
            efficiency_chart=charts.efficiency_chart(snapshot.points, snapshot.rows),
        )

    @app.get("/proposals", response_class=HTMLResponse)
    def proposals(request: Request) -> HTMLResponse:
        all_events, waiting = events(), pending()
        rows = version_rows(all_events)
        store = VersionStore(experiment.root / SELF_DIR)
        queue = [pages.proposal_view(rows[v], rows, all_events, waiting, experiment.artifacts, store)
                 for v in rows if v in waiting]
        decided = [row for row in reversed(rows.values()) if row.proposal_artifact and row.id not in waiting]
        return render(request, "proposals.html", nav="proposals", queue=queue, decided=decided)

    @app.get("/versions/{version}", response_class=HTMLResponse)
    def version_page(request: Request, version: str, outcome: str | None = None) -> HTMLResponse:
        all_events = events()
        rows = version_rows(all_events)
        row = _row(rows, version)
        view = pages.proposal_view(row, rows, all_events, pending(), experiment.artifacts,
                                   VersionStore(experiment.root / SELF_DIR))
        children = [r for r in rows.values() if r.parent == version]
        return render(request, "version.html", nav="lineage", p=view, children=children, outcome=outcome)

    @app.post("/versions/{version}/decision")
    def decision(
        request: Request, version: str,
        verdict: Annotated[str, Form()], csrf: Annotated[str, Form()] = "",
        comment: Annotated[str, Form(max_length=COMMENT_LIMIT)] = "", by: Annotated[str, Form(max_length=NAME_LIMIT)] = "",
    ) -> Response:
        guard.check_csrf(request, csrf)
        if verdict not in {"approve", "reject"}:
            raise HTTPException(400, "verdict must be approve or reject")
        _row(version_rows(events()), version)
        person = " ".join(by.split()) or default_person
        try:
            result = experiment.decide(version, verdict == "approve", f"person:{person}", comment.strip())
        except RsilabError as exc:  # nothing recorded: hand the person's words back so none are lost
            return render(request, "error.html", status_code=409, message=str(exc), unsaved_comment=comment.strip())
        return RedirectResponse(f"/versions/{version}?outcome={result.outcome}", status_code=303)

    @app.get("/lineage", response_class=HTMLResponse)
    def lineage(request: Request) -> HTMLResponse:
        all_events = events()
        rows = version_rows(all_events)
        deployed = deployed_version(all_events)
        return render(request, "lineage.html", nav="lineage", roots=pages.lineage(rows),
                      deployed=deployed[0] if deployed else None, count=len(rows),
                      archive=build_archive(all_events).entries)

    @app.get("/versions/{version}/assessments", response_class=HTMLResponse)
    def assessments(request: Request, version: str, seq: int | None = None) -> HTMLResponse:
        all_events = events()
        row = _row(version_rows(all_events), version)
        view = pages.assessment_view(all_events, experiment.artifacts, version, seq)
        if seq is not None and view.chosen is None:
            raise HTTPException(404, f"event {seq} is not an assessment of {version}")
        return render(request, "assessment.html", nav="lineage", row=row, a=view)

    @app.get("/ledger", response_class=HTMLResponse)
    def ledger(request: Request, kind: str | None = None) -> HTMLResponse:
        report = experiment.ledger.verify()
        view = pages.ledger_view(events(), report, kind or None, LEDGER_PAGE_LIMIT)
        return render(request, "ledger.html", nav="ledger", l=view, limit=LEDGER_PAGE_LIMIT)

    @app.get("/live")
    def live() -> JSONResponse:
        # Polled by static/live.js: a page reloads (or offers to) when the ledger has moved on.
        return JSONResponse({"seq": head_seq(), "pending": len(pending())}, headers={"Cache-Control": "no-store"})

    @app.get("/favicon.ico")
    def favicon() -> FileResponse:  # browsers ask for it even on pages that name another icon
        return FileResponse(HERE / "static" / "favicon.svg", media_type="image/svg+xml")

    @app.get("/vendor/{name}")
    def vendor(name: str) -> FileResponse:
        if name != charts.plotly_js_name():
            raise HTTPException(404, "no such file")
        source = charts.plotly_js()
        if not source.is_file():
            raise RsilabError("plotly.js is missing from the installed plotly package: reinstall the `web` extra")
        return FileResponse(str(source), media_type="text/javascript",
                            headers={"Cache-Control": "private, max-age=31536000, immutable"})

    return app


def _row(rows: dict[str, VersionRow], version: str) -> VersionRow:
    if not VERSION_ID.fullmatch(version) or version not in rows:
        raise HTTPException(404, f"no version {version}: see the lineage page")
    return rows[version]


def _templates() -> Jinja2Templates:
    templates = Jinja2Templates(directory=HERE / "templates")
    env = templates.env
    # Autoescaping makes self-written text inert HTML; this makes its control and bidi characters
    # visible too (a \u202e would otherwise reorder what a reviewer reads). Every {{ }} passes here.
    # Markup (a macro's output) was built from {{ }} already made visible, and must stay unescaped.
    env.finalize = lambda value: visible(value) if isinstance(value, str) and not isinstance(value, Markup) else value
    env.filters["pct"] = lambda x, digits=1: "–" if x is None else f"{x:.{digits}%}"
    env.filters["signed_pct"] = lambda x: "–" if x is None else f"{x * 100:+.1f} pp"
    env.filters["num"] = lambda x, digits=2: "–" if x is None else f"{x:,.{digits}f}"
    env.filters["signed"] = lambda x, digits=2: "–" if x is None else f"{x:+,.{digits}f}"
    env.filters["when"] = lambda ts: datetime.fromtimestamp(ts, UTC).strftime("%Y-%m-%d %H:%M:%S UTC")
    env.filters["pretty"] = lambda obj: json.dumps(obj, indent=2, ensure_ascii=False, default=str)
    env.filters["compact"] = lambda obj: json.dumps(obj, ensure_ascii=False, separators=(", ", ": "), default=str)
    return templates
