"""The AMQP bus: the Bus protocol over RabbitMQ (kombu), so the parts of a cloud can run in several processes.

The broker keeps the in-process bus's promises across processes:

- One topic exchange (``<prefix>``) and a durable queue per topic (``<prefix>.<topic>``), bound by the
  topic as routing key, declared on the first publish or subscribe: an envelope to a topic nobody holds
  yet waits in the broker until someone subscribes (a command to an agent that is restarting is kept).
- Messages are persistent and published with publisher confirms: ``publish`` returns once the broker has
  the message. While the broker is unreachable it retries with backoff; if it cannot hand the message
  over within ``publish_timeout`` it raises :class:`BusUnavailable` (never a silent loss).
- Deliveries run on the runtime's thread (``runtime.call_soon``), one at a time and in order per topic,
  as every core handler expects; a delivery is acknowledged only after its handler returned. kombu
  channels are not thread-safe, so the acknowledgement is handed back to the consumer thread, which
  settles it between two ``drain_events`` calls.
- A handler that raises is logged and its message requeued once. If it fails again on redelivery it is
  rejected without requeue and the broker dead-letters it into ``<prefix>.dead-letter``, with an error
  log. Why dead-letter rather than drop: a message that fails twice is poison (a bug, a version this
  receiver cannot read) and retrying it forever would spin; dropping it would lose the evidence, while the
  dead-letter queue keeps it for an operator to read or replay. "Once" is the broker's ``redelivered``
  flag, so a message already redelivered after a lost connection is not retried again.
- A consumer whose connection drops before it acknowledged loses nothing: the broker redelivers to the
  next consumer (or to this one once it has reconnected, with backoff). Such a repeat is harmless because
  every command carries an id and agents answer a repeated id from memory (twinstack.rpc.answers).

Topics named ``reply.<...>`` (one-off reply topics, e.g. a console request's) get queues that the broker
deletes after ``REPLY_QUEUE_EXPIRY_MS`` unused, so they do not pile up.
"""

from __future__ import annotations

import logging
import os
import queue
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from kombu.connection import Connection
from kombu.entity import Exchange, Queue
from kombu.message import Message as AmqpMessage
from kombu.messaging import Consumer, Producer

from twinstack.core.runtime import Runtime
from twinstack.rpc.bus import BusUnavailable as BusUnavailable  # where it was first defined: still importable here
from twinstack.rpc.bus import Handler
from twinstack.rpc.messages import Envelope
from twinstack.rpc.messages import decode as decode
from twinstack.rpc.messages import encode as encode

LOG = logging.getLogger(__name__)

NAME_HEADER = "twinstack-message"
"""Header holding the message's name, so the broker's tools (and routing, should it come to that) see it."""

REPLY_QUEUE_EXPIRY_MS = 10 * 60 * 1000
"""A reply topic's queue lives this long unused: longer than anyone waits for a reply."""

FIRST_RETRY_SECONDS = 0.2
LAST_RETRY_SECONDS = 10.0
"""Reconnect backoff: doubling from the first to the last, then staying there."""


@dataclass(frozen=True)
class BrokerNames:
    """Where a bus's messages live on the broker: everything starts with ``prefix`` (tests use their own)."""

    prefix: str = "twinstack"

    @property
    def exchange(self) -> Exchange:
        return Exchange(self.prefix, type="topic", durable=True)

    @property
    def dead_letter_exchange(self) -> Exchange:
        return Exchange(f"{self.prefix}.dead-letter", type="fanout", durable=True)

    @property
    def dead_letter_queue(self) -> Queue:
        return Queue(f"{self.prefix}.dead-letter", self.dead_letter_exchange, durable=True)

    def queue(self, topic: str) -> Queue:
        arguments: dict[str, Any] = {"x-dead-letter-exchange": f"{self.prefix}.dead-letter"}
        if topic.startswith("reply."):
            arguments["x-expires"] = REPLY_QUEUE_EXPIRY_MS
        return Queue(
            f"{self.prefix}.{topic}", self.exchange, routing_key=topic, durable=True, queue_arguments=arguments
        )


def connection_name(names: BrokerNames, role: str) -> dict[str, str]:
    """Client properties naming a connection as the broker's tools show it: whose, what for, which process."""
    return {"connection_name": f"{names.prefix} {role} pid {os.getpid()}"}


def _broker_errors(url: str) -> tuple[type[BaseException], ...]:
    """What a lost or refusing broker raises through this URL's transport: worth reconnecting over."""
    connection = Connection(url)
    return (*connection.recoverable_connection_errors, *connection.connection_errors, *connection.channel_errors)


def _backoff(delay: float) -> float:
    return min(delay * 2, LAST_RETRY_SECONDS)


class AmqpPublisher:
    """One connection for publishing, shared by every thread that publishes (under a lock).

    Connects on the first publish and again after the connection broke; gives up (BusUnavailable) when the
    broker has not taken a message within ``timeout`` seconds."""

    def __init__(self, url: str, names: BrokerNames, timeout: float) -> None:
        self._url = url
        self._names = names
        self._timeout = timeout
        self._lock = threading.Lock()
        self._connection: Connection | None = None
        self._producer: Producer | None = None
        self._declared: set[str] = set()
        self._errors = _broker_errors(url)

    def _ready(self) -> Producer:
        if self._producer is None:
            # heartbeats off: nothing would send them between publishes; a dead connection shows on the next
            # publish, which reconnects
            connection = Connection(
                self._url,
                heartbeat=0,
                connect_timeout=5,
                transport_options={
                    "confirm_publish": True,
                    "client_properties": connection_name(self._names, "publisher"),
                },
            )
            connection.connect()
            self._connection = connection
            channel = connection.channel()
            self._names.dead_letter_queue(channel).declare()
            self._producer = Producer(channel, exchange=self._names.exchange)
        return self._producer

    def _drop(self) -> None:
        connection, self._connection, self._producer = self._connection, None, None
        self._declared.clear()
        if connection is not None:
            try:
                connection.release()
            except Exception:  # already broken: nothing more to release
                LOG.debug("closing a broken publisher connection failed", exc_info=True)

    def publish(self, topic: str, envelope: Envelope) -> None:
        payload = encode(envelope)
        deadline = time.monotonic() + self._timeout
        delay = FIRST_RETRY_SECONDS
        with self._lock:
            while True:
                try:
                    producer = self._ready()
                    if topic not in self._declared:
                        self._names.queue(topic)(producer.channel).declare()
                        self._declared.add(topic)
                    producer.publish(
                        payload,
                        routing_key=topic,
                        delivery_mode=2,
                        content_type="application/json",
                        content_encoding="utf-8",
                        headers={NAME_HEADER: envelope.name},
                    )
                    return
                except self._errors as exc:
                    self._drop()
                    if time.monotonic() + delay > deadline:
                        raise BusUnavailable(f"the broker did not take {envelope.name} for {topic}: {exc}") from exc
                    LOG.warning("publishing %s to %s failed (%s); retrying in %.1f s", envelope.name, topic, exc, delay)
                    time.sleep(delay)
                    delay = _backoff(delay)

    def close(self) -> None:
        with self._lock:
            self._drop()


@dataclass
class _Delivery:
    """One message handed to the runtime, to be settled on the consumer thread of the connection it came on."""

    message: AmqpMessage
    generation: int
    redelivered: bool


class _Consumer:
    """The consumer thread: owns its connection and channel; everything else reaches it through ``_requests``."""

    TICK_SECONDS = 0.02
    """Longest a request (subscribe, acknowledgement) waits for the thread while no message arrives."""

    def __init__(self, url: str, names: BrokerNames, runtime: Runtime, prefetch: int) -> None:
        self._url = url
        self._names = names
        self._runtime = runtime
        self._prefetch = prefetch
        self._handlers: dict[str, Handler] = {}
        self._requests: queue.SimpleQueue[Callable[[], None]] = queue.SimpleQueue()
        self._consumers: dict[str, Consumer] = {}
        self._connection: Connection | None = None
        self._generation = 0
        self._unsettled = 0
        self._stop = threading.Event()
        self._grace = 0.0
        self._connected = threading.Event()
        self._thread = threading.Thread(target=self._loop, name="twinstack-amqp-consumer", daemon=True)
        self.delivered = 0

    def start(self, timeout: float) -> None:
        self._thread.start()
        if not self._connected.wait(timeout):
            self.stop(0.0)
            raise BusUnavailable(f"no broker answered at {Connection(self._url).as_uri()} within {timeout} s")

    # --- any thread -------------------------------------------------------------------------------------

    def subscribe(self, topic: str, handler: Handler) -> None:
        self._handlers[topic] = handler
        self._requests.put(lambda: self._consume(topic))

    def unsubscribe(self, topic: str) -> None:
        self._handlers.pop(topic, None)
        self._requests.put(lambda: self._cancel(topic))

    def stop(self, grace: float) -> None:
        self._grace = grace
        self._stop.set()
        if self._thread.is_alive() and threading.current_thread() is not self._thread:
            self._thread.join(grace + 5)

    # --- the runtime's thread ---------------------------------------------------------------------------

    def _deliver(self, topic: str, envelope: Envelope, delivery: _Delivery) -> None:
        handler = self._handlers.get(topic)
        if handler is None:  # unsubscribed since: back to the broker for the topic's next subscriber
            self._requests.put(lambda: self._settle(delivery, "requeue"))
            return
        self.delivered += 1
        try:
            handler(envelope)
        except Exception:
            if delivery.redelivered:
                LOG.error(
                    "handler for %s failed again on redelivered %s %s: dead-lettered to %s",
                    topic,
                    envelope.name,
                    envelope.version,
                    self._names.dead_letter_queue.name,
                    exc_info=True,
                )
                self._requests.put(lambda: self._settle(delivery, "reject"))
            else:
                LOG.exception("handler for %s failed on %s %s: requeued once", topic, envelope.name, envelope.version)
                self._requests.put(lambda: self._settle(delivery, "requeue"))
            return
        self._requests.put(lambda: self._settle(delivery, "ack"))

    # --- the consumer thread ----------------------------------------------------------------------------

    def _loop(self) -> None:
        delay = FIRST_RETRY_SECONDS
        errors = _broker_errors(self._url)
        while not self._stop.is_set():
            try:
                self._connect()
                delay = FIRST_RETRY_SECONDS
                self._serve()
            except errors as exc:
                if self._stop.is_set():
                    break
                LOG.warning("lost the broker (%s); reconnecting in %.1f s", exc, delay)
                self._drop()
                self._stop.wait(delay)
                delay = _backoff(delay)
        self._finish()

    def _connect(self) -> None:
        connection = Connection(
            self._url,
            heartbeat=30,
            connect_timeout=5,
            transport_options={"client_properties": connection_name(self._names, "consumer")},
        )
        connection.connect()
        self._connection = connection
        self._generation += 1
        self._unsettled = 0
        self._consumers.clear()
        channel = connection.default_channel
        channel.basic_qos(0, self._prefetch, False)
        self._names.dead_letter_queue(channel).declare()
        for topic in list(self._handlers):
            self._consume(topic)
        self._connected.set()

    def _serve(self) -> None:
        assert self._connection is not None
        while not self._stop.is_set():
            self._run_requests()
            try:
                self._connection.drain_events(timeout=self.TICK_SECONDS)
            except TimeoutError:
                self._connection.heartbeat_check()

    def _run_requests(self) -> None:
        while True:
            try:
                request = self._requests.get_nowait()
            except queue.Empty:
                return
            request()

    def _finish(self) -> None:
        """Stop taking messages, give the handlers already running ``grace`` seconds to be acknowledged, close."""
        try:
            for topic in list(self._consumers):
                self._cancel(topic)
            deadline = time.monotonic() + self._grace
            while self._unsettled and time.monotonic() < deadline and self._connection is not None:
                self._run_requests()
                time.sleep(self.TICK_SECONDS)
        except Exception:  # the connection broke meanwhile: the broker requeues what was not acknowledged
            LOG.debug("closing the consumer connection failed", exc_info=True)
        self._drop()

    def _drop(self) -> None:
        connection, self._connection = self._connection, None
        self._consumers.clear()
        if connection is not None:
            try:
                connection.release()
            except Exception:  # already broken
                LOG.debug("closing a broken consumer connection failed", exc_info=True)

    def _consume(self, topic: str) -> None:
        if self._connection is None or topic in self._consumers or topic not in self._handlers:
            return  # not connected: consumed on (re)connection; or already consumed; or unsubscribed since
        channel = self._connection.default_channel
        consumer = Consumer(
            channel,
            queues=[self._names.queue(topic)],
            no_ack=False,
            on_message=lambda message: self._on_message(topic, message),
        )
        consumer.consume()
        self._consumers[topic] = consumer

    def _cancel(self, topic: str) -> None:
        consumer = self._consumers.pop(topic, None)
        if consumer is not None and self._connection is not None:
            consumer.cancel()

    def _on_message(self, topic: str, message: AmqpMessage) -> None:
        redelivered = bool(message.delivery_info.get("redelivered"))
        try:
            envelope = decode(message.body)
        except (ValueError, KeyError, TypeError):
            LOG.error("undecodable message on %s: dead-lettered to %s", topic, self._names.dead_letter_queue.name)
            message.reject(requeue=False)
            return
        delivery = _Delivery(message, self._generation, redelivered)
        self._unsettled += 1
        self._runtime.call_soon(lambda: self._deliver(topic, envelope, delivery))

    def _settle(self, delivery: _Delivery, outcome: str) -> None:
        if delivery.generation != self._generation or self._connection is None:
            return  # its connection is gone: the broker has put it back already
        self._unsettled -= 1
        if outcome == "ack":
            delivery.message.ack()
        else:
            delivery.message.reject(requeue=outcome == "requeue")


class AmqpBus:
    """The Bus over RabbitMQ; see the module's docstring for what it promises.

    ``publish`` may be called from any thread; handlers run on ``runtime``'s thread. The bus connects when
    made and raises :class:`BusUnavailable` if no broker answers within ``connect_timeout``.
    """

    def __init__(
        self,
        runtime: Runtime,
        url: str,
        prefix: str = "twinstack",
        publish_timeout: float = 30.0,
        prefetch: int = 256,
        connect_timeout: float = 10.0,
    ) -> None:
        self.names = BrokerNames(prefix)
        self._publisher = AmqpPublisher(url, self.names, publish_timeout)
        self._consumer = _Consumer(url, self.names, runtime, prefetch)
        self._consumer.start(connect_timeout)

    @property
    def delivered(self) -> int:
        """Deliveries handed to a handler (redeliveries count again)."""
        return self._consumer.delivered

    def publish(self, topic: str, envelope: Envelope) -> None:
        self._publisher.publish(topic, envelope)

    def subscribe(self, topic: str, handler: Handler) -> None:
        self._consumer.subscribe(topic, handler)

    def unsubscribe(self, topic: str) -> None:
        self._consumer.unsubscribe(topic)

    def close(self, grace: float = 2.0) -> None:
        """Stop consuming, let handlers already running be acknowledged for ``grace`` seconds, disconnect.

        What is not acknowledged by then the broker redelivers to the topic's next subscriber."""
        self._consumer.stop(grace)
        self._publisher.close()
