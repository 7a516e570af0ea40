"""Side-by-side diffs of real commits made by the version store."""

from __future__ import annotations

from pathlib import Path

from rsilab.store.blobdiff import FileChange
from rsilab.store.versions import VersionStore
from rsilab.web.diffs import side_by_side


def _patch(tmp_path: Path, before: dict[str, bytes], after: dict[str, bytes]) -> list[FileChange]:
    store, first = VersionStore.create(tmp_path / "self", before, "before")
    second = store.commit(after, parent=first, message="after")
    return store.changes(first, second)


def test_a_changed_block_pairs_each_removed_line_with_the_added_line_beside_it(tmp_path: Path):
    before = b"a\nb\nc\nd\ne\n"
    after = b"a\nB\nC\nextra\nd\ne\n"
    [diff] = side_by_side(_patch(tmp_path, {"f.txt": before}, {"f.txt": after}))
    assert (diff.old_path, diff.new_path, diff.status) == ("f.txt", "f.txt", "M")
    rows = [(r.left.number, r.left.text, r.left.kind, r.right.number, r.right.text, r.right.kind) for r in diff.hunks[0].rows]
    assert rows == [
        (1, "a", "context", 1, "a", "context"),
        (2, "b", "removed", 2, "B", "added"),
        (3, "c", "removed", 3, "C", "added"),
        (None, "", "empty", 4, "extra", "added"),
        (4, "d", "context", 5, "d", "context"),
        (5, "e", "context", 6, "e", "context"),
    ]
    assert (diff.added, diff.removed) == (3, 2)


def test_separate_changes_in_one_hunk_stay_on_their_own_rows(tmp_path: Path):
    [diff] = side_by_side(_patch(tmp_path, {"f.txt": b"1\n2\n3\n"}, {"f.txt": b"one\n2\nthree\n"}))
    kinds = [(r.left.text, r.right.text) for r in diff.hunks[0].rows]
    assert kinds == [("1", "one"), ("2", "2"), ("3", "three")]


def test_a_new_file_has_only_a_right_side_and_a_deleted_file_only_a_left(tmp_path: Path):
    files = side_by_side(_patch(tmp_path, {"keep": b"k\n", "gone.py": b"x = 1\n"}, {"keep": b"k\n", "new.py": b"y = 2\nz = 3\n"}))
    by_status = {f.status: f for f in files}
    assert set(by_status) == {"A", "D"}
    added = [(r.left.kind, r.right.number, r.right.text) for r in by_status["A"].hunks[0].rows]
    assert added == [("empty", 1, "y = 2"), ("empty", 2, "z = 3")]
    removed = [(r.left.number, r.left.text, r.right.kind) for r in by_status["D"].hunks[0].rows]
    assert removed == [(1, "x = 1", "empty")]
    assert by_status["D"].old_path == "gone.py"


def test_no_change_gives_no_files(tmp_path: Path):
    assert side_by_side(_patch(tmp_path, {"f": b"same\n"}, {"f": b"same\n"})) == []
    assert side_by_side([]) == []
