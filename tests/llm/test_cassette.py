"""Record/replay cassettes: keyed by the request, answered offline, loud when the run leaves the recording."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from rsilab.config import LLMConfig
from rsilab.errors import ProviderError
from rsilab.llm.base import ChatMessage, ChatRequest
from rsilab.llm.cassette import RecordingProvider, ReplayingProvider, request_key
from rsilab.llm.factory import make_provider
from rsilab.llm.scripted import ScriptedProvider


def ask(text: str, max_tokens: int | None = None) -> ChatRequest:
    return ChatRequest(messages=(ChatMessage(role="user", content=text),), max_tokens=max_tokens)


def counting_script() -> ScriptedProvider:
    return ScriptedProvider([{"match": "count", "responses": ["one", "two", "three"]}, {"match": ".", "responses": ["x"]}])


def test_the_key_is_the_whole_request():
    assert request_key(ask("a")) == request_key(ask("a"))
    assert request_key(ask("a")) != request_key(ask("b"))
    assert request_key(ask("a")) != request_key(ask("a", max_tokens=5))


def test_replay_gives_back_each_recorded_answer_in_order_without_the_provider(tmp_path: Path):
    cassette = tmp_path / "calls.jsonl"
    recorder = RecordingProvider(counting_script(), cassette)
    recorded = [recorder.complete(ask("count")).text for _ in range(3)] + [recorder.complete(ask("other")).text]
    assert recorded == ["one", "two", "three", "x"]

    replayer = ReplayingProvider(cassette)
    replayed = [replayer.complete(ask("count")).text for _ in range(3)] + [replayer.complete(ask("other")).text]
    assert replayed == recorded
    assert replayer.complete(ask("count")).text == "three"  # past the recordings: the last one again
    assert replayer.calls_answered == 5


def test_a_request_never_recorded_is_an_error_that_says_the_run_left_the_recording(tmp_path: Path):
    cassette = tmp_path / "calls.jsonl"
    RecordingProvider(counting_script(), cassette).complete(ask("count"))
    with pytest.raises(ProviderError, match="holds no recording of this request.*'something new'"):
        ReplayingProvider(cassette).complete(ask("something new"))


def test_a_line_torn_by_a_crash_is_skipped_but_damage_elsewhere_is_reported(tmp_path: Path):
    cassette = tmp_path / "calls.jsonl"
    RecordingProvider(counting_script(), cassette).complete(ask("count"))
    with cassette.open("a") as handle:
        handle.write('{"key": "abc", "compl')
    assert ReplayingProvider(cassette).complete(ask("count")).text == "one"
    lines = cassette.read_text().splitlines()
    cassette.write_text("\n".join(["not json", *lines]) + "\n")
    with pytest.raises(ProviderError, match="damaged at line 1"):
        ReplayingProvider(cassette)


def test_replay_mode_makes_no_provider_at_all(tmp_path: Path, monkeypatch: pytest.MonkeyPatch):
    cassette = tmp_path / "calls.jsonl"
    entry = {"key": request_key(ask("hi")), "completion": {"text": "hello", "tokens_in": 1, "tokens_out": 1, "model": "m"}}
    cassette.write_text(json.dumps(entry) + "\n")
    monkeypatch.delenv("ANTHROPIC_API_KEY", raising=False)  # a live anthropic provider could not even be made
    config = LLMConfig(provider="anthropic", model="claude-x", cassette=cassette, cassette_mode="replay")
    assert make_provider(config).complete(ask("hi")).text == "hello"


def test_record_mode_wraps_the_configured_provider(tmp_path: Path):
    cassette = tmp_path / "calls.jsonl"
    config = LLMConfig(provider="scripted", rules=({"match": ".", "responses": ("hey",)},), cassette=cassette)
    make_provider(config).complete(ask("hi"))
    entry = json.loads(cassette.read_text())
    assert entry["key"] == request_key(ask("hi")) and entry["completion"]["text"] == "hey"
    assert entry["provider"] == "scripted"
