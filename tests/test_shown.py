"""shown.py: any self-written string comes out with no control code and no markup, for any input."""

from __future__ import annotations

import io
import re

from hypothesis import given, settings
from hypothesis import strategies as st
from rich.console import Console
from rich.panel import Panel
from rich.table import Table

from rsilab.shown import BIDI, line, shown, visible

HOSTILE = "\x1b[2J\x1b]0;pwned\x07 [/x] [bold red]red\u202eevil\r\x9b31m"
# Control characters and markup-looking text mixed into arbitrary unicode, so each case tends to hold several.
hostile_text = st.text(
    alphabet=st.one_of(st.characters(), st.sampled_from(["\x1b", "\x07", "\r", "\n", "\t", "\x9b", "\u202e", "\u2066", "[", "]", "/"])),
    max_size=200,
)


def _render(renderable: object) -> str:
    buffer = io.StringIO()
    Console(file=buffer, force_terminal=True, width=80, color_system="truecolor").print(renderable)
    return buffer.getvalue()


def _unsafe(text: str, multiline: bool = True) -> list[str]:
    kept = "\n\t" if multiline else ""
    return [c for c in text if (ord(c) < 0x20 and c not in kept) or 0x7F <= ord(c) < 0xA0 or c in BIDI or (c not in kept and not c.isprintable())]


@settings(max_examples=400, deadline=None)
@given(hostile_text)
def test_visible_leaves_no_control_character_but_newline_and_tab(text: str):
    assert _unsafe(visible(text)) == []
    assert _unsafe(visible(text, multiline=False), multiline=False) == []


@settings(max_examples=200, deadline=None)
@given(hostile_text)
def test_rich_renders_any_shown_string_and_adds_only_its_own_escapes(text: str):
    table = Table("cell")
    table.add_row(line(text))
    out = _render(shown(text)) + _render(Panel(shown(text))) + _render(table)
    # Rich's own styling codes are ESC[ ... m; strip those and nothing control-like remains.


    plain = re.sub(r"\x1b\[[0-9;]*m", "", out)
    assert _unsafe(plain) == []


@given(st.text(alphabet=st.characters(blacklist_categories=("Cc", "Cf", "Cs", "Co", "Cn", "Zl", "Zp", "Zs")) | st.just(" ")))
def test_printable_text_is_unchanged(text: str):
    assert visible(text) == text


def test_escapes_become_visible_pictures_and_markup_stays_literal():
    out = visible(HOSTILE)
    assert out == "␛[2J␛]0;pwned␇ [/x] [bold red]red<U+202E>evil␍\\x9b31m"
    assert shown(HOSTILE).plain == out
    rendered = _render(shown("[/x] [bold red]not red"))
    assert "[/x] [bold red]not red" in rendered


def test_one_line_form_shows_newlines_and_tabs_too():
    assert visible("a\nb\tc", multiline=False) == "a␊b␉c"
    assert visible("a\nb\tc") == "a\nb\tc"


def test_lone_surrogate_is_named_so_printing_cannot_fail_to_encode():
    assert visible("x\ud800y") == "x<U+D800>y"
    assert visible(12) == "12"
