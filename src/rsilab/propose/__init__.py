"""Proposal: running the self's own improver and applying its edits safely."""
