"""Placement-style resource accounting and (later) the Nova-style scheduler built on it."""
