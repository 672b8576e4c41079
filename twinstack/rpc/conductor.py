"""Messages from the compute API to the conductor: the API records intent, the conductor carries it out."""

from __future__ import annotations

from twinstack.rpc.messages import Command, register

CONDUCTOR_TOPIC = "conductor"


@register
class BuildInstances(Command):
    """Schedule and spawn instances already recorded in BUILD/scheduling by the API."""

    name = "conductor.build_instances"
    version = "1.0"
    instance_uuids: list[str]
    request_id: str


@register
class DeleteInstance(Command):
    name = "conductor.delete_instance"
    version = "1.0"
    instance_uuid: str
    request_id: str


@register
class ChangePowerState(Command):
    """reboot_soft, reboot_hard, stop, start, pause, unpause, suspend or resume one instance."""

    name = "conductor.change_power_state"
    version = "1.0"
    instance_uuid: str
    action: str
    request_id: str
