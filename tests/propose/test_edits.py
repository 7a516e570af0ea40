"""Edit parsing (lenient) and application (strict), on outputs shaped like real small-model answers."""

from __future__ import annotations

import pytest
from pydantic import ValidationError

from rsilab.errors import EditError
from rsilab.propose.apply import apply_edits
from rsilab.propose.edits import ParsedEdits, parse_edits
from rsilab.propose.paths import normalize_path, touched_paths
from rsilab.records import Edit

SOLVE = """\
import re


def solve(question: str) -> str:
    numbers = [int(x) for x in re.findall(r"-?\\d+", question)]
    total = 0
    for i in range(len(numbers) - 1):
        total += numbers[i]
    return str(total)
"""


def test_happy_block_with_prose_and_fence_parses_to_one_exact_edit():
    text = """Looking at the failures, the loop skips the last number. Here is the fix:

self/solve.py
```python
<<<<<<< SEARCH
    for i in range(len(numbers) - 1):
        total += numbers[i]
=======
    for i in range(len(numbers)):
        total += numbers[i]
>>>>>>> REPLACE
```

This should fix the sum tasks.
"""
    parsed = parse_edits(text)
    assert parsed.errors == ()
    assert parsed.edits == (
        Edit(
            path="self/solve.py",
            search="    for i in range(len(numbers) - 1):\n        total += numbers[i]\n",
            replace="    for i in range(len(numbers)):\n        total += numbers[i]\n",
        ),
    )
    new = apply_edits({"self/solve.py": SOLVE}, parsed.edits)
    assert "for i in range(len(numbers)):\n" in new["self/solve.py"]
    assert "- 1" not in new["self/solve.py"]


def test_path_in_the_fence_info_string_is_used():
    text = """```python self/solve.py
<<<<<<< SEARCH
    total = 0
=======
    total = 0  # running sum
>>>>>>> REPLACE
```"""
    parsed = parse_edits(text)
    assert parsed.errors == ()
    assert [e.path for e in parsed.edits] == ["self/solve.py"]


@pytest.mark.parametrize(
    "path_line",
    [
        "`self/solve.py`",
        "**self/solve.py**",
        "File: self/solve.py",
        "**File:** `self/solve.py`",
        "Path: self/solve.py",
        "# file: self/solve.py",
        "### self/solve.py",
        "./self/solve.py",
        "Here is the change to `self/solve.py`:",
    ],
)
def test_decorated_path_lines_name_the_file(path_line):
    text = f"{path_line}\n```\n<<<<<<< SEARCH\n    total = 0\n=======\n    total = 1\n>>>>>>> REPLACE\n```\n"
    parsed = parse_edits(text)
    assert parsed.errors == ()
    assert [e.path for e in parsed.edits] == ["self/solve.py"]


def test_prose_mentioning_a_method_is_not_taken_for_a_path():
    text = """self/solve.py
<<<<<<< SEARCH
a = 1
=======
a = 2
>>>>>>> REPLACE
Next, make it use `math.isclose` and `str.strip` as follows:
<<<<<<< SEARCH
b = 1
=======
b = 2
>>>>>>> REPLACE
"""
    parsed = parse_edits(text)
    assert parsed.errors == ()
    assert [e.path for e in parsed.edits] == ["self/solve.py", "self/solve.py"]


def test_several_blocks_after_one_path_reuse_it_until_a_new_path_appears():
    text = """self/solve.py
```python
<<<<<<< SEARCH
import re
=======
import math
import re
>>>>>>> REPLACE
```
Also:
```python
<<<<<<< SEARCH
    total = 0
=======
    total = 0.0
>>>>>>> REPLACE
```
self/prompts.py
```python
<<<<<<< SEARCH
SYSTEM = "Answer."
=======
SYSTEM = "Think step by step, then answer."
>>>>>>> REPLACE
```
"""
    parsed = parse_edits(text)
    assert parsed.errors == ()
    assert [e.path for e in parsed.edits] == ["self/solve.py", "self/solve.py", "self/prompts.py"]
    assert parsed.edits[1].search == "    total = 0\n"


def test_crlf_output_parses_like_lf_and_content_has_no_carriage_returns():
    lf = "self/solve.py\n<<<<<<< SEARCH\n    total = 0\n=======\n    total = 1\n>>>>>>> REPLACE\n"
    parsed = parse_edits(lf.replace("\n", "\r\n"))
    assert parsed.errors == ()
    assert parsed == parse_edits(lf)
    assert "\r" not in parsed.edits[0].search + parsed.edits[0].replace


def test_marker_variants_are_tolerated():
    # 5 and 9 angle brackets, lowercase, no space, trailing whitespace, 7/9 '=' dividers
    text = (
        "self/a.py\n"
        "<<<<< search   \n"
        "x = 1\n"
        "=========\t\n"
        "x = 2\n"
        ">>>>>>>>>REPLACE  \n"
        "<<<<<<<<<SEARCH\n"
        "y = 1\n"
        "=====\n"
        "y = 2\n"
        ">>>>> replace\n"
    )
    parsed = parse_edits(text)
    assert parsed.errors == ()
    assert parsed.edits == (
        Edit(path="self/a.py", search="x = 1\n", replace="x = 2\n"),
        Edit(path="self/a.py", search="y = 1\n", replace="y = 2\n"),
    )


def test_content_lines_keep_indentation_blank_lines_and_trailing_spaces():
    text = (
        "self/a.py\n<<<<<<< SEARCH\n"
        "def f():\n"
        "\tif x:  \n"
        "\n"
        "        return 1\n"
        "=======\n"
        "def f():\n"
        "\treturn 2\n"
        ">>>>>>> REPLACE\n"
    )
    edit = parse_edits(text).edits[0]
    assert edit.search == "def f():\n\tif x:  \n\n        return 1\n"
    assert edit.replace == "def f():\n\treturn 2\n"


def test_empty_search_section_creates_a_new_file():
    text = """self/tools/arith.py
```python
<<<<<<< SEARCH
=======
def add(a, b):
    return a + b
>>>>>>> REPLACE
```"""
    parsed = parse_edits(text)
    assert parsed.edits == (Edit(path="self/tools/arith.py", search="", replace="def add(a, b):\n    return a + b\n"),)
    new = apply_edits({"self/solve.py": SOLVE}, parsed.edits)
    assert new["self/tools/arith.py"] == "def add(a, b):\n    return a + b\n"
    assert new["self/solve.py"] == SOLVE


def test_empty_replace_section_deletes_the_searched_lines():
    text = "self/solve.py\n<<<<<<< SEARCH\nimport re\n=======\n>>>>>>> REPLACE\n"
    edit = parse_edits(text).edits[0]
    assert edit.replace == ""
    assert not apply_edits({"self/solve.py": SOLVE}, [edit])["self/solve.py"].startswith("import re")


# ----------------------------------------------------------------- malformed blocks


def test_truncated_output_reports_unterminated_block_and_keeps_earlier_ones():
    text = """self/solve.py
```python
<<<<<<< SEARCH
import re
=======
import math
>>>>>>> REPLACE
```
```python
<<<<<<< SEARCH
    total = 0
=======
    total = sum(numbers)
    return str(tot"""
    parsed = parse_edits(text)
    assert parsed.edits == (Edit(path="self/solve.py", search="import re\n", replace="import math\n"),)
    assert len(parsed.errors) == 1
    assert parsed.errors[0].startswith("block 2 (self/solve.py, line 10): unterminated")
    assert "`>>>>>>> REPLACE` missing" in parsed.errors[0]


def test_block_missing_replace_marker_before_next_search_is_reported_and_next_block_parsed():
    text = """self/solve.py
<<<<<<< SEARCH
a = 1
=======
a = 2
<<<<<<< SEARCH
b = 1
=======
b = 2
>>>>>>> REPLACE
"""
    parsed = parse_edits(text)
    assert parsed.edits == (Edit(path="self/solve.py", search="b = 1\n", replace="b = 2\n"),)
    assert len(parsed.errors) == 1
    assert "block 1" in parsed.errors[0]
    assert "unterminated" in parsed.errors[0] and "line 6" in parsed.errors[0]


def test_block_without_divider_is_an_error_and_other_blocks_survive():
    text = """self/solve.py
<<<<<<< SEARCH
a = 1
>>>>>>> REPLACE

<<<<<<< SEARCH
b = 1
=======
b = 2
>>>>>>> REPLACE
"""
    parsed = parse_edits(text)
    assert parsed.errors == (
        "block 1 (self/solve.py, line 2): no `=======` divider before `>>>>>>> REPLACE` (line 4)",
    )
    assert parsed.edits == (Edit(path="self/solve.py", search="b = 1\n", replace="b = 2\n"),)


def test_two_dividers_in_one_block_is_an_error():
    text = "self/a.py\n<<<<<<< SEARCH\na\n=======\nb\n=======\nc\n>>>>>>> REPLACE\n"
    parsed = parse_edits(text)
    assert parsed.edits == ()
    assert "2 `=======` dividers" in parsed.errors[0]


def test_indented_rst_underline_in_content_is_not_a_divider():
    text = (
        "self/a.py\n<<<<<<< SEARCH\n"
        '    """Examples\n    ========\n    """\n'
        "=======\n"
        '    """Example\n    =======\n    """\n'
        ">>>>>>> REPLACE\n"
    )
    parsed = parse_edits(text)
    assert parsed.errors == ()
    assert parsed.edits[0].search == '    """Examples\n    ========\n    """\n'
    assert parsed.edits[0].replace == '    """Example\n    =======\n    """\n'


def test_block_with_no_path_anywhere_before_it_is_an_error():
    text = """Sure! Here's the improvement:
```python
<<<<<<< SEARCH
a = 1
=======
a = 2
>>>>>>> REPLACE
```"""
    parsed = parse_edits(text)
    assert parsed.edits == ()
    assert parsed.errors == (
        "block 1 (line 3): no file path given before `<<<<<<< SEARCH`; "
        "put the file's path on its own line before the block",
    )


def test_stray_replace_marker_is_reported():
    text = "self/a.py\na = 1\n=======\na = 2\n>>>>>>> REPLACE\n"
    parsed = parse_edits(text)
    assert parsed.edits == ()
    assert len(parsed.errors) == 1
    assert "line 5: stray `>>>>>>> REPLACE`" in parsed.errors[0]


@pytest.mark.parametrize(
    ("path", "reason"),
    [
        ("../harness/score.py", "`..`"),
        ("self/../rsilab.toml", "`..`"),
        ("/etc/passwd", "absolute"),
        ("~/.bashrc", "`~`"),
        ("self/.git/hooks/pre-commit", ".git"),
    ],
)
def test_block_with_unsafe_path_is_dropped_with_an_error_and_others_kept(path, reason):
    text = f"""{path}
<<<<<<< SEARCH
x = 1
=======
x = 2
>>>>>>> REPLACE

self/solve.py
<<<<<<< SEARCH
    total = 0
=======
    total = 1
>>>>>>> REPLACE
"""
    parsed = parse_edits(text)
    assert [e.path for e in parsed.edits] == ["self/solve.py"]
    assert len(parsed.errors) == 1
    assert parsed.errors[0].startswith(f"block 1 ({path}, line 2): ")
    assert reason in parsed.errors[0]


def test_noop_block_is_an_error():
    text = "self/solve.py\n<<<<<<< SEARCH\n    total = 0\n=======\n    total = 0\n>>>>>>> REPLACE\n"
    parsed = parse_edits(text)
    assert parsed.edits == ()
    assert len(parsed.errors) == 1
    assert "block 1 (self/solve.py, line 2): no-op edit" in parsed.errors[0]


@pytest.mark.parametrize(
    "text",
    [
        "",
        "I think the agent is already optimal; no change needed.",
        "```python\ndef solve(q):\n    return '42'\n```\n",
        "---\nSome markdown with a horizontal rule.\n",
    ],
)
def test_text_without_edits_gives_exactly_the_no_edits_error(text):
    assert parse_edits(text) == ParsedEdits(
        edits=(), errors=("no edits found: use SEARCH/REPLACE blocks or a unified diff",)
    )


def test_parsed_edits_is_immutable():
    parsed = parse_edits("nothing")
    with pytest.raises(ValidationError):
        parsed.edits = ()  # type: ignore[misc]


# ----------------------------------------------------------------- unified diffs


def test_unified_diff_with_wrong_hunk_numbers_applies_by_content():
    text = """Here is the patch:

```diff
diff --git a/self/solve.py b/self/solve.py
index 3b18e51..a1c2f9d 100644
--- a/self/solve.py
+++ b/self/solve.py
@@ -1,2 +1,3 @@
+import math
 import re
 
@@ -99,4 +200,4 @@ def solve(question: str) -> str:
     total = 0
-    for i in range(len(numbers) - 1):
+    for i in range(len(numbers)):
         total += numbers[i]
```
"""
    parsed = parse_edits(text)
    assert parsed.errors == ()
    assert parsed.edits == (
        Edit(path="self/solve.py", search="import re\n\n", replace="import math\nimport re\n\n"),
        Edit(
            path="self/solve.py",
            search="    total = 0\n    for i in range(len(numbers) - 1):\n        total += numbers[i]\n",
            replace="    total = 0\n    for i in range(len(numbers)):\n        total += numbers[i]\n",
        ),
    )
    new = apply_edits({"self/solve.py": SOLVE}, parsed.edits)["self/solve.py"]
    assert new.startswith("import math\nimport re\n")
    assert "range(len(numbers)):" in new


def test_diff_blank_context_line_without_its_space_still_counts_as_context():
    # editors and models strip the single space off blank context lines
    text = "--- a/m.py\n+++ b/m.py\n@@ -1,4 +1,4 @@\n a = 1\n\n-b = 2\n+b = 3\n c = 4\n"
    parsed = parse_edits(text)
    assert parsed.edits == (Edit(path="m.py", search="a = 1\n\nb = 2\nc = 4\n", replace="a = 1\n\nb = 3\nc = 4\n"),)


def test_new_file_diff_becomes_a_create_edit():
    text = """--- /dev/null
+++ b/self/tools/check.py
@@ -0,0 +1,3 @@
+def check(answer: str) -> bool:
+    return answer.strip() != ""
+
"""
    parsed = parse_edits(text)
    assert parsed.errors == ()
    assert parsed.edits == (
        Edit(path="self/tools/check.py", search="", replace='def check(answer: str) -> bool:\n    return answer.strip() != ""\n\n'),
    )
    assert "self/tools/check.py" in apply_edits({}, parsed.edits)


def test_no_newline_at_end_of_file_marker_is_honoured():
    text = "--- a/v.txt\n+++ b/v.txt\n@@ -1 +1 @@\n-1.0\n\\ No newline at end of file\n+1.1\n\\ No newline at end of file\n"
    parsed = parse_edits(text)
    assert parsed.edits == (Edit(path="v.txt", search="1.0", replace="1.1"),)
    assert apply_edits({"v.txt": "1.0"}, parsed.edits) == {"v.txt": "1.1"}


def test_diff_hunk_with_only_additions_and_no_context_is_an_error():
    text = "--- a/self/solve.py\n+++ b/self/solve.py\n@@ -10,0 +11,1 @@\n+print('debug')\n"
    parsed = parse_edits(text)
    assert parsed.edits == ()
    assert len(parsed.errors) == 1
    assert parsed.errors[0].startswith("hunk 1 (self/solve.py, line 3):")
    assert "context" in parsed.errors[0]


def test_diff_deleting_a_file_is_an_error():
    text = "--- a/self/old.py\n+++ /dev/null\n@@ -1 +0,0 @@\n-x = 1\n"
    parsed = parse_edits(text)
    assert parsed.edits == ()
    assert "deleting a file" in parsed.errors[0]


def test_diff_paths_with_dot_dot_are_rejected_at_parse():
    text = "--- a/../harness/score.py\n+++ b/../harness/score.py\n@@\n-return ok\n+return True\n"
    parsed = parse_edits(text)
    assert parsed.edits == ()
    assert "`..`" in parsed.errors[0]


def test_blocks_and_diffs_in_one_answer_keep_their_order():
    text = """--- a/a.py
+++ b/a.py
@@ -1 +1 @@
-a = 1
+a = 2

b.py
<<<<<<< SEARCH
b = 1
=======
b = 2
>>>>>>> REPLACE
"""
    parsed = parse_edits(text)
    assert parsed.errors == ()
    assert [(e.path, e.replace) for e in parsed.edits] == [("a.py", "a = 2\n"), ("b.py", "b = 2\n")]


def test_headerless_hunk_after_a_path_line_uses_that_path():
    text = "self/solve.py\n```diff\n@@ ... @@\n-    total = 0\n+    total = 1\n```\n"
    parsed = parse_edits(text)
    assert parsed.edits == (Edit(path="self/solve.py", search="    total = 0\n", replace="    total = 1\n"),)


def test_bullet_list_after_a_fenced_diff_is_not_part_of_the_hunk():
    text = "```diff\n--- a/a.py\n+++ b/a.py\n@@\n-a = 1\n+a = 2\n```\n- fixed a\n- tidied b\n"
    parsed = parse_edits(text)
    assert parsed.errors == ()
    assert parsed.edits == (Edit(path="a.py", search="a = 1\n", replace="a = 2\n"),)


# ----------------------------------------------------------------- normalize_path


@pytest.mark.parametrize(
    ("raw", "clean"),
    [
        ("self/solve.py", "self/solve.py"),
        ("./self/solve.py", "self/solve.py"),
        ("  `self/solve.py`  ", "self/solve.py"),
        ('"self/solve.py"', "self/solve.py"),
        ("self//tools/./x.py", "self/tools/x.py"),
        ("solve.py", "solve.py"),
    ],
)
def test_normalize_path_cleans_harmless_decoration(raw, clean):
    assert normalize_path(raw) == clean


@pytest.mark.parametrize(
    ("raw", "reason"),
    [
        ("", "empty"),
        ("  ``  ", "empty"),
        ("./", "directory"),
        (".", "empty"),
        ("/work/main/self/solve.py", "absolute"),
        ("C:/x.py", "absolute"),
        ("../x.py", "`..`"),
        ("self/../self/solve.py", "`..`"),
        ("self/a\x00.py", "NUL"),
        ("self\\solve.py", "backslash"),
        (".git/config", ".git"),
        ("self/.GIT/HEAD", ".git"),
        ("~/x.py", "`~`"),
        ("~root/x.py", "`~`"),
        ("self/a\nb.py", "control"),
    ],
)
def test_normalize_path_rejects_unsafe_paths_with_a_reason(raw, reason):
    with pytest.raises(EditError) as exc:
        normalize_path(raw)
    assert reason in str(exc.value)


def test_touched_paths_are_normalized_and_deduplicated():
    edits = [
        Edit(path="./self/solve.py", search="a", replace="b"),
        Edit(path="self/solve.py", search="c", replace="d"),
        Edit(path="self/new.py", search="", replace="x\n"),
    ]
    assert touched_paths(edits) == {"self/solve.py", "self/new.py"}


def test_touched_paths_refuses_an_unsafe_path():
    with pytest.raises(EditError, match=r"block 2: .*`\.\.`"):
        touched_paths([Edit(path="a.py", search="", replace="x"), Edit(path="../b.py", search="", replace="x")])


# ----------------------------------------------------------------- apply_edits


def test_apply_runs_edits_in_order_so_later_edits_see_earlier_ones():
    edits = [
        Edit(path="self/solve.py", search="    total = 0\n", replace="    total = 0\n    count = 0\n"),
        Edit(path="self/solve.py", search="    count = 0\n", replace="    count = len(numbers)\n"),
    ]
    new = apply_edits({"self/solve.py": SOLVE}, edits)["self/solve.py"]
    assert "    total = 0\n    count = len(numbers)\n" in new


def test_apply_edit_on_a_file_created_earlier_in_the_same_set():
    edits = [
        Edit(path="self/new.py", search="", replace="A = 1\n"),
        Edit(path="self/new.py", search="A = 1\n", replace="A = 2\n"),
    ]
    assert apply_edits({}, edits) == {"self/new.py": "A = 2\n"}


def test_apply_reports_wrong_indentation_with_the_matching_line():
    edit = Edit(path="self/solve.py", search="for i in range(len(numbers) - 1):\n    total += numbers[i]\n", replace="pass\n")
    with pytest.raises(EditError) as exc:
        apply_edits({"self/solve.py": SOLVE}, [Edit(path="self/solve.py", search="import re\n", replace="import re\n\n"), edit])
    msg = str(exc.value)
    assert msg.startswith("search text in block 2 (starting `for i in range(len(numbers) - 1):`) not found in self/solve.py")
    # line 7 of SOLVE, moved to line 8 by block 1: the hint is about the file as block 1 left it
    assert "it matches line 8 if indentation is ignored — copy the exact indentation" in msg


def test_apply_reports_a_plain_miss_without_an_indentation_hint():
    with pytest.raises(EditError) as exc:
        apply_edits({"self/solve.py": SOLVE}, [Edit(path="self/solve.py", search="return None\n", replace="x\n")])
    assert "block 1" in str(exc.value) and "not found in self/solve.py" in str(exc.value)
    assert "indentation" not in str(exc.value)


def test_apply_refuses_a_search_that_matches_more_than_once():
    content = "x = 0\nprint(x)\ny = 1\nprint(x)\nz = 2\nprint(x)\n"
    with pytest.raises(EditError) as exc:
        apply_edits({"m.py": content}, [Edit(path="m.py", search="print(x)\n", replace="print(x, flush=True)\n")])
    msg = str(exc.value)
    assert "block 1" in msg and "m.py" in msg
    assert "matches 3 times" in msg and "lines 2, 4, 6" in msg
    assert "include more surrounding lines" in msg


def test_apply_counts_overlapping_matches_as_ambiguous():
    with pytest.raises(EditError, match="matches 2 times"):
        apply_edits({"m.txt": "a\na\na\n"}, [Edit(path="m.txt", search="a\na\n", replace="b\n")])


def test_apply_is_all_or_nothing_and_never_mutates_the_input():
    files = {"self/solve.py": SOLVE, "self/prompts.py": 'SYSTEM = "x"\n'}
    before = dict(files)
    edits = [
        Edit(path="self/prompts.py", search='SYSTEM = "x"\n', replace='SYSTEM = "y"\n'),
        Edit(path="self/solve.py", search="not in the file\n", replace="x\n"),
    ]
    with pytest.raises(EditError, match=r"block 2 .*self/solve\.py"):
        apply_edits(files, edits)
    assert files == before


def test_apply_refuses_to_create_a_file_that_exists():
    with pytest.raises(EditError, match=r"block 1 \(self/solve\.py\): cannot create self/solve\.py: it already exists"):
        apply_edits({"self/solve.py": SOLVE}, [Edit(path="self/solve.py", search="", replace="x\n")])


def test_apply_refuses_to_edit_a_missing_file_and_suggests_the_real_path():
    with pytest.raises(EditError) as exc:
        apply_edits({"self/solve.py": SOLVE}, [Edit(path="solve.py", search="import re\n", replace="")])
    assert "block 1 (solve.py): solve.py does not exist (did you mean self/solve.py?)" in str(exc.value)


def test_apply_normalizes_paths_before_lookup():
    new = apply_edits({"self/solve.py": SOLVE}, [Edit(path="./self/solve.py", search="import re\n", replace="import re  # regex\n")])
    assert set(new) == {"self/solve.py"}
    assert new["self/solve.py"].startswith("import re  # regex\n")


@pytest.mark.parametrize("path", ["../outside.py", "/abs.py", ".git/config", "~/x"])
def test_apply_rejects_unsafe_paths_naming_the_block(path):
    with pytest.raises(EditError, match=r"^block 2: "):
        apply_edits({}, [Edit(path="ok.py", search="", replace="x\n"), Edit(path=path, search="", replace="x\n")])


def test_apply_matches_a_block_ending_at_a_last_line_without_newline():
    # parse_edits always ends search text with "\n"; a file without a final newline still matches
    new = apply_edits({"v.py": "A = 1\nB = 2"}, [Edit(path="v.py", search="B = 2\n", replace="B = 3\n")])
    assert new == {"v.py": "A = 1\nB = 3"}


def test_apply_on_a_crlf_file_matches_and_keeps_crlf():
    new = apply_edits({"w.py": "a = 1\r\nb = 2\r\n"}, [Edit(path="w.py", search="b = 2\n", replace="b = 3\nc = 4\n")])
    assert new == {"w.py": "a = 1\r\nb = 3\r\nc = 4\r\n"}


def test_realistic_small_model_answer_end_to_end():
    """A 1.5B-style answer: chatty prose, mixed fences, one bad block, CRLF line endings."""
    text = (
        "### Analysis\r\n"
        "The agent fails on sums because the loop stops early.\r\n\r\n"
        "### Changes\r\n"
        "1. `self/solve.py`\r\n"
        "```python\r\n"
        "<<<<<<< SEARCH\r\n"
        "    for i in range(len(numbers) - 1):\r\n"
        "=======\r\n"
        "    for i in range(len(numbers)):\r\n"
        ">>>>>>> REPLACE\r\n"
        "```\r\n"
        "2. Add a helper:\r\n"
        "```python self/helpers.py\r\n"
        "<<<<<<< SEARCH\r\n"
        "=======\r\n"
        "def clean(q):\r\n"
        "    return q.strip()\r\n"
        ">>>>>>> REPLACE\r\n"
        "```\r\n"
        "3. And the evaluator:\r\n"
        "```python ../rsilab/verify/score.py\r\n"
        "<<<<<<< SEARCH\r\n"
        "    return answer == target\r\n"
        "=======\r\n"
        "    return True\r\n"
        ">>>>>>> REPLACE\r\n"
        "```\r\n"
        "I hope this helps!\r\n"
    )
    parsed = parse_edits(text)
    assert [e.path for e in parsed.edits] == ["self/solve.py", "self/helpers.py"]
    assert len(parsed.errors) == 1 and "block 3" in parsed.errors[0] and "`..`" in parsed.errors[0]
    new = apply_edits({"self/solve.py": SOLVE}, parsed.edits)
    assert new["self/helpers.py"] == "def clean(q):\n    return q.strip()\n"
    assert "range(len(numbers)):" in new["self/solve.py"]
