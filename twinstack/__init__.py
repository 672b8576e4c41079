"""Twinstack: an OpenStack-compatible cloud over simulated or real hosts."""

__version__ = "0.1.0"
