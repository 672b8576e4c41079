"""Compute: the API logic, the conductor that drives host agents, and the stores they keep state in."""
