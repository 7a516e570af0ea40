"""The scripted provider: canned, deterministic answers for tests and demos."""

from __future__ import annotations

import json
import sys
import threading
from pathlib import Path

import pytest

from rsilab.errors import ConfigError, ProviderError
from rsilab.llm.base import ChatMessage, ChatRequest
from rsilab.llm.scripted import ScriptedProvider


def ask(provider: ScriptedProvider, *contents: str, system: str | None = None) -> str:
    messages = ([ChatMessage(role="system", content=system)] if system else []) + [
        ChatMessage(role="user", content=c) for c in contents
    ]
    return provider.complete(ChatRequest(messages=tuple(messages))).text


def test_first_matching_rule_answers_even_when_a_later_rule_also_matches() -> None:
    provider = ScriptedProvider(
        [
            {"match": r"2 \+ 2", "responses": ["four"]},
            {"match": r"\d", "responses": ["some number"]},
        ]
    )
    assert ask(provider, "what is 2 + 2?") == "four"
    assert ask(provider, "what is 3 + 3?") == "some number"


def test_responses_come_in_order_then_the_last_one_repeats() -> None:
    provider = ScriptedProvider([{"match": "hello", "responses": ["one", "two", "three"]}])
    assert [ask(provider, "hello") for _ in range(5)] == ["one", "two", "three", "three", "three"]


def test_each_rule_keeps_its_own_position() -> None:
    provider = ScriptedProvider([{"match": "a", "responses": ["a1", "a2"]}, {"match": "b", "responses": ["b1", "b2"]}])
    assert [ask(provider, q) for q in ("a", "b", "a", "b")] == ["a1", "b1", "a2", "b2"]


def test_match_searches_all_messages_across_lines() -> None:
    provider = ScriptedProvider([{"match": "SYSTEM RULES.*final question", "responses": ["matched"]}])
    assert ask(provider, "line one\nfinal question", system="SYSTEM RULES\n") == "matched"


def test_no_matching_rule_raises_provider_error_naming_the_last_user_message() -> None:
    provider = ScriptedProvider([{"match": "^never$", "responses": ["x"]}])
    with pytest.raises(ProviderError, match="Prove that the square root"):
        ask(provider, "an earlier message", "Prove that the square root of 2 is irrational")


def test_token_counts_are_whitespace_words_of_messages_and_response() -> None:
    provider = ScriptedProvider([{"match": "", "responses": ["the answer is 42"]}])
    request = ChatRequest(
        messages=(ChatMessage(role="system", content="be  brief\n"), ChatMessage(role="user", content="what is six times seven"))
    )
    completion = provider.complete(request)
    assert (completion.tokens_in, completion.tokens_out, completion.model) == (7, 4, "scripted")


def test_from_toml_file(tmp_path: Path) -> None:
    path = tmp_path / "script.toml"
    path.write_text('[[rule]]\nmatch = "capital of France"\nresponses = ["Paris", "Still Paris"]\n\n'
                    '[[rule]]\nmatch = ".*"\nresponses = ["I do not know"]\n')
    provider = ScriptedProvider.from_file(path)
    assert [ask(provider, "capital of France?") for _ in range(3)] == ["Paris", "Still Paris", "Still Paris"]
    assert ask(provider, "anything else") == "I do not know"


@pytest.mark.parametrize("shape", ["list", "table"])
def test_from_json_file(tmp_path: Path, shape: str) -> None:
    rules = [{"match": "ping", "responses": ["pong"]}]
    path = tmp_path / "script.json"
    path.write_text(json.dumps(rules if shape == "list" else {"rule": rules}))
    assert ask(ScriptedProvider.from_file(path), "ping") == "pong"


@pytest.mark.parametrize(
    "rules",
    [
        [{"match": "x", "responses": []}],
        [{"match": "x", "responses": "not a list"}],
        [{"responses": ["x"]}],
        [{"match": "(", "responses": ["x"]}],
    ],
)
def test_invalid_rules_are_rejected_with_config_error(rules: list[dict[str, object]]) -> None:
    with pytest.raises(ConfigError, match="rule 0"):
        ScriptedProvider(rules)


def test_unreadable_file_raises_config_error_naming_it(tmp_path: Path) -> None:
    path = tmp_path / "broken.toml"
    path.write_text("[[rule]\n")
    with pytest.raises(ConfigError, match="broken.toml"):
        ScriptedProvider.from_file(path)


def test_concurrent_callers_each_get_a_distinct_response() -> None:
    n = 4000
    provider = ScriptedProvider([{"match": "go", "responses": [str(i) for i in range(n)]}])
    got: list[str] = []
    lock = threading.Lock()

    def worker() -> None:
        for _ in range(n // 8):
            answer = ask(provider, "go")
            with lock:
                got.append(answer)

    threads = [threading.Thread(target=worker) for _ in range(8)]
    interval = sys.getswitchinterval()
    sys.setswitchinterval(1e-7)  # switch threads constantly so an unlocked counter would race
    try:
        for t in threads:
            t.start()
        for t in threads:
            t.join()
    finally:
        sys.setswitchinterval(interval)
    assert sorted(got, key=int) == [str(i) for i in range(n)]
