"""The shared control plane: service logic, conductor, scheduler and placement.

Never imports the HTTP layer nor a host backend (DESIGN.md rule 1); reads time through a Clock.
"""
