"""rsilab: a lab for controlled recursive self-improvement."""

__version__ = "0.1.0"
