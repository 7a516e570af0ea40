"""Verification: the gates, cheapest first, and the acceptance statistics."""
