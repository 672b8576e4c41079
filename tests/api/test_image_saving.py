"""An image is ``saving`` while its data streams in: another client sees it so, and a second upload is refused,
until the last byte makes it ``active`` (Glance's queued -> saving -> active)."""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator

import httpx

from tests.api.image_helpers import Glance, digests
from tests.conftest import Api

FIRST, REST = b"a" * 65536, b"b" * 65536


def paused_body(resume: threading.Event, first_sent: threading.Event) -> Iterator[bytes]:
    """A streamed body that sends its first chunk, then waits (10 s at most) until told to send the rest."""
    yield FIRST
    first_sent.set()
    resume.wait(10)
    yield REST


def test_an_image_is_saving_while_a_slow_upload_streams_in(api: Api) -> None:
    glance = Glance(api)
    image_id = glance.create(name="slow")["id"]
    resume, first_sent = threading.Event(), threading.Event()
    answers: list[httpx.Response] = []

    def upload() -> None:
        answers.append(glance.request("PUT", f"/v2/images/{image_id}/file", content=paused_body(resume, first_sent),
                                      headers={"Content-Type": "application/octet-stream"}))

    uploader = threading.Thread(target=upload)
    uploader.start()
    try:
        assert first_sent.wait(10), "the upload never started"
        deadline = time.monotonic() + 10
        while glance.show(image_id)["status"] != "saving":  # the second client reads it meanwhile
            assert time.monotonic() < deadline, f"the image stayed {glance.show(image_id)['status']}"
            time.sleep(0.02)
        during = glance.show(image_id)
        assert during["status"] == "saving" and during["size"] is None and during["checksum"] is None
        assert glance.request("GET", f"/v2/images/{image_id}/file").status_code == 204, "no data to read yet"
        second = glance.upload(image_id, b"other bytes")
        assert second.status_code == 409, "one upload at a time"
    finally:
        resume.set()
        uploader.join(15)
    [answer] = answers
    assert answer.status_code == 204, answer.text
    image = glance.show(image_id)
    assert (image["status"], image["size"], image["checksum"]) == ("active", len(FIRST + REST),
                                                                    digests(FIRST + REST)[0])
    assert glance.request("GET", f"/v2/images/{image_id}/file").content == FIRST + REST
