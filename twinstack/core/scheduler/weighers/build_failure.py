"""BuildFailureWeigher: hosts where builds recently failed go to the back."""

from __future__ import annotations

from twinstack.core.scheduler.decision import Decision
from twinstack.core.scheduler.host_state import HostState, Ints


class BuildFailureWeigher:
    """Minus the host's builds failed since its last success; with Nova's large default multiplier (10^6) a
    failing host loses to every healthy one, whatever the other weighers say."""

    def weigh(self, state: HostState, decision: Decision, hosts: Ints) -> Ints | None:
        return None if state.total_failed_builds == 0 else -state.failed_builds.take(hosts)
