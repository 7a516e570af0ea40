"""Persistence: the hash-chained ledger, content-addressed artifacts, and git versions."""
