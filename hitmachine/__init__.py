"""Hitmachine: a privacy-preserving hit/no-hit service for a Veiligheidshuis."""

__version__ = "0.1.0"
