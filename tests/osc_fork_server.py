"""A warm ``openstack``: imports openstackclient once, then runs each command in a fork of itself.

Run by :mod:`tests.osc_runner` as ``python -m tests.osc_fork_server``. It reads one JSON request a line on stdin
(``{"args": [...], "env": {...}}``) and answers one JSON line on stdout (``{"code", "stdout", "stderr"}``).
Each command runs in a child forked from this process as it was after the imports, so no command sees what an
earlier one left behind (openstackclient keeps state between runs in one process: a failed call once sent a
later one to a cloud that was gone), and none pays the 1.5 s of imports and plugin scans a fresh process pays.

The commands' ``--wait`` polls at most every :data:`POLL_SECONDS` here (see :func:`quicken_polling`): the same
requests until the same status, only without the 2 to 5 s between them that the client sleeps by default.
"""

from __future__ import annotations

import contextlib
import io
import json
import os
import signal
import sys
import time
from typing import Any

WARM_MODULES = (
    "openstackclient.shell",
    "openstackclient.compute.v2.server",
    "openstackclient.compute.v2.flavor",
    "openstackclient.network.v2.network",
    "openstackclient.network.v2.port",
    "openstackclient.image.v2.image",
    "openstackclient.volume.v3.volume",
    "openstackclient.identity.v3.token",
    "openstackclient.identity.v3.project",
    "keystoneclient.v3.client",
    "novaclient.client",
)
"""Imported before the first fork: what most commands need, so no child imports it again."""
CHILD_SECONDS = 180
"""A command still running after this is ended (the runner gives up after 120 s)."""
POLL_SECONDS = 0.2
"""The longest pause between two polls of a waiting command (``--wait``)."""


class _Polling:
    """The ``time`` module as the client's wait loops see it: the same, except that a pause is at most
    :data:`POLL_SECONDS`."""

    def __getattr__(self, name: str) -> Any:
        return getattr(time, name)

    @staticmethod
    def sleep(seconds: float) -> None:
        time.sleep(min(seconds, POLL_SECONDS))


def quicken_polling() -> None:
    """Shorten the pauses of the client's wait loops, and only theirs: osc-lib's ``wait_for_status`` and
    ``wait_for_delete`` (5 s between polls: every ``server create --wait`` spent at least that, however soon the
    server was ACTIVE) and openstacksdk's ``iterate_timeout`` (2 s; behind every ``wait_for_*`` of the SDK's
    resources). Each still polls until its status or its timeout, which stays the client's own."""
    import openstack.utils
    import osc_lib.utils

    for module in (osc_lib.utils, openstack.utils):
        assert getattr(module, "time", None) is time, f"{module.__name__} sleeps through the time module"
        setattr(module, "time", _Polling())  # noqa: B010 (mypy: neither declares its imports)


def warm() -> None:
    import importlib
    import importlib.metadata

    for name in WARM_MODULES:
        with contextlib.suppress(ImportError):
            importlib.import_module(name)
    importlib.metadata.entry_points(group="openstack.cli.extension")  # the plugin scan, cached
    quicken_polling()


def run_in_child(request: dict[str, Any]) -> dict[str, Any]:
    """Fork; the child runs the command and writes its result back through a pipe."""
    reading, writing = os.pipe()
    pid = os.fork()
    if pid == 0:  # the child: never returns
        os.close(reading)
        quiet = os.open(os.devnull, os.O_RDWR)
        os.dup2(quiet, 0)  # the requests' pipe is the server's: no prompt may read it
        os.dup2(quiet, 1)  # nor write into its answers (the result goes back through the pipe)
        signal.alarm(CHILD_SECONDS)  # outlives no runner that gave up on it and killed this server
        result = run_here(request)
        with os.fdopen(writing, "w") as pipe:
            pipe.write(json.dumps(result))
        os._exit(0)
    os.close(writing)
    with os.fdopen(reading) as pipe:
        written = pipe.read()
    _pid, status = os.waitpid(pid, 0)
    if written:
        answer: dict[str, Any] = json.loads(written)
        return answer
    return {"code": 1, "stdout": "", "stderr": f"the openstack child died (wait status {status})"}


def run_here(request: dict[str, Any]) -> dict[str, Any]:
    from openstackclient import shell

    os.environ.clear()
    os.environ.update(request["env"])
    out, err = io.StringIO(), io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        try:
            code = shell.main(list(request["args"]))
        except SystemExit as exc:  # argparse's usage errors and --help
            code = exc.code if isinstance(exc.code, int) else 1
        except BaseException as exc:  # reported as the command would report it: on stderr, exit 1
            print(f"{type(exc).__name__}: {exc}", file=sys.stderr)
            code = 1
    return {"code": code, "stdout": out.getvalue(), "stderr": err.getvalue()}


def main() -> None:
    warm()
    print(json.dumps({"ready": True}), flush=True)
    for line in sys.stdin:
        print(json.dumps(run_in_child(json.loads(line))), flush=True)


if __name__ == "__main__":
    main()
