"""Secrets by value: whatever shape a key has, the broker returns nothing that holds it or its encodings."""

from __future__ import annotations

import base64
import urllib.parse
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from llm_server import ChatServer

from rsilab.llm.openai_compat import OpenAICompatibleProvider
from rsilab.llm.scripted import ScriptedProvider
from rsilab.sandbox.broker import Broker, BrokerHTTPError, chat_via_socket
from rsilab.sandbox.scrub import Scrubber, held_secrets

KEY = "q7Zr.weird:Key/42~shape-not-sk"  # no `sk-`, no `Bearer`: a pattern would miss it


def forms_of(secret: str, before: bytes = b"", after: bytes = b"") -> list[str]:
    raw = before + secret.encode() + after
    return [secret, urllib.parse.quote(secret, safe=""), secret.encode().hex(), secret.encode().hex().upper(),
            base64.b64encode(raw).decode(), base64.urlsafe_b64encode(raw).decode()]


def leaks(text: str, secret: str) -> bool:
    """Does `text` still hold the secret, or a base64 text that decodes to it at some alignment?"""
    if secret in text or secret.encode().hex() in text.lower():
        return True
    for token in text.replace("[redacted]", " ").split():
        for decode in (base64.b64decode, base64.urlsafe_b64decode):
            for cut in range(4):
                try:
                    if secret.encode() in decode(token[cut:] + "=" * (-len(token[cut:]) % 4)):
                        return True
                except ValueError:
                    continue
    return False


@settings(max_examples=200, deadline=None)
@given(secret=st.text(st.characters(min_codepoint=33, max_codepoint=126), min_size=8, max_size=64),
       before=st.binary(max_size=5), after=st.binary(max_size=5), prose=st.text(max_size=40))
def test_no_encoding_of_a_held_secret_survives_scrubbing(secret: str, before: bytes, after: bytes, prose: str):
    scrub = Scrubber([secret])
    for form in forms_of(secret, before, after):
        out = scrub.text(f"{prose} {form} {prose}")
        assert not leaks(out, secret), (form, out)


def test_text_without_a_secret_is_left_alone():
    assert Scrubber([KEY]).text("the answer is 42, said the server") == "the answer is 42, said the server"
    assert Scrubber([]).value({"a": ["b", 1]}) == {"a": ["b", 1]}


def test_providers_that_wrap_others_pass_their_keys_up(monkeypatch: pytest.MonkeyPatch):
    from rsilab.llm.guard import GuardedProvider

    monkeypatch.setenv("RSILAB_TEST_KEY", KEY)
    provider = OpenAICompatibleProvider("m", base_url="http://127.0.0.1:9/v1", api_key_env="RSILAB_TEST_KEY")
    assert held_secrets(GuardedProvider(provider)) == (KEY,)


def test_a_server_quoting_the_key_in_its_error_and_its_answer_reaches_the_self_redacted(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
):
    monkeypatch.setenv("RSILAB_TEST_KEY", KEY)
    encoded = base64.b64encode(b"key=" + KEY.encode()).decode()
    echo = ScriptedProvider([{"match": ".", "responses": [f"your key is {KEY}, hex {KEY.encode().hex()}"]}])
    with ChatServer(echo, api_key=KEY) as server:
        provider = OpenAICompatibleProvider("m", base_url=f"{server.url}/v1", api_key_env="RSILAB_TEST_KEY")
        server.fail(400, message=f"key {KEY} is not allowed here (as sent: {encoded})")
        with Broker(provider, tmp_path / "llm.sock") as broker:
            with pytest.raises(BrokerHTTPError) as refused:
                chat_via_socket(broker.socket_path, [{"role": "user", "content": "hi"}])
            answer = chat_via_socket(broker.socket_path, [{"role": "user", "content": "hi"}])
    assert "is not allowed here" in refused.value.message  # the error itself still comes through
    assert not leaks(refused.value.message, KEY), refused.value.message
    content = answer["choices"][0]["message"]["content"]
    assert content.startswith("your key is [redacted]") and not leaks(content, KEY), content
