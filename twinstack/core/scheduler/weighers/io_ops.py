"""IoOpsWeigher: instances busy in a task (building, resizing, migrating...)."""

from __future__ import annotations

from twinstack.core.scheduler.decision import Decision
from twinstack.core.scheduler.host_state import HostState, Ints


class IoOpsWeigher:
    """The host's io_ops count; Nova's default multiplier (-1) prefers the least busy hosts."""

    def weigh(self, state: HostState, decision: Decision, hosts: Ints) -> Ints | None:
        return None if state.total_io_ops == 0 else state.io_ops.take(hosts)
