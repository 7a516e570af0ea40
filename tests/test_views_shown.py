"""The terminal views print self-written fields (gate quotes, answers, traces, model text) as text, never markup."""

from __future__ import annotations

import io
from types import SimpleNamespace

from rich.console import Console

from rsilab import views
from rsilab.records import Event, GateResult, Verdict

HOSTILE = "\x1b]0;pwned\x07 [/x] [bold red]RED \u202eevil\r"
SHOWN = "␛]0;pwned␇ [/x] [bold red]RED <U+202E>evil␍"


def _console() -> tuple[Console, io.StringIO]:
    buffer = io.StringIO()
    return Console(file=buffer, width=400, color_system=None), buffer


def _assert_safe(out: str) -> None:
    assert not any(c in out for c in "\x1b\x07\r\u202e"), out
    assert SHOWN in out


def test_a_gate_quoting_hostile_stderr_and_violations_prints_as_text():
    console, buffer = _console()
    gate = GateResult(name="contract", passed=False, summary=f"the self crashed: {HOSTILE}", evidence={"stderr": HOSTILE})
    views.print_verdict(console, Verdict(version="v2", gates=(gate,), violations=(f"write:{HOSTILE}",)))
    out = buffer.getvalue()
    _assert_safe(out)
    assert f"write:{SHOWN}" in out


def test_a_hostile_answer_trace_and_run_error_in_an_assessment_print_as_text():
    console, buffer = _console()
    summary = {"n": 1, "accuracy": 0.0, "low": 0.0, "high": 0.8, "calls": 1, "tokens": 5, "wall_seconds": 0.1, "cpu_seconds": 0.1}
    group = {"family": "arithmetic", "difficulty": 1, "accuracy": 0.0, "low": 0.0, "high": 0.8, "n": 1, "calls": 1,
             "tokens": 5, "self_reported_steps": None}
    report = {"version": "v2", "split": "heldout", "summary": summary, "groups": [group], "run_error": f"exited: {HOSTILE}",
              "efficiency": {"wall_seconds_per_task": 0.1, "tokens_per_task": 5}}
    failure = {"family": "arithmetic", "difficulty": 1, "question": "2 + 2", "expected": "4", "answer": HOSTILE, "trace": [HOSTILE]}
    weakness = {"groups": [{**group, "failures": 1, "shortfall": 0.2}], "failures": [failure]}
    views.print_assessment(console, report, weakness, "0" * 64)
    out = buffer.getvalue()
    _assert_safe(out)  # the answer, and the run error
    assert "[/x] [bold red]RED \\u202eevil\\r" in out  # the trace, as JSON


def test_progress_lines_events_and_model_text_print_as_text():
    console, buffer = _console()
    report = views.stage_printer(console)
    report("round", f"round 1 {HOSTILE}")
    report("propose", f"v2: {HOSTILE}")
    event = Event(seq=1, ts=0.0, kind="proposal.recorded", payload={"rationale": "[/x] [bold red]RED"}, prev_hash="0", hash="1" * 64)
    views.print_events(console, [event])
    completion = SimpleNamespace(text=HOSTILE, tokens_in=1, tokens_out=1, finish_reason="stop")
    views.print_answer(console, SimpleNamespace(completion=completion, model="m", seconds=1.0, tokens_per_second=1.0, dollars=0.0))
    out = buffer.getvalue()
    _assert_safe(out)
    assert f"propose  v2: {SHOWN}" in out and '"rationale": "[/x] [bold red]RED"' in out
