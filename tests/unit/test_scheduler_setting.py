"""Where builds are scheduled is a setting: in-process by default (serve's plane, the offline simulator), the
'twinstack scheduler' processes with compute.scheduler = 'remote', which only RabbitMQ can reach."""

from __future__ import annotations

from pathlib import Path

import pytest
from typer.testing import CliRunner

from twinstack.cli import app
from twinstack.compute_plane import RemoteSchedulingUnavailable, scheduler_timeout
from twinstack.config import BusSettings, ComputeSettings


def test_builds_are_scheduled_in_process_unless_told_otherwise() -> None:
    assert ComputeSettings().scheduler == "local"
    assert scheduler_timeout(ComputeSettings(), BusSettings()) is None


def test_remote_scheduling_asks_over_rabbitmq_with_its_timeout() -> None:
    remote = ComputeSettings(scheduler="remote", scheduler_timeout=45)
    assert scheduler_timeout(remote, BusSettings(transport="amqp")) == 45
    with pytest.raises(RemoteSchedulingUnavailable, match="transport = 'amqp'"):
        scheduler_timeout(remote, BusSettings())


def test_a_scheduler_process_refuses_the_in_process_bus(tmp_path: Path) -> None:
    result = CliRunner().invoke(app, ["scheduler", "--data-dir", str(tmp_path)],
                                env={"TWINSTACK_BUS__TRANSPORT": "inprocess"})
    assert result.exit_code == 2
    assert "a scheduler reaches the rest of the cloud over RabbitMQ" in result.output


def test_serve_with_remote_scheduling_and_no_broker_says_why(tmp_path: Path) -> None:
    result = CliRunner().invoke(app, ["serve", "--data-dir", str(tmp_path), "--port", "0"],
                                env={"TWINSTACK_BUS__TRANSPORT": "inprocess", "TWINSTACK_COMPUTE__SCHEDULER": "remote"})
    assert result.exit_code == 2
    assert "set bus.transport = 'amqp' too" in result.output
