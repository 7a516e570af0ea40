"""Capability diff parses a blob once per process: the parent every candidate is compared with, unchanged files."""

from __future__ import annotations

import ast

import pytest

from rsilab.verify import gates


def test_a_candidate_costs_one_parse_per_edited_file_and_its_flags_are_the_same(monkeypatch: pytest.MonkeyPatch):
    parent = {f"m{i}.py": f"import json\nVALUE_{i} = {i}\n".encode() for i in range(6)} | {"notes.md": b"x"}
    candidate = {**parent, "m3.py": b"import socket\nsocket.create_connection(('x', 1))\n"}
    parses: list[str] = []
    real = ast.parse
    monkeypatch.setattr(gates.ast, "parse", lambda source, *a, **k: parses.append(source) or real(source, *a, **k))
    first = gates.capability_diff(parent, candidate)
    assert first.needs_person and first.evidence["new"] == ["import socket"]
    assert len(parses) <= 7  # each distinct .py blob once (fewer where an earlier test parsed the same bytes)
    parses.clear()
    again = gates.capability_diff(parent, {**candidate, "m5.py": b"eval('1')\n"})
    assert again.evidence["new"] == ["call eval", "import socket"]
    assert parses == ["eval('1')\n"]
