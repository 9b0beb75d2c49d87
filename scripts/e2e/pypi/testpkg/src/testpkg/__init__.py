"""Stowage end-to-end test package."""

__version__ = "@VERSION@"
VARIANT = "@VARIANT@"
