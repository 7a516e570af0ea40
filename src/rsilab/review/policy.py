"""Decisions a stated policy may take without a person."""

from __future__ import annotations

from rsilab.records import Decision, Verdict


def decide(verdict: Verdict, autonomy: str) -> Decision | None:
    """A decision by policy, or None when a person must decide.

    A failed gate always rejects: no one can approve a candidate the gates refused.
    """
    failed = verdict.failed_gate
    if failed is not None or verdict.violations:
        reason = f"gate {failed.name} failed: {failed.summary}" if failed else f"sandbox violations: {', '.join(verdict.violations)}"
        return Decision(version=verdict.version, approved=False, by="policy:gates", comment=reason)
    if autonomy == "auto":
        return Decision(version=verdict.version, approved=True, by="policy:auto", comment="all gates passed")
    if autonomy == "policy" and not verdict.needs_person:
        return Decision(version=verdict.version, approved=True, by="policy:low-risk", comment="all gates passed, no capability flags")
    return None
