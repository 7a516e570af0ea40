"""Isolation backends for running the self's code, and the LLM broker it talks through."""
