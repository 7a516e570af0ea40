"""The improver's edits are self-written too: parsing never raises, paths and apply raise only EditError."""

from __future__ import annotations

import pytest
from hypothesis import given, strategies as st

from rsilab.errors import EditError
from rsilab.propose.apply import MAX_TREE_FILES, apply_edits
from rsilab.propose.edits import parse_edits
from rsilab.propose.paths import MAX_COMPONENT_BYTES, MAX_PATH_BYTES, MAX_PATH_DEPTH, normalize_path
from rsilab.records import Edit

PATH_PIECES = ["a", "b.py", "/", "//", ".", "..", ".git", "~", "`", "'", '"', " ", "\\", "\x00", "\n", "C:",
               "é", "\ud800", "x" * 250, "ß" * 120]
paths = st.one_of(st.text(max_size=60), st.lists(st.sampled_from(PATH_PIECES), max_size=30).map("".join))
EDIT_PIECES = ["<<<<<<< SEARCH", "=======", ">>>>>>> REPLACE", "```", "```python a.py", "--- a/a.py", "+++ b/a.py",
               "--- /dev/null", "+++ /dev/null", "@@ -1 +1 @@", "diff --git a/a b/a", "+x", "-x", " x", "\\ No newline",
               "a.py", "File: b/c.py", "x = 1", "", "\r", "`a.py`:"]
edit_texts = st.one_of(st.text(max_size=300), st.lists(st.sampled_from(EDIT_PIECES), max_size=40).map("\n".join))
trees = st.dictionaries(st.sampled_from(["a.py", "b/c.py", "b", "x/y/z.txt", "./a.py"]), st.text(max_size=20), max_size=4)


@given(paths)
def test_normalize_path_returns_a_bounded_path_or_raises_edit_error(path: str) -> None:
    try:
        clean = normalize_path(path)
    except EditError:
        return
    parts = clean.split("/")
    assert len(clean.encode("utf-8")) <= MAX_PATH_BYTES and len(parts) <= MAX_PATH_DEPTH
    assert all(0 < len(p.encode("utf-8")) <= MAX_COMPONENT_BYTES and p not in (".", "..") for p in parts)
    assert normalize_path(clean) == clean


@given(edit_texts)
def test_parse_edits_never_raises(text: str) -> None:
    parsed = parse_edits(text)
    assert parsed.edits or parsed.errors


@given(trees, st.lists(st.builds(Edit, path=paths | st.sampled_from(["a.py", "b/c.py", "b", "b/c.py/d"]),
                                 search=st.sampled_from(["", "x", "a"]) | st.text(max_size=5),
                                 replace=st.text(max_size=5)), max_size=5))
def test_apply_edits_returns_a_consistent_tree_or_raises_edit_error(tree: dict[str, str], edits: list[Edit]) -> None:
    try:
        result = apply_edits(tree, edits)
    except EditError:
        return
    new = {normalize_path(p) for p in result if p not in tree}
    everything = {p.removeprefix("./") for p in result}
    for path in new:  # no file created where a file is a directory, or under a file
        assert not any(other.startswith(path + "/") for other in everything)
        parts = path.split("/")
        assert not any("/".join(parts[:i]) in everything for i in range(1, len(parts)))


@given(edit_texts, trees)
def test_parsed_edits_apply_or_raise_edit_error(text: str, tree: dict[str, str]) -> None:
    try:
        apply_edits(tree, parse_edits(text).edits)
    except EditError:
        pass


def test_a_name_of_5000_characters_is_refused_by_its_bound() -> None:
    with pytest.raises(EditError, match="over the limit"):
        normalize_path("a" * 5000 + ".py")
    with pytest.raises(EditError, match=f"over the limit of {MAX_COMPONENT_BYTES}"):
        normalize_path("a" * 201 + ".py")
    with pytest.raises(EditError, match=f"over the limit of {MAX_PATH_DEPTH}"):
        normalize_path("d/" * 16 + "f.py")
    assert normalize_path("d/" * 15 + "f.py").count("/") == 15


def test_a_file_under_a_file_or_over_a_directory_is_an_edit_error() -> None:
    tree = {"solve.py": "x\n", "prompts/a.md": "y\n"}
    with pytest.raises(EditError, match="solve.py is a file, not a directory"):
        apply_edits(tree, [Edit(path="solve.py/inner.py", search="", replace="z\n")])
    with pytest.raises(EditError, match="cannot create prompts: it is a directory of other files"):
        apply_edits(tree, [Edit(path="prompts", search="", replace="z\n")])
    with pytest.raises(EditError, match="new/x.py is a file"):
        apply_edits(tree, [Edit(path="new/x.py", search="", replace="1"), Edit(path="new/x.py/y", search="", replace="2")])


def test_the_tree_holds_at_most_the_file_bound() -> None:
    tree = {f"f{i}.txt": "" for i in range(MAX_TREE_FILES - 1)}
    assert len(apply_edits(tree, [Edit(path="last.txt", search="", replace="1")])) == MAX_TREE_FILES
    with pytest.raises(EditError, match=f"more than {MAX_TREE_FILES} files"):
        apply_edits(tree, [Edit(path="a.txt", search="", replace="1"), Edit(path="b.txt", search="", replace="1")])


@pytest.mark.parametrize("source", ["x = a" + ".b" * 25_000, "x = 1" + "+1" * 25_000, "x = " + "-" * 50_000 + "1"])
def test_a_file_nested_past_the_parser_is_a_capability_to_review_not_a_crash(source: str) -> None:
    from rsilab.verify.gates import capability_diff

    result = capability_diff({"a.py": b"x = 1\n"}, {"a.py": source.encode()}, "block")
    assert not result.passed and "unanalysable a.py" in result.summary
