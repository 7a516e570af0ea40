"""Review: decisions by a person or by a named policy."""
