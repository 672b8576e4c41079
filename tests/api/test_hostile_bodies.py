"""Oversized and deeply nested bodies are refused before they cost memory, by every service in its own fault
format: 413 past ``[api] max_request_body_bytes`` (at once when the length is declared, as soon as it is passed
when it is not), 400 past ``[api] max_json_depth``; image data streams to its own cap instead."""

from __future__ import annotations

import asyncio
import contextlib
import json
import socket
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.conftest import Api, Served, make_settings
from twinstack.api.app import create_app
from twinstack.api.body_limits import JsonDepthGauge
from twinstack.cloud import Cloud, open_cloud
from twinstack.config import ApiSettings
from twinstack.core.clock import ManualClock
from twinstack.setup_cloud import bootstrap

HUNDRED_MB = 100 * 1024 * 1024
CHUNK = 64 * 1024

BODY_ROUTES = [
    ("/identity/v3/projects", {"error"}),
    ("/compute/v2.1/os-keypairs", {"overLimit", "badRequest"}),
    ("/network/v2.0/networks", {"NeutronError"}),
    ("/image/v2/images", {"code", "title", "message", "error"}),
    ("/volume/v3/types", {"overLimit", "badRequest"}),
    ("/placement/resource_providers", {"errors"}),
    ("/load-balancer/v2/lbaas/loadbalancers", {"faultcode", "faultstring", "debuginfo"}),
]
"""A route taking a JSON body in each service, and the top-level keys of that service's faults."""


@pytest.fixture(scope="module")
def api(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Api]:
    """One cloud (SQLite) for the module: nothing here depends on the database."""
    cloud = open_cloud(make_settings(tmp_path_factory.mktemp("bodies")), clock=ManualClock(start=time.time()))
    bootstrap(cloud)
    yield Api(cloud)
    cloud.close()


def post_streamed(cloud: Cloud, path: str, token: str, declare_length: bool) -> tuple[int, dict[str, Any], int]:
    """POST a 100 MB body straight into the ASGI app in 64 KiB chunks: (status, JSON answer, bytes it took)."""
    app = create_app(cloud)
    taken = 0
    answer: dict[str, Any] = {"body": b""}
    headers = [(b"content-type", b"application/json"), (b"x-auth-token", token.encode())]
    if declare_length:
        headers.append((b"content-length", str(HUNDRED_MB).encode()))
    chunk = b" " * CHUNK  # blanks: a JSON document that has not started yet, so only its size can refuse it

    async def receive() -> dict[str, Any]:
        nonlocal taken
        if taken >= HUNDRED_MB:
            return {"type": "http.disconnect"}
        taken += CHUNK
        return {"type": "http.request", "body": chunk, "more_body": taken < HUNDRED_MB}

    async def send(message: dict[str, Any]) -> None:
        if message["type"] == "http.response.start":
            answer["status"] = message["status"]
        elif message["type"] == "http.response.body":
            answer["body"] += message.get("body", b"")

    scope = {"type": "http", "asgi": {"version": "3.0"}, "http_version": "1.1", "method": "POST", "scheme": "http",
             "path": path, "raw_path": path.encode(), "root_path": "", "query_string": b"", "headers": headers,
             "client": ("127.0.0.1", 1), "server": ("127.0.0.1", 8000)}
    asyncio.run(app(scope, receive, send))
    return answer["status"], json.loads(answer["body"]), taken


@pytest.mark.parametrize(("path", "fault_keys"), BODY_ROUTES)
def test_a_100_mb_body_is_refused_before_it_is_read(api: Api, path: str, fault_keys: set[str]) -> None:
    status, fault, taken = post_streamed(api.cloud, path, api.admin_token, declare_length=True)
    assert status == 413 and set(fault) <= fault_keys, fault
    assert taken == 0  # the declared length was enough: not one chunk was read


@pytest.mark.parametrize(("path", "fault_keys"), BODY_ROUTES)
def test_a_100_mb_body_of_undeclared_length_is_refused_once_past_the_limit(api: Api, path: str,
                                                                          fault_keys: set[str]) -> None:
    status, fault, taken = post_streamed(api.cloud, path, api.admin_token, declare_length=False)
    assert status == 413 and set(fault) <= fault_keys, fault
    assert taken <= api.cloud.settings.api.max_request_body_bytes + CHUNK


def nested(depth: int) -> bytes:
    return b"[" * depth + b"]" * depth


@pytest.mark.parametrize(("path", "fault_keys"), BODY_ROUTES)
def test_json_10000_deep_is_a_bad_request(api: Api, path: str, fault_keys: set[str]) -> None:
    response = api.http.post(path, content=b'{"x": ' + nested(10_000) + b"}",
                             headers={"X-Auth-Token": api.admin_token, "Content-Type": "application/json"})
    assert response.status_code == 400, response.text
    assert set(response.json()) <= fault_keys and "nested more than 64 levels" in response.text


def test_brackets_in_strings_do_not_count_as_nesting(api: Api) -> None:
    name = "[{" * 5000 + '\\"'
    response = api.post("/projects", json={"project": {"name": "brackets", "description": name}})
    assert response.status_code == 201, response.text
    assert response.json()["project"]["description"] == name


def test_the_depth_gauge_follows_strings_and_escapes_across_chunks() -> None:
    gauge = JsonDepthGauge(max_depth=3)
    for chunk in (b'{"a": "]]]\\', b'"[[[[" , "b": [[', b"1]], ", b'"\\\\', b'"}'):
        gauge.feed(chunk)
    assert (gauge.depth, gauge.in_string) == (0, False)
    with pytest.raises(Exception, match="nested more than 3 levels"):
        gauge.feed(b"[[[[")


@pytest.fixture
def small_limit_api(tmp_path: Path) -> Api:
    settings = make_settings(tmp_path).model_copy(update={"api": ApiSettings(max_request_body_bytes=64 * 1024)})
    cloud = open_cloud(settings, clock=ManualClock(start=time.time()))
    bootstrap(cloud)
    return Api(cloud)


def test_image_data_streams_past_the_request_limit_to_its_own_cap(small_limit_api: Api) -> None:
    api = small_limit_api
    headers = {"X-Auth-Token": api.admin_token}
    assert api.post("/projects", json={"project": {"name": "p", "description": "x" * 70_000}}).status_code == 413
    image = api.http.post("/image/v2/images", json={"name": "big", "disk_format": "raw", "container_format": "bare"},
                          headers=headers).json()["id"]
    data = bytes(range(256)) * 1024  # 256 KiB: four times the limit on other bodies
    uploaded = api.http.put(f"/image/v2/images/{image}/file", content=data,
                            headers={**headers, "Content-Type": "application/octet-stream"})
    assert uploaded.status_code == 204, uploaded.text
    assert api.http.get(f"/image/v2/images/{image}/file", headers=headers).content == data


def raw_post(served: Served, path: str, head: dict[str, str], body_chunks: int) -> tuple[bytes, int]:
    """Send a POST over a real socket, the body only while the server has not answered: (answer, bytes sent)."""
    with socket.create_connection(("127.0.0.1", int(served.url.rsplit(":", 1)[1])), timeout=30) as sock:
        lines = [f"POST {path} HTTP/1.1", "Host: 127.0.0.1", "Content-Type: application/json",
                 *(f"{k}: {v}" for k, v in head.items())]
        sock.sendall(("\r\n".join(lines) + "\r\n\r\n").encode())
        sent = 0
        sock.setblocking(False)
        answer = b""
        chunk = b" " * CHUNK
        for _ in range(body_chunks):
            try:
                answer += sock.recv(65536)
                break  # the server answered: stop sending
            except BlockingIOError:
                pass
            try:
                sent += sock.send(b"%x\r\n" % CHUNK + chunk + b"\r\n" if "Transfer-Encoding" in head else chunk)
            except (BlockingIOError, BrokenPipeError, ConnectionResetError):
                time.sleep(0.01)
        sock.setblocking(True)
        with contextlib.suppress(ConnectionResetError, TimeoutError):
            while not whole(answer):  # the head and the body may come in separate segments
                received = sock.recv(65536)
                if not received:
                    break
                answer += received
        return answer, sent


def whole(answer: bytes) -> bool:
    """An HTTP answer has arrived whole: its head, and as many body bytes as its Content-Length says."""
    head, separator, body = answer.partition(b"\r\n\r\n")
    if not separator:
        return False
    for line in head.split(b"\r\n")[1:]:
        name, _, value = line.partition(b":")
        if name.strip().lower() == b"content-length":
            return len(body) >= int(value.strip())
    return True


@pytest.mark.slow
def test_a_served_cloud_answers_413_before_a_declared_100_mb_body(served: Served) -> None:
    answer, sent = raw_post(served, "/identity/v3/projects", {"Content-Length": str(HUNDRED_MB)}, body_chunks=0)
    assert answer.startswith(b"HTTP/1.1 413"), answer[:300]
    assert sent == 0 and b'"error"' in answer


@pytest.mark.slow
def test_a_served_cloud_stops_reading_a_chunked_100_mb_body(served: Served) -> None:
    answer, sent = raw_post(served, "/identity/v3/projects", {"Transfer-Encoding": "chunked"},
                            body_chunks=HUNDRED_MB // CHUNK)
    assert answer.startswith(b"HTTP/1.1 413"), answer[:300]
    assert sent < 32 * 1024 * 1024  # the limit, and what the sockets' buffers held: far short of 100 MB

