"""The pages, read from a real experiment, and the review action they offer."""

from __future__ import annotations

import fcntl
import html
import json
import re
import sqlite3
import subprocess
import sys
import time
from html.parser import HTMLParser
from pathlib import Path

import httpx2
from dashboard_client import HOST, TOKEN, csrf_of
from fastapi.testclient import TestClient
from markupsafe import escape
from search_scripts import search_config

from rsilab.assess.metrics import by_group
from rsilab.experiment import Experiment
from rsilab.records import Assessment, Proposal, Verdict
from rsilab.search.archive import build_archive
from rsilab.web import charts
from rsilab.web.app import create_app

OURS = f"http://{HOST}"


def _figure(page: str, chart_id: str) -> dict:
    found = re.search(rf'id="{chart_id}" data-figure="([^"]*)"', page)
    assert found, f"no chart {chart_id}"
    return json.loads(html.unescape(found.group(1)))


def _heldout(exp: Experiment) -> dict[str, dict]:
    return {e.payload["version"]: e.payload["summary"] for e in exp.events("assessment.recorded") if e.payload["split"] == "heldout"}


def _decide(client: TestClient, verdict: str, comment: str, by: str = "ada") -> httpx2.Response:
    data = {"verdict": verdict, "comment": comment, "by": by, "csrf": csrf_of(client)}
    return client.post("/versions/v4/decision", data=data, headers={"origin": OURS})


# ---- overview --------------------------------------------------------------------------------------


def test_overview_shows_the_deployed_version_and_rounds_from_the_ledger(client: TestClient, pending_experiment: Experiment):
    page = client.get("/").text
    deployed = pending_experiment.deployed()[0]
    assert re.search(rf'id="deployed"><a href="/versions/{deployed}">{deployed}</a>', page)
    completed = len(pending_experiment.events("round.completed"))
    started = len(pending_experiment.events("round.started"))
    assert re.search(rf'id="rounds">{completed} <span class="muted">/ {started} started', page)
    for event in pending_experiment.events("round.completed"):
        assert f'<td><a href="/versions/{event.payload["candidate"]}">{event.payload["candidate"]}</a></td>' in page
    assert "awaiting review" in page  # round 3 waits for a person


def test_overview_charts_plot_held_out_accuracy_with_intervals_and_cost_per_task(client: TestClient, pending_experiment: Experiment):
    page = client.get("/").text
    heldout = _heldout(pending_experiment)
    accuracy = _figure(page, "chart-accuracy")
    trace = next(t for t in accuracy["data"] if t["name"] == "held-out")
    assert trace["x"] == sorted(heldout, key=lambda v: int(v[1:]))
    assert trace["y"] == [heldout[v]["accuracy"] for v in trace["x"]]
    assert trace["error_y"]["arrayminus"] == [heldout[v]["accuracy"] - heldout[v]["low"] for v in trace["x"]]
    assert accuracy["layout"]["xaxis"]["categoryarray"] == list(pending_experiment.rows())

    efficiency = _figure(page, "chart-efficiency")
    cpu = next(t for t in efficiency["data"] if t["name"] == "CPU ms / task")
    assert cpu["y"] == [1000 * heldout[v]["cpu_seconds"] / heldout[v]["n"] for v in cpu["x"]]
    tokens = next(t for t in efficiency["data"] if t["name"] == "tokens / task")
    assert tokens["y"] == [heldout[v]["tokens"] / heldout[v]["n"] for v in tokens["x"]]


def test_plotly_js_is_served_by_the_app_from_the_installed_plotly_package(client: TestClient):
    page = client.get("/").text
    src = re.search(r'<script src="(/vendor/[^"]+)"', page).group(1)
    served = client.get(src)
    assert served.status_code == 200 and served.headers["content-type"].startswith("text/javascript")
    assert served.content == charts.plotly_js().read_bytes()
    assert b"plotly.js v" in served.content[:200]
    for url in re.findall(r'(?:src|href)="([^"]*)"', page):
        assert url.startswith("/"), f"{url} is not served by the app"


# ---- proposals and the review action ------------------------------------------------------------------


def test_proposals_queue_shows_the_pending_diff_side_by_side_with_rationale_gates_and_deltas(
    client: TestClient, pending_experiment: Experiment,
):
    page = client.get("/proposals").text
    row = pending_experiment.rows()["v4"]
    proposal = pending_experiment.artifacts.get_record(row.proposal_artifact, Proposal)
    verdict = pending_experiment.artifacts.get_record(row.verdict_artifact, Verdict)
    assert str(escape(proposal.rationale)) in page
    # Side by side: the old line on the left, the new one on the right, both with git's line numbers.
    old_line = _line_of(pending_experiment, "v1", "tools.py", "    total = int(tokens[0])")
    new_line = _line_of(pending_experiment, "v4", "tools.py", "    return sum(terms)")
    assert re.search(rf'<td class="ln removed">{old_line}</td><td class="removed old">    total = int\(tokens\[0\]\)</td>', page)
    assert re.search(rf'<td class="ln side-sep added">{new_line}</td><td class="added new">    return sum\(terms\)</td>', page)
    for gate in verdict.gates:
        assert f'<span class="name">{gate.name}</span>' in page
        assert str(escape(gate.summary)) in page
    benchmark = next(g for g in verdict.gates if g.name == "benchmark").evidence
    delta, low, high = benchmark["accuracy_delta"]
    assert f"<strong>{delta * 100:+.1f} pp</strong>" in page
    assert f"[{low * 100:+.1f} pp, {high * 100:+.1f} pp]" in page
    assert f"McNemar one-sided p = {benchmark['p_better']:.3g}" in page
    assert 'value="approve"' in page and 'value="reject"' in page


def test_approving_in_the_web_records_the_persons_decision_and_deploys_the_version(client: TestClient, pending_experiment: Experiment):
    response = _decide(client, "approve", "clean fix, thanks")
    assert response.status_code == 303 and response.headers["location"] == "/versions/v4?outcome=deployed"

    decisions = [e.payload for e in pending_experiment.events("decision.recorded") if e.payload["version"] == "v4"]
    assert decisions == [{"round": 3, "version": "v4", "approved": True, "by": "person:ada", "comment": "clean fix, thanks"}]
    assert pending_experiment.events("version.deployed")[-1].payload["version"] == "v4"
    completed = pending_experiment.events("round.completed")[-1].payload
    assert (completed["round"], completed["candidate"], completed["outcome"]) == (3, "v4", "deployed")
    assert pending_experiment.versions.deployed() == pending_experiment.commit_of("v4")
    assert pending_experiment.ledger.verify().ok

    shown = client.get(response.headers["location"]).text
    assert "v4 is deployed" in shown and "person:ada" in shown and 'name="csrf"' not in shown
    assert "Nothing awaits review" in client.get("/proposals").text


def test_rejecting_in_the_web_keeps_the_parent_and_feeds_the_comment_to_the_next_proposal(
    client: TestClient, pending_experiment: Experiment,
):
    response = _decide(client, "reject", "add a test for precedence first", by="  grace  hopper ")
    assert response.headers["location"] == "/versions/v4?outcome=rejected"
    decision = [e.payload for e in pending_experiment.events("decision.recorded") if e.payload["version"] == "v4"]
    assert decision[0]["approved"] is False and decision[0]["by"] == "person:grace hopper"
    assert pending_experiment.versions.deployed() == pending_experiment.commit_of("v1")
    fed = next(h for h in pending_experiment._history() if h["version"] == "v4")
    assert fed["comment"] == "add a test for precedence first"


def test_deciding_twice_is_refused_with_a_message_and_records_nothing_more(client: TestClient, pending_experiment: Experiment):
    csrf = csrf_of(client)
    assert _decide(client, "approve", "first").status_code == 303
    again = client.post("/versions/v4/decision", data={"verdict": "reject", "csrf": csrf, "comment": "second"},
                        headers={"origin": OURS})
    assert again.status_code == 409 and "not awaiting review" in again.text
    assert '<pre id="unsaved-comment">second</pre>' in again.text  # the refused comment is handed back
    assert len([e for e in pending_experiment.events("decision.recorded") if e.payload["version"] == "v4"]) == 1


def test_a_decision_while_another_command_changes_the_experiment_is_refused_with_a_message(
    client: TestClient, pending_experiment: Experiment,
):
    csrf = csrf_of(client)
    with open(pending_experiment.root / ".rsilab" / "lock", "w") as held:  # what a running `rsilab run` holds
        fcntl.flock(held, fcntl.LOCK_EX)
        response = client.post("/versions/v4/decision", data={"verdict": "approve", "csrf": csrf, "comment": "<b>ok</b>"},
                               headers={"origin": OURS})
    assert response.status_code == 409 and "another rsilab command" in response.text
    assert '<pre id="unsaved-comment">&lt;b&gt;ok&lt;/b&gt;</pre>' in response.text  # handed back, escaped
    assert [p["version"] for p in pending_experiment.pending_reviews()] == ["v4"]


def test_a_verdict_other_than_approve_or_reject_changes_nothing(client: TestClient, pending_experiment: Experiment):
    response = client.post("/versions/v4/decision", data={"verdict": "deploy", "csrf": csrf_of(client)}, headers={"origin": OURS})
    assert response.status_code == 400
    assert [p["version"] for p in pending_experiment.pending_reviews()] == ["v4"]


def test_a_version_rejected_by_a_gate_shows_which_gate_and_its_evidence(client: TestClient, pending_experiment: Experiment):
    row = pending_experiment.rows()["v2"]
    page = client.get("/versions/v2").text
    assert f"stopped at gate <strong>{row.failed_gate}</strong>" in page
    assert '<span class="badge fail">FAIL</span>' in page and "alignment.toml" in page
    assert 'name="csrf"' not in page  # nothing to decide


def test_an_unknown_version_is_404_with_a_message(client: TestClient):
    for path in ("/versions/v99", "/versions/x/assessments", "/versions/v1/assessments?seq=1"):
        response = client.get(path)
        assert response.status_code == 404, path
    assert "lineage" in client.get("/versions/v99").text


# ---- lineage and assessments ----------------------------------------------------------------------


class _TreeParser(HTMLParser):
    """Which node id each tree node sits under, from the nesting of <li> elements."""

    def __init__(self) -> None:
        super().__init__()
        self.stack: list[str | None] = []
        self.parent: dict[str, str | None] = {}
        self.state: dict[str, str] = {}

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        found = dict(attrs)
        if tag == "li":
            self.stack.append(None)
        elif tag == "span" and (found.get("id") or "").startswith("node-"):
            version = found["id"].removeprefix("node-")
            self.stack[-1] = version
            self.parent[version] = next((v for v in reversed(self.stack[:-1]) if v), None)
            self.state[version] = (found.get("class") or "").split()[-1]

    def handle_endtag(self, tag: str) -> None:
        if tag == "li":
            self.stack.pop()


def test_lineage_places_every_version_under_its_parent_with_its_state(client: TestClient, pending_experiment: Experiment):
    parser = _TreeParser()
    parser.feed(client.get("/lineage").text)
    rows = pending_experiment.rows()
    assert parser.parent == {vid: row.parent for vid, row in rows.items()}
    assert parser.state == {vid: str(row.state) for vid, row in rows.items()}
    assert set(parser.state.values()) >= {"deployed", "rejected", "verified"}


def test_assessment_page_shows_accuracy_per_family_and_difficulty_and_failing_examples_with_traces(
    client: TestClient, pending_experiment: Experiment,
):
    event = [e for e in pending_experiment.events("assessment.recorded")
             if e.payload["version"] == "v1" and e.payload["split"] == "heldout"][-1]
    assessment = pending_experiment.artifacts.get_record(event.payload["artifact"], Assessment)
    page = client.get("/versions/v1/assessments").text  # the latest held-out is shown by default
    assert f'href="?seq={event.seq}" class="active"' in page
    for (family, difficulty), rate in by_group(assessment.outcomes).items():
        assert re.search(rf"<td>{family}</td><td class=\"num\">{difficulty}</td>\s*<td class=\"num\">{rate.correct} / {rate.n}</td>", page)
    failures = [o for o in assessment.outcomes if not o.correct]
    assert failures, "the demo's v1 has a precedence bug: some held-out tasks must fail"
    assert page.count('<span class="badge fail">wrong</span>') == len(failures)
    for outcome in failures:
        assert outcome.question in page and f"expected <code>{outcome.expected}</code>" in page
        assert str(escape(json.dumps(outcome.trace[0]["input"]))) in page  # the trace, step by step

    dev = next(e for e in pending_experiment.events("assessment.recorded") if e.payload["split"] == "dev")
    chosen = client.get(f"/versions/v1/assessments?seq={dev.seq}").text
    assert f'href="?seq={dev.seq}" class="active"' in chosen and f"n = {dev.payload['summary']['n']}" in chosen


# ---- the ledger -------------------------------------------------------------------------------------


def test_ledger_page_shows_the_chain_verified_and_its_events_newest_first(client: TestClient, pending_experiment: Experiment):
    events = pending_experiment.events()
    page = client.get("/ledger").text
    assert f"<strong>verified</strong>: {len(events)} events" in page
    seqs = [int(s) for s in re.findall(r'<tr class="">\s*<td class="num">(\d+)</td>', page)]
    assert seqs == [e.seq for e in reversed(events)]
    only = client.get("/ledger?kind=decision.recorded").text
    shown = re.findall(r'<td class="mono">([a-z.]+)</td>', only)
    assert shown == ["decision.recorded"] * len(pending_experiment.events("decision.recorded"))


def test_ledger_page_names_the_first_tampered_event(client: TestClient, pending_experiment: Experiment):
    with sqlite3.connect(pending_experiment.root / ".rsilab" / "ledger.db") as conn:
        for (name,) in conn.execute("SELECT name FROM sqlite_master WHERE type = 'trigger'").fetchall():
            conn.execute(f"DROP TRIGGER {name}")
        conn.execute("""UPDATE events SET payload = '{"round":1,"version":"v2","approved":true}' WHERE seq = 8""")
    page = client.get("/ledger").text
    assert "<strong>broken</strong> at event 8" in page and "edited" in page
    assert "verified" not in page


APPENDER = """
import sys, time
from pathlib import Path
from rsilab.store.ledger import Ledger
state, count = Path(sys.argv[1]), int(sys.argv[2])
with Ledger(state / "ledger.db", state / "ledger.head") as ledger:
    for i in range(count):
        ledger.append("test.tick", {"i": i})
        time.sleep(0.01)
"""


def test_pages_keep_loading_while_another_process_appends_to_the_ledger(client: TestClient, pending_experiment: Experiment):
    before = len(pending_experiment.events())
    count = 80
    writer = subprocess.Popen([sys.executable, "-c", APPENDER, str(pending_experiment.root / ".rsilab"), str(count)])
    seen: list[int] = []
    try:
        while writer.poll() is None:
            overview = client.get("/")
            ledger = client.get("/ledger")
            assert overview.status_code == 200 and ledger.status_code == 200
            assert "<strong>verified</strong>" in ledger.text  # a head one event behind is a write in flight, not damage
            seen.append(int(re.search(r"<strong>verified</strong>: (\d+) events", ledger.text).group(1)))
            time.sleep(0.05)
    finally:
        writer.wait(timeout=60)
    assert writer.returncode == 0
    live = [n for n in seen if before < n < before + count]
    assert len(set(live)) >= 2, f"no page load saw the ledger mid-run: {seen}"
    assert seen == sorted(seen)
    assert f"<strong>verified</strong>: {before + count} events" in client.get("/ledger").text


def test_a_damaged_artifact_is_reported_on_the_page_not_shown_as_if_intact(client: TestClient, pending_experiment: Experiment):
    digest = pending_experiment.rows()["v4"].proposal_artifact
    path = pending_experiment.artifacts.path(digest)
    path.chmod(0o644)
    path.write_text(path.read_text().replace("precedence", "nothing to see"))
    response = client.get("/versions/v4")
    assert response.status_code == 500
    assert f"artifact {digest} is corrupt" in response.text and "nothing to see" not in response.text


def _line_of(experiment: Experiment, version: str, path: str, text: str) -> int:
    lines = experiment.versions.files(experiment.commit_of(version))[path].decode().splitlines()
    return lines.index(text) + 1


def test_live_reports_the_ledger_head_and_the_queue_and_every_page_carries_the_head_it_was_drawn_at(
    client: TestClient, pending_experiment: Experiment,
):
    head = pending_experiment.ledger.last()
    assert head is not None
    response = client.get("/live")
    assert response.json() == {"seq": head.seq, "pending": 1} and response.headers["cache-control"] == "no-store"
    for path in ("/", "/proposals", "/lineage", "/ledger"):
        assert f'<body data-seq="{head.seq}">' in client.get(path).text
    # Another process (a run, `rsilab review`) appends: the poll sees it at once.
    _decide(client, "reject", "not now")
    assert client.get("/live").json() == {"seq": pending_experiment.ledger.last().seq, "pending": 0}
    assert pending_experiment.ledger.last().seq > head.seq


def test_lineage_of_a_search_names_each_candidate_its_gate_and_its_archive_score(tmp_path: Path):
    exp = Experiment.init(tmp_path / "search", "agent", config_text=search_config(candidates=4))
    exp.run(1)
    with TestClient(create_app(Experiment(exp.root), TOKEN, [HOST]), follow_redirects=False) as client:
        client.get(f"/?token={TOKEN}")
        page = client.get("/lineage").text
    parser = _TreeParser()
    parser.feed(page)
    assert parser.parent == {"v1": None, "v2": "v1", "v3": "v1", "v4": "v1", "v5": "v1"}
    for k, version in enumerate(("v2", "v3", "v4", "v5"), start=1):
        node = page[page.index(f'id="node-{version}"'):]
        assert f"candidate {k}/4" in node[:1500]
    v3 = page[page.index('id="node-v3"'):]
    assert "reached contract" in v3[:1500]
    fix = build_archive(exp.events()).entries["v4"]
    assert f"{fix.successes}/{fix.n} held-out" in page[page.index('id="node-v4"'):][:1500]
    assert "was deployed" in page[page.index('id="node-v1"'):][:1500]
