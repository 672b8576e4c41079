"""Where a cell's own bus is, from its transport URL (``twinstack cell create --transport-url``), and how the processes
that are not the cell's reach it (twinstack.core.compute.cell_buses).

A transport URL names

* ``amqp://user:password@broker:5672/vhost``: RabbitMQ at that broker and virtual host. The cell's exchange and
  queues are named ``<main bus prefix>.<cell>`` (``twinstack.cell2.conductor``, ``twinstack.cell2.agent.<host>``),
  unless the URL names a prefix (``...?prefix=NAME``): so a cell may share the main bus's broker, and even its virtual
  host, without sharing a queue. The cell's conductor (``twinstack conductor --cell NAME``) and its hosts' agents
  (``TWINSTACK_BUS__URL`` and ``TWINSTACK_BUS__PREFIX`` set to the URL and that prefix) consume there;
* ``inprocess://NAME``: a bus of its own inside the all-in-one plane (``twinstack serve``, tests), where the cell's
  conductor and its simulated hosts run beside the top-level conductor on one runtime but hear only each other.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from threading import Lock
from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit

from twinstack.config import BusSettings
from twinstack.rpc.amqp import AmqpPublisher, BrokerNames
from twinstack.rpc.bus import Publisher

LOG = logging.getLogger(__name__)
INPROCESS_SCHEME = "inprocess"


def in_process(transport_url: str) -> bool:
    return urlsplit(transport_url).scheme == INPROCESS_SCHEME


def cell_bus_settings(main: BusSettings, cell: str, transport_url: str) -> BusSettings:
    """The bus settings of ``cell``'s own bus, reached at ``transport_url`` (see the module)."""
    if in_process(transport_url):
        return main.model_copy(update={"transport": "inprocess", "prefix": f"{main.prefix}.{cell}"})
    parts = urlsplit(transport_url)
    query = parse_qsl(parts.query, keep_blank_values=True)
    prefix = next((value for key, value in query if key == "prefix"), f"{main.prefix}.{cell}")
    url = urlunsplit(parts._replace(query=urlencode([(k, v) for k, v in query if k != "prefix"])))
    return main.model_copy(update={"transport": "amqp", "url": url, "prefix": prefix})


def cell_publisher(main: BusSettings, cell: str, transport_url: str) -> Publisher:
    """A publisher on ``cell``'s RabbitMQ bus, connecting on its first message; it gives up after
    ``main.cell_publish_timeout`` (the cell then counts as down for a while, see CellBuses)."""
    settings = cell_bus_settings(main, cell, transport_url)
    if settings.transport != "amqp":
        raise ValueError(f"cell {cell}'s bus is in another process's memory: it cannot be reached from here")
    return AmqpPublisher(settings.url, BrokerNames(settings.prefix), timeout=main.cell_publish_timeout)


class CellSenders:
    """One thread per cell publishing what the top-level conductor posts to that cell's bus (the ``dispatch`` of
    twinstack.core.compute.cell_buses.CellBuses), in order: a cell's broker that makes a publish wait its whole
    timeout holds up that cell's messages alone, never the conductor's runtime."""

    def __init__(self, inline: frozenset[str] = frozenset()) -> None:
        """``inline``: cells whose publish never waits (in-process buses), published on the poster's thread."""
        self._inline = inline
        self._lock = Lock()
        self._senders: dict[str, ThreadPoolExecutor] = {}
        self._closed = False

    def dispatch(self, cell: str, job: Callable[[], None]) -> None:
        if cell in self._inline:
            job()
            return
        with self._lock:
            if self._closed:
                LOG.warning("a message for cell %s posted after the plane stopped: dropped", cell)
                return
            sender = self._senders.get(cell)
            if sender is None:
                sender = self._senders[cell] = ThreadPoolExecutor(max_workers=1, thread_name_prefix=f"cell-{cell}")
        sender.submit(job)

    def close(self) -> None:
        """Stop taking jobs and drop those not started (the plane stops); a job under way ends first (bounded by
        the publish timeout)."""
        with self._lock:
            self._closed, senders = True, list(self._senders.values())
        for sender in senders:
            sender.shutdown(wait=True, cancel_futures=True)
