"""Self-written strings made safe to show: what a person sees is what is there.

The self writes rationales, file names, file contents, answers and the stderr a gate quotes.
Shown raw, an escape sequence in them can clear or retitle the terminal or hide text, a
carriage return can overwrite a line, a bidi override can reorder what is read, and Rich
would parse `[/x]` as markup (and crash on it). Here every control character becomes a
visible stand-in, every bidi control a visible tag, and the result is a `rich.text.Text`,
which Rich never reads as markup.
"""

from __future__ import annotations

from rich.text import Text

# Bidi embeddings, overrides and isolates (U+202A–202E, U+2066–2069), and the invisible marks.
BIDI = frozenset("\u202a\u202b\u202c\u202d\u202e\u2066\u2067\u2068\u2069\u200e\u200f\u061c")
_DEL_PICTURE = "\u2421"  # ␡
_KEPT_MULTILINE = frozenset("\n\t")


def visible(value: object, *, multiline: bool = True) -> str:
    """`value` as text with every control made visible: C0 as control pictures (ESC → ␛, BEL → ␇,
    CR → ␍), DEL as ␡, C1 as `\\x9b`, bidi controls as `<U+202E>`. With `multiline`, newlines
    and tabs stay (file contents, diffs, rationales); without, they too become pictures."""
    text = value if isinstance(value, str) else str(value)
    if text.isprintable() and not any(c in BIDI for c in text):  # the common case: nothing to do
        return text
    return "".join(_visible_char(c, multiline) for c in text)


def shown(value: object, *, style: str = "", multiline: bool = True) -> Text:
    """`value` as a Rich `Text` safe for a terminal: never parsed as markup, no control codes."""
    return Text(visible(value, multiline=multiline), style=style)


def line(value: object, *, style: str = "") -> Text:
    """A one-line rendering: newlines and tabs shown as pictures too (table cells, paths, names)."""
    return shown(value, style=style, multiline=False)


def _visible_char(c: str, multiline: bool) -> str:
    code = ord(c)
    if multiline and c in _KEPT_MULTILINE:
        return c
    if code < 0x20:
        return chr(0x2400 + code)  # the Unicode control pictures: ␀ … ␟
    if code == 0x7F:
        return _DEL_PICTURE
    if 0x80 <= code < 0xA0:
        return f"\\x{code:02x}"
    if c in BIDI or not c.isprintable():
        # Bidi controls, and other separators, format characters and lone surrogates
        # (U+2028, zero-width joiners, ...): named, so nothing acts unseen or fails to encode.
        return f"<U+{code:04X}>"
    return c
