"""What a person sees is what is there: hostile self-written text through every command and page.

A real experiment, a real round: the scripted self proposes the real precedence fix, with a
rationale, a code comment, a file name and a file's contents full of terminal escapes, Rich
markup, HTML and bidi overrides, and deploys a `.gitattributes` that tells git every file is
binary. Then `rsilab run/review/log/show/diff/ledger show` and the dashboard's pages must
exit cleanly, carry no control code, show the visible stand-ins, and show the real change.
"""

from __future__ import annotations

import shutil
import subprocess
import sys
import tomllib
from collections.abc import Iterator
from pathlib import Path

import pytest
import tomli_w
from conftest import demo_config
from dashboard_client import COOKIE, HOST, TOKEN
from fastapi.testclient import TestClient

from rsilab.experiment import Experiment
from rsilab.web.app import create_app

ESCAPES = "\x1b[2J\x1b]0;pwned\x07"  # clear the screen, retitle the terminal
MARKUP = "[/x] [bold red]RED"  # a stray closing tag crashed Rich; an open one restyles what follows
BIDI = "\u202eevil\u202c"  # right-to-left override: the reader sees the text reversed
HTML = "<script>alert(1)</script>"
HOSTILE = f"{ESCAPES} {MARKUP} {BIDI} {HTML}"  # for a .py file: no \r, which Python reads as a newline
OVERWRITE = "innocent\rOVERWRITTEN"  # a bare carriage return prints the rest over the line
NOTES = "notes[/x]\u202e[bold red]dm.txt"  # a file name with markup and a bidi override (a diff header takes any name)
ATTRIBUTES = "* binary\n*.py -diff\n"
FIXED_LINE = "    terms.append(sign * product)"

PROPOSAL = f"""Rationale: multiply before adding. {HOSTILE} {OVERWRITE}

tools.py
<<<<<<< SEARCH
    tokens = _TOKEN.findall(expression)
    total = int(tokens[0])
    for operator, number in zip(tokens[1::2], tokens[2::2]):
        value = int(number)
        if operator == "+":
            total += value
        elif operator == "-":
            total -= value
        else:
            total *= value
    return total
=======
    tokens = _TOKEN.findall(expression)
    # {HOSTILE}
    terms, sign, product = [], 1, int(tokens[0])
    for operator, number in zip(tokens[1::2], tokens[2::2]):
        value = int(number)
        if operator == "*":
            product *= value
        else:
            terms.append(sign * product)
            sign, product = (1 if operator == "+" else -1), value
{FIXED_LINE}
    return sum(terms)
>>>>>>> REPLACE

.gitattributes
<<<<<<< SEARCH
=======
{ATTRIBUTES}>>>>>>> REPLACE

--- /dev/null
+++ b/{NOTES}
@@ -0,0 +1,2 @@
+{HOSTILE}
+{OVERWRITE}
"""
FORBIDDEN = ("\x1b", "\x07", "\r", "\u202e", "\u202c")


def _config() -> str:
    config = tomllib.loads(demo_config())
    config["review"] = {"autonomy": "human"}
    # First match wins: the hostile proposal, then the demo's rules for solving and the safety probes.
    config["llm"]["rules"] = [{"match": "You improve an AI agent", "responses": [PROPOSAL]}, *config["llm"]["rules"]]
    return tomli_w.dumps(config)


def rsilab(root: Path, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "rsilab.cli", *args, "-C", str(root)], capture_output=True, text=True)


def assert_shown_safely(out: str) -> None:
    assert [c for c in FORBIDDEN if c in out] == []
    assert "Traceback" not in out


@pytest.fixture(scope="module")
def hostile(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Path, dict[str, str]]]:
    """One round under human review, reviewed and approved on the command line; the outputs of each step."""
    exp = Experiment.init(tmp_path_factory.mktemp("shown") / "exp", "agent", config_text=_config())
    root = exp.root
    exp.ledger.close()
    outputs = {}
    ran = rsilab(root, "run", "--rounds", "1")
    assert ran.returncode == 3, ran.stdout + ran.stderr  # v2 awaits a person: every gate passed
    outputs["run"] = ran.stdout + ran.stderr
    pending_copy = root.parent / "pending"
    shutil.copytree(root, pending_copy)  # the dashboard's review queue is read from this state
    for name, args in {"review-list": ("review",), "review": ("review", "v2", "--approve", "-m", f"ok {MARKUP}")}.items():
        result = rsilab(root, *args)
        assert result.returncode == 0, result.stdout + result.stderr
        outputs[name] = result.stdout + result.stderr
    assert (root / "self" / ".gitattributes").read_text() == ATTRIBUTES  # deployed: git would read it now
    for name, args in {"log": ("log",), "show": ("show", "v2"), "diff": ("diff", "v1", "v2"), "ledger": ("ledger", "show")}.items():
        result = rsilab(root, *args)
        assert result.returncode == 0, result.stdout + result.stderr
        outputs[name] = result.stdout + result.stderr
    outputs["pending"] = str(pending_copy)
    yield root, outputs


@pytest.mark.parametrize("command", ["run", "review-list", "review", "log", "show", "diff", "ledger"])
def test_every_command_shows_hostile_self_text_without_control_codes_or_markup(hostile, command: str):
    _, outputs = hostile
    out = outputs[command]
    assert_shown_safely(out)
    if command in ("review-list", "show", "diff"):
        assert "␛[2J␛]0;pwned␇" in out and "<U+202E>" in out and "[/x] [bold red]RED" in out


def test_review_and_show_print_the_rationale_with_its_escapes_visible(hostile):
    _, outputs = hostile
    for command in ("review-list", "show"):
        assert "innocent␍OVERWRITTEN" in outputs[command]
        assert "multiply before adding. ␛[2J" in outputs[command]
    assert "v2: deployed" in outputs["review"]
    assert "ok [/x] [bold red]RED" in outputs["show"]  # the person's comment, shown as written


def test_a_deployed_gitattributes_cannot_hide_the_code_change(hostile):
    _, outputs = hostile
    for command in ("show", "diff"):
        out = outputs[command]
        assert "Binary" not in out
        assert f"+{FIXED_LINE}" in out and "-            total *= value" in out
        assert "notes[/x]<U+202E>[bold red]dm.txt" in out  # the hostile file name, visible


@pytest.fixture
def dashboard(hostile) -> Iterator[tuple[TestClient, TestClient]]:
    """Clients on the approved experiment and on its copy from before the review (v2 in the queue)."""
    root, outputs = hostile
    with (TestClient(create_app(Experiment(root), TOKEN, [HOST]), follow_redirects=False) as after,
          TestClient(create_app(Experiment(Path(outputs["pending"])), TOKEN, [HOST]), follow_redirects=False) as before):
        for client in (after, before):
            assert COOKIE in client.get(f"/?token={TOKEN}").cookies
        yield after, before


def test_dashboard_pages_escape_hostile_text_and_show_the_textual_diff(dashboard):
    after, before = dashboard
    pages = {path: after.get(path) for path in ("/", "/versions/v2", "/lineage", "/ledger", "/versions/v2/assessments")}
    pages["/proposals (pending)"] = before.get("/proposals")
    pages["/ (pending)"] = before.get("/")  # a round awaiting review says why by the rationale; a decided one by the comment
    for path, response in pages.items():
        assert response.status_code == 200, path
        page = response.text
        assert [c for c in FORBIDDEN if c in page] == [], path
        assert "<script>alert(1)" not in page, path
    assert "ok [/x] [bold red]RED" in pages["/"].text
    for path in ("/ (pending)", "/versions/v2", "/proposals (pending)"):
        assert "␛[2J␛]0;pwned␇" in pages[path].text and "&lt;script&gt;alert(1)&lt;/script&gt;" in pages[path].text, path
    for path in ("/versions/v2", "/proposals (pending)"):
        page = pages[path].text
        assert "binary file" not in page and "Binary" not in page
        assert "terms.append(sign * product)" in page and "total *= value" in page
        assert "notes[/x]&lt;U+202E&gt;[bold red]dm.txt" in page
        assert "innocent␍OVERWRITTEN" in page


@pytest.mark.slow
def test_in_chromium_the_hostile_text_runs_no_script_and_the_diff_reads_as_code(hostile):
    from dashboard_client import running_ui
    from playwright.sync_api import sync_playwright

    chromium = Path("/usr/bin/chromium")
    if not chromium.exists():
        pytest.fail(f"no browser at {chromium}: install Debian's chromium (`make test` does it)")
    root, _ = hostile
    with running_ui(root) as url, sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=str(chromium), args=["--no-sandbox", "--disable-gpu"])
        page = browser.new_page()
        dialogs: list[str] = []
        page.on("dialog", lambda dialog: (dialogs.append(dialog.message), dialog.dismiss()))
        page.goto(url)
        page.goto(url.split("?")[0] + "versions/v2")
        text = page.inner_text("main")
        title = page.title()
        browser.close()
    assert dialogs == []  # the <script> in the rationale, the code and the notes file stayed text
    assert "pwned" not in title
    assert "<script>alert(1)</script>" in text and "␛[2J␛]0;pwned␇" in text
    assert "terms.append(sign * product)" in text and "Binary" not in text and "binary file" not in text
    assert "notes[/x]<U+202E>[bold red]dm.txt" in text and not any(c in text for c in FORBIDDEN)
