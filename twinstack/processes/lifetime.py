"""Running a part of the cloud until it is told to stop: SIGTERM or SIGINT (Ctrl-C) ends it cleanly."""

from __future__ import annotations

import signal
import threading
from collections.abc import Callable

from twinstack.config import BusSettings


class NeedsBroker(Exception):
    """A part that must talk to others over RabbitMQ was configured with the in-process bus."""


def require_amqp(bus: BusSettings, what: str) -> None:
    """Processes reach one another only through a broker: refuse, saying how, rather than run deaf."""
    if bus.transport != "amqp":
        raise NeedsBroker(f"{what} reaches the rest of the cloud over RabbitMQ: set [bus] transport = 'amqp' "
                          "(or TWINSTACK_BUS__TRANSPORT=amqp) and its url, the same for every process of the cloud")


def run_until_stopped(stop: Callable[[], None], ready: Callable[[], None] | None = None) -> None:
    """Block the main thread until SIGTERM or SIGINT, then ``stop`` (the work runs on other threads)."""
    done = threading.Event()
    previous = {sig: signal.signal(sig, lambda *_: done.set()) for sig in (signal.SIGTERM, signal.SIGINT)}
    try:
        if ready is not None:
            ready()
        done.wait()
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)
        stop()
