"""The simulated amphorae apply a command once (a repeat while applying is dropped, one after is answered from
memory) and keep bounded memories: answers for a window of time, the log of applies for its last entries."""

from __future__ import annotations

from twinstack.config import LoadBalancerSettings
from twinstack.rpc.answers import DEFAULT_WINDOW_SECONDS
from twinstack.rpc.bus import send, typed
from twinstack.rpc.inprocess import InProcessBus
from twinstack.rpc.loadbalancer import AMPHORA_TOPIC, LOADBALANCER_TOPIC, ApplyLoadBalancer, LoadBalancerApplied
from twinstack.rpc.messages import Envelope, Message
from twinstack.sim.amphora import APPLIED_KEPT, SimAmphoraDriver
from twinstack.sim.runtime import SimRuntime


def driver() -> tuple[SimRuntime, InProcessBus, SimAmphoraDriver, list[LoadBalancerApplied]]:
    runtime = SimRuntime(epoch=0.0)
    bus = InProcessBus(runtime)
    amphorae = SimAmphoraDriver(runtime, bus, LoadBalancerSettings(apply_seconds=1.0))
    amphorae.start()
    answers: list[LoadBalancerApplied] = []

    def answered(message: Message, _envelope: Envelope) -> None:
        assert isinstance(message, LoadBalancerApplied)
        answers.append(message)

    bus.subscribe(LOADBALANCER_TOPIC, typed(answered))
    return runtime, bus, amphorae, answers


def test_a_command_is_applied_once_however_often_it_comes() -> None:
    runtime, bus, amphorae, answers = driver()
    command = ApplyLoadBalancer(loadbalancer_id="lb-1", vip_address="10.0.0.5")
    send(bus, AMPHORA_TOPIC, command)
    runtime.advance(0.5)
    send(bus, AMPHORA_TOPIC, command)  # resent while the first is being applied
    runtime.advance(2.0)
    send(bus, AMPHORA_TOPIC, command)  # and after its answer
    runtime.advance(3.0)
    assert [action for _, _, action in amphorae.applied] == ["create"]
    assert [(a.command_id, a.ok) for a in answers] == [(command.command_id, True)] * 2


def test_its_memories_are_bounded() -> None:
    runtime, bus, amphorae, answers = driver()
    for n in range(APPLIED_KEPT + 10):
        send(bus, AMPHORA_TOPIC, ApplyLoadBalancer(loadbalancer_id=f"lb-{n}"))
    runtime.advance(2.0)
    assert len(answers) == APPLIED_KEPT + 10
    assert len(amphorae.applied) == APPLIED_KEPT
    assert amphorae.applied[-1][1] == f"lb-{APPLIED_KEPT + 9}"
    runtime.advance(DEFAULT_WINDOW_SECONDS + 10)
    send(bus, AMPHORA_TOPIC, ApplyLoadBalancer(loadbalancer_id="lb-late"))
    runtime.advance(DEFAULT_WINDOW_SECONDS + 20)
    assert len(amphorae._answered) == 1  # the answers older than the window are forgotten
