"""Every reader of self-written bytes is total: any input gives a bounded value or UntrustedInput."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest
from hypothesis import given, strategies as st

from rsilab.errors import UntrustedInput
from rsilab.untrusted import read_json, read_regular_file

# JSON-ish bytes: fragments that reach the parser's corners far more often than random bytes.
FRAGMENTS = [b"[", b"]", b"{", b"}", b'"', b":", b",", b"\\", b"\\u", b"d800", b"dc00", b"NaN", b"Infinity",
             b"-Infinity", b"1e999", b"-", b"0", b"9" * 80, b".5", b"e", b"true", b"null", b"\xff", b"\xed\xa0\x80",
             b"\xef\xbb\xbf", b" ", b"\x00", b"a"]
jsonish = st.lists(st.one_of(st.sampled_from(FRAGMENTS), st.binary(max_size=4)), max_size=60).map(b"".join)
json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats() | st.text(),
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=5), inner, max_size=4),
    max_leaves=20,
)


def _total(data: bytes) -> object:
    try:
        value = read_json(data)
    except UntrustedInput as exc:
        assert str(exc).startswith("JSON: ")  # names what was read
        return exc
    # What parses serialises back, strictly: finite numbers, UTF-8-encodable strings.
    assert json.loads(json.dumps(value, allow_nan=False, ensure_ascii=False).encode("utf-8")) == value
    return value


@given(st.binary(max_size=400))
def test_any_bytes_give_a_value_or_untrusted_input(data: bytes) -> None:
    _total(data)


@given(jsonish)
def test_jsonish_bytes_give_a_value_or_untrusted_input(data: bytes) -> None:
    _total(data)


@given(json_values)
def test_dumped_values_read_back_or_are_refused_for_a_named_bound(value: object) -> None:
    data = json.dumps(value).encode()
    result = _total(data)
    if isinstance(result, UntrustedInput):
        assert any(word in str(result) for word in ("NaN", "Infinity", "surrogate", "characters")), result


@given(st.integers(min_value=65, max_value=200_000), st.sampled_from([b"[", b'{"a":']))
def test_deep_nesting_is_refused_without_blowing_the_stack(depth: int, opener: bytes) -> None:
    closer = b"]" if opener == b"[" else b"}"
    data = opener * depth + b"1" + closer * depth
    with pytest.raises(UntrustedInput, match="nested deeper than 64"):
        read_json(data)


def test_nesting_at_the_limit_is_accepted() -> None:
    assert read_json(b"[" * 64 + b"]" * 64) is not None


@pytest.mark.parametrize("data, why", [
    (b'{"a": ' + b"9" * 10_000 + b"}", "10000 characters"),
    (b"[NaN]", "NaN"), (b"[-Infinity]", "-Infinity"), (b"[1e400]", "finite"),
    (b'["\\udc00"]', "surrogate"), (b'{"\\ud800": 1}', "surrogate"), (b'"\xc3\x28"', "UTF-8"),
])
def test_each_bound_is_named(data: bytes, why: str) -> None:
    with pytest.raises(UntrustedInput, match=why):
        read_json(data)


def test_bytes_over_the_cap_are_refused(tmp_path: Path) -> None:
    path = tmp_path / "big.json"
    path.write_bytes(b" " * 101 + b"1")
    with pytest.raises(UntrustedInput, match="more than 100 bytes"):
        read_json(path, max_bytes=100)
    assert read_json(path, max_bytes=102) == 1


def test_a_fifo_is_refused_without_blocking(tmp_path: Path) -> None:
    os.mkfifo(tmp_path / "out")  # no writer: a blocking open would wait forever
    with pytest.raises(UntrustedInput, match="FIFO"):
        read_regular_file(tmp_path / "out", 100, what="answers")


def test_links_are_never_followed_at_the_end_or_on_the_way(tmp_path: Path) -> None:
    secret = tmp_path / "secret"
    secret.write_text("target")
    work = tmp_path / "work"
    work.mkdir()
    (work / "out").symlink_to(secret)
    (work / "dir").symlink_to(tmp_path)
    with pytest.raises(UntrustedInput, match="symbolic link"):
        read_regular_file(work / "out", 100)
    with pytest.raises(UntrustedInput, match="symbolic link"):
        read_regular_file(Path("dir/secret"), 100, root=work)
    (work / "real").mkdir()
    (work / "real" / "f").write_text("ok")
    assert read_regular_file(Path("real/f"), 100, root=work) == b"ok"


def test_devices_and_directories_are_refused(tmp_path: Path) -> None:
    with pytest.raises(UntrustedInput, match="character device"):
        read_regular_file(Path("/dev/zero"), 100)
    with pytest.raises(UntrustedInput, match="directory"):
        read_regular_file(tmp_path, 100)
