"""The gates of the weights loop: paired comparisons with the parent on the same fresh problems."""

from __future__ import annotations

from rsilab.records import Assessment, GateResult, Proposal
from rsilab.verify.stats import mcnemar, paired_bootstrap_interval
from rsilab.weights.frontier import by_length


def weights_present(proposal: Proposal, weights: str | None) -> GateResult:
    """The refinement ran and produced a weights file."""
    name = "weights"
    if weights is None:
        summary = "; ".join(proposal.errors) or "no weights were produced"
        return GateResult(name=name, passed=False, summary=summary[:500], evidence={"errors": list(proposal.errors)})
    return GateResult(name=name, passed=True, summary=f"new weights {weights[:12]}", evidence={"weights": weights})


def answers(candidate: Assessment) -> GateResult:
    """The contract: the candidate loads and answers every held-out problem."""
    name = "contract"
    missing = sum(o.answer is None for o in candidate.outcomes)
    evidence = {"problems": candidate.n, "unanswered": missing, "run_error": candidate.run_error}
    if candidate.run_error or missing:
        summary = f"the self {candidate.run_error}" if candidate.run_error else f"no answer to {missing} of {candidate.n} problems"
        return GateResult(name=name, passed=False, summary=summary[:500], evidence=evidence)
    return GateResult(name=name, passed=True, summary=f"answered all {candidate.n} held-out problems", evidence=evidence)


def original_range(parent: Assessment, candidate: Assessment, digits: int, margin: float, threshold: float) -> GateResult:
    """Held-out accuracy on lengths 1..digits must not drop by more than `margin` (paired), and
    no length there may fall below `threshold` where the parent met it (the frontier never moves back)."""
    name = "original-range"
    pairs = _paired(parent, candidate, lambda length: length <= digits)
    diff, low, high = paired_bootstrap_interval([float(c) - float(p) for p, c in pairs])
    before, after = _rate(p for p, _ in pairs), _rate(c for _, c in pairs)
    parent_by, candidate_by = by_length(parent), by_length(candidate)
    fell = [n for n in range(1, digits + 1)
            if parent_by.get(n, 0.0) >= threshold and candidate_by.get(n, 0.0) < threshold]
    evidence = {"lengths": [1, digits], "n": len(pairs), "parent_accuracy": before, "candidate_accuracy": after,
                "accuracy_delta": [round(diff, 4), round(low, 4), round(high, 4)], "margin": margin,
                "fell_below_threshold": {str(n): round(candidate_by[n], 4) for n in fell}}
    passed = bool(pairs) and diff >= -margin and not fell
    summary = f"1–{digits} digits: {before:.1%} → {after:.1%} (Δ {diff:+.1%}, allowed -{margin:.0%})"
    if fell:
        summary += "; fell below " + f"{threshold:.0%} at " + ", ".join(f"{n} digits ({candidate_by[n]:.0%})" for n in fell)
    return GateResult(name=name, passed=passed, summary=summary, evidence=evidence)


def targeted_length(parent: Assessment, candidate: Assessment, target: int, alpha: float) -> GateResult:
    """Held-out accuracy at the targeted length must improve (exact McNemar, one-sided p < alpha)."""
    name = "targeted-length"
    pairs = _paired(parent, candidate, lambda length: length == target)
    test = mcnemar([p for p, _ in pairs], [c for _, c in pairs])
    before, after = _rate(p for p, _ in pairs), _rate(c for _, c in pairs)
    evidence = {"length": target, "n": len(pairs), "parent_accuracy": before, "candidate_accuracy": after,
                "parent_only": test.parent_only, "candidate_only": test.candidate_only, "p_better": round(test.p_better, 6)}
    passed = bool(pairs) and test.p_better < alpha
    summary = f"{target} digits: {before:.1%} → {after:.1%}, McNemar p = {test.p_better:.3g} ({'<' if passed else '≥'} {alpha})"
    return GateResult(name=name, passed=passed, summary=summary, evidence=evidence)


def _paired(parent: Assessment, candidate: Assessment, keep) -> list[tuple[bool, bool]]:  # noqa: ANN001
    by_id = {o.task_id: o.correct for o in candidate.outcomes}
    return [(o.correct, by_id[o.task_id]) for o in parent.outcomes if keep(o.difficulty) and o.task_id in by_id]


def _rate(values) -> float:  # noqa: ANN001
    items = list(values)
    return round(sum(items) / len(items), 4) if items else 0.0
