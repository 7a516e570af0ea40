"""Diffs from blob contents alone: nothing the self writes into its tree changes what a diff shows."""

from __future__ import annotations

from pathlib import Path

from rsilab.store.blobdiff import file_changes, patch_text
from rsilab.store.versions import VersionStore

ATTRIBUTES = b"* binary\n*.py -diff\n"


def test_a_deployed_gitattributes_cannot_make_a_text_change_read_binary(tmp_path: Path):
    store, first = VersionStore.create(tmp_path / "self", {"a.py": b"x = 1\n", ".gitattributes": ATTRIBUTES}, "v1")
    store.set_deployed(first)  # the attributes are now in the working tree too, where git would read them
    (tmp_path / "self" / ".git" / "config").open("a").write("[diff]\n\texternal = /bin/false\n")
    second = store.commit({"a.py": b"x = 2\n", ".gitattributes": ATTRIBUTES}, parent=first, message="v2")
    patch = store.diff(first, second)
    assert "-x = 1\n+x = 2\n" in patch
    assert "Binary" not in patch


def test_binary_is_decided_by_a_nul_byte_in_the_content_only():
    [change] = file_changes({"blob": b"a\x00b"}, {"blob": b"a\x00c"})
    assert change.binary and change.hunks == ()
    assert "Binary files a/blob and b/blob differ" in patch_text([change])
    [text] = file_changes({"t.bin": b"plain\n"}, {"t.bin": b"plain text\n"})
    assert not text.binary


def test_a_carriage_return_stays_inside_its_line_and_undecodable_bytes_show_as_escapes():
    [change] = file_changes({"f": b"ok\n"}, {"f": b"evil\rok\n\xff\n"})
    added = [line.content for line in change.hunks[0].lines if line.origin == "+"]
    assert added == ["evil\rok\n", "\\xff\n"]


def test_line_numbers_headers_and_missing_final_newline_match_unified_diff():
    [change] = file_changes({"f": b"1\n2\n3\n4\n5\n6\n7\n8\n9\n"}, {"f": b"1\n2\n3\n4\nfive\n6\n7\n8\n9"})
    patch = patch_text([change])
    assert "@@ -2,8 +2,8 @@" in patch
    assert "-5\n+five\n" in patch and "+9\n\\ No newline at end of file\n" in patch
    rows = [(line.origin, line.old_lineno, line.new_lineno) for line in change.hunks[0].lines if line.origin != " "]
    assert rows == [("-", 5, None), ("+", None, 5), ("-", 9, None), ("+", None, 9)]


def test_added_and_deleted_files_and_unchanged_ones():
    changes = file_changes({"gone": b"g\n", "same": b"s\n"}, {"new": b"n\n", "same": b"s\n"})
    assert [(c.path, c.status) for c in changes] == [("gone", "D"), ("new", "A")]
    assert "--- /dev/null\n+++ b/new\n@@ -0,0 +1 @@\n+n\n" in patch_text(changes)
