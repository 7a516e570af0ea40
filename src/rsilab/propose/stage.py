"""The proposal stage: the current version's own `improve` runs in the sandbox.

The improver is part of the self (so an accepted change can improve it); its
output is untrusted text that the harness parses leniently and applies strictly.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Mapping
from typing import Any

from rsilab.errors import ContainmentBreach, EditError, SandboxError, UntrustedInput
from rsilab.propose.apply import apply_edits
from rsilab.propose.edits import parse_edits
from rsilab.records import Proposal, Usage, VersionId
from rsilab.sandbox.selfrun import OUTPUT_FILE, SelfRun
from rsilab.untrusted import read_json

# The edit text's cap: parsing and exact matching stay cheap, far above any real proposal (see max_edit_bytes).
MAX_EDITS_CHARS = 1024 * 1024
MAX_RATIONALE_CHARS = 2000

ImproveRunner = Callable[[bytes], SelfRun]


def propose(
    *,
    candidate: VersionId,
    parent: VersionId,
    round: int,
    parent_tree: Mapping[str, bytes],
    weakness: dict[str, Any],
    history: list[dict[str, Any]],
    run_improve: ImproveRunner,
    candidate_info: Mapping[str, int] | None = None,
) -> tuple[Proposal, dict[str, bytes] | None]:
    """Ask the parent to improve itself; return the proposal and the candidate tree if it applied.

    `candidate_info` ({"index": k, "of": n}) tells the improver which of the round's n samples
    this is, so it may vary its approach; its sampling seed comes from the harness, not from it.
    """
    request: dict[str, Any] = {"weakness": weakness, "history": history}
    if candidate_info is not None:
        request["candidate"] = dict(candidate_info)
    payload = json.dumps(request).encode()
    try:
        run = run_improve(payload)
    except ContainmentBreach:
        raise
    except (SandboxError, UntrustedInput) as exc:  # the improver's run failed: a proposal that says so
        return Proposal(version=candidate, parent=parent, round=round, rationale="", edits=(), raw="",
                        errors=(f"the sandboxed improve run failed: {exc}",), usage=Usage()), None
    raw, rationale, problem = _read_output(run)
    parsed = parse_edits(raw) if problem is None else None
    errors = [problem] if problem else list(parsed.errors if parsed else ())
    edits = parsed.edits if parsed else ()
    candidate_tree = None
    if not errors:
        candidate_tree, apply_error = _apply(parent_tree, edits)
        if apply_error:
            errors.append(apply_error)
    proposal = Proposal(
        version=candidate,
        parent=parent,
        round=round,
        rationale=rationale,
        edits=tuple(edits),
        raw=raw,
        errors=tuple(errors),
        usage=run.usage,
    )
    return proposal, candidate_tree


def _read_output(run: SelfRun) -> tuple[str, str, str | None]:
    if run.problem:
        return run.result.stderr[-4000:], "", f"improve {run.problem}"
    shown = (run.output or b"")[:4000].decode("utf-8", "replace")
    try:
        data = read_json(run.output or b"", what=f"improver output ({OUTPUT_FILE})")
    except UntrustedInput as exc:
        return shown, "", str(exc)
    raw = data.get("edits") if isinstance(data, dict) else None
    rationale = data.get("rationale", "") if isinstance(data, dict) else None
    if not isinstance(raw, str) or not isinstance(rationale, str):
        return shown, "", 'improve output is not {"edits": str, "rationale": str}'
    if len(raw) > MAX_EDITS_CHARS:
        return raw[:4000], rationale[:MAX_RATIONALE_CHARS], f"improver output: edits of {len(raw)} characters, over the limit of {MAX_EDITS_CHARS}"
    return raw, rationale[:MAX_RATIONALE_CHARS], None


def _apply(parent_tree: Mapping[str, bytes], edits: Any) -> tuple[dict[str, bytes] | None, str | None]:
    try:
        texts = {path: data.decode("utf-8") for path, data in parent_tree.items()}
    except UnicodeDecodeError:
        texts = {p: d.decode("utf-8", "surrogateescape") for p, d in parent_tree.items()}
    try:
        new_texts = apply_edits(texts, edits)
    except EditError as exc:
        return None, str(exc)
    tree = dict(parent_tree)
    for path, text in new_texts.items():
        if texts.get(path) != text:
            tree[path] = text.encode("utf-8", "surrogateescape")
    return tree, None
