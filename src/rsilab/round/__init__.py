"""The round: its orchestration, its judging of candidates, and its bookkeeping in the ledger."""
