"""The local RabbitMQ for tests: a unique name prefix per test, and everything under it deleted afterwards.

A missing broker fails loudly (scripts/install-system-deps.sh starts it); it is never a skipped test.
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import uuid

from kombu.connection import Connection

BROKER_URL = os.environ.get("TWINSTACK_TEST_AMQP", "amqp://guest:guest@127.0.0.1:5672//")


def unique_prefix() -> str:
    return f"test-{uuid.uuid4().hex[:12]}"


def _rabbitmqctl(*args: str) -> list[dict[str, object]]:
    done = subprocess.run(
        ["rabbitmqctl", *args, "-q", "--formatter", "json"], capture_output=True, text=True, check=True, timeout=60
    )
    listed: list[dict[str, object]] = json.loads(done.stdout or "[]")
    return listed


def queue_names(prefix: str) -> list[str]:
    return sorted(str(q["name"]) for q in _rabbitmqctl("list_queues", "name") if str(q["name"]).startswith(prefix))


def messages_in(queue: str) -> int:
    with Connection(BROKER_URL) as connection:
        _name, count, _consumers = connection.default_channel.queue_declare(queue=queue, passive=True)
        return int(count)


def drop_connections(prefix: str, role: str) -> int:
    """Close, from the broker's side, this prefix's connections of ``role`` (publisher or consumer): a lost link."""
    listed = subprocess.run(
        ["rabbitmqctl", "list_connections", "-q", "--no-table-headers", "pid", "client_properties"],
        capture_output=True,
        text=True,
        check=True,
        timeout=60,
    ).stdout
    dropped = 0
    for line in listed.splitlines():
        pid, _, properties = line.partition("\t")
        named = re.search(r'\{"connection_name","([^"]*)"\}', properties)
        if named and named.group(1).startswith(f"{prefix} {role} "):
            subprocess.run(
                ["rabbitmqctl", "close_connection", pid, "test: link lost"], capture_output=True, check=True, timeout=60
            )
            dropped += 1
    return dropped


def delete_prefix(prefix: str) -> None:
    """Every queue and exchange whose name starts with ``prefix``."""
    exchanges = [str(e["name"]) for e in _rabbitmqctl("list_exchanges", "name") if str(e["name"]).startswith(prefix)]
    with Connection(BROKER_URL) as connection:
        channel = connection.default_channel
        for queue in queue_names(prefix):
            channel.queue_delete(queue)
        for exchange in exchanges:
            channel.exchange_delete(exchange)
