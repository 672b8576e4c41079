"""Neutron's named faults. Each error's ``title`` is the ``type`` Neutron puts in its fault body
(``{"NeutronError": {"type": "NetworkNotFound", ...}}``): clients and tests match on it."""

from __future__ import annotations

from twinstack.core.errors import BadRequest, CloudError, Conflict, NotFound


class NetworkNotFound(NotFound):
    title = "NetworkNotFound"

    def __init__(self, network_id: str) -> None:
        super().__init__(f"Network {network_id} could not be found.")


class SubnetNotFound(NotFound):
    title = "SubnetNotFound"

    def __init__(self, subnet_id: str) -> None:
        super().__init__(f"Subnet {subnet_id} could not be found.")


class PortNotFound(NotFound):
    title = "PortNotFound"

    def __init__(self, port_id: str) -> None:
        super().__init__(f"Port {port_id} could not be found.")


class RouterNotFound(NotFound):
    title = "RouterNotFound"

    def __init__(self, router_id: str) -> None:
        super().__init__(f"Router {router_id} could not be found.")


class FloatingIPNotFound(NotFound):
    title = "FloatingIPNotFound"

    def __init__(self, floatingip_id: str) -> None:
        super().__init__(f"Floating IP {floatingip_id} could not be found")


class SecurityGroupNotFound(NotFound):
    title = "SecurityGroupNotFound"

    def __init__(self, group_id: str) -> None:
        super().__init__(f"Security group {group_id} does not exist")


class SecurityGroupRuleNotFound(NotFound):
    title = "SecurityGroupRuleNotFound"

    def __init__(self, rule_id: str) -> None:
        super().__init__(f"Security group rule {rule_id} does not exist")


class SubnetPoolNotFound(NotFound):
    title = "SubnetPoolNotFound"

    def __init__(self, pool_id: str) -> None:
        super().__init__(f"Subnet pool {pool_id} could not be found.")


class InvalidInput(BadRequest):
    title = "InvalidInput"

    def __init__(self, message: str) -> None:
        super().__init__(f"Invalid input for operation: {message}.")


class InvalidIpForSubnet(BadRequest):
    title = "InvalidIpForSubnet"

    def __init__(self, ip_address: str) -> None:
        super().__init__(f"IP address {ip_address} is not a valid IP for the specified subnet.")


class InvalidIpForNetwork(BadRequest):
    title = "InvalidIpForNetwork"

    def __init__(self, ip_address: str) -> None:
        super().__init__(f"IP address {ip_address} is not a valid IP for any of the subnets on the specified "
                         "network.")


class NetworkInUse(Conflict):
    title = "NetworkInUse"

    def __init__(self, network_id: str) -> None:
        super().__init__(f"Unable to complete operation on network {network_id}. There are one or more ports "
                         "still in use on the network.")


class SubnetInUse(Conflict):
    title = "SubnetInUse"

    def __init__(self, subnet_id: str,
                 reason: str = "One or more ports have an IP allocation from this subnet.") -> None:
        super().__init__(f"Unable to complete operation on subnet {subnet_id}: {reason}")


class PortInUse(Conflict):
    title = "PortInUse"

    def __init__(self, port_id: str, network_id: str, device_id: str) -> None:
        super().__init__(f"Unable to complete operation on port {port_id} for network {network_id}. Port already "
                         f"has an attached device {device_id}.")


class IpAddressAlreadyAllocated(Conflict):
    title = "IpAddressAlreadyAllocated"

    def __init__(self, ip_address: str, subnet_id: str) -> None:
        super().__init__(f"IP address {ip_address} already allocated in subnet {subnet_id}")


class IpAddressGenerationFailure(Conflict):
    title = "IpAddressGenerationFailure"

    def __init__(self, network_id: str) -> None:
        super().__init__(f"No more IP addresses available on network {network_id}.")


class MacAddressInUse(Conflict):
    title = "MacAddressInUse"

    def __init__(self, mac: str, network_id: str) -> None:
        super().__init__(f"Unable to complete operation for network {network_id}. The mac address {mac} is in use.")


class SegmentationIdInUse(Conflict):
    """A VLAN already carried by another network of that physical network (Neutron's VlanIdInUse)."""

    title = "VlanIdInUse"

    def __init__(self, network_type: str, segmentation_id: int, physical_network: str) -> None:
        super().__init__(f"Unable to create the network. The VLAN {segmentation_id} on physical network "
                         f"{physical_network} is in use.")


class TunnelIdInUse(Conflict):
    title = "TunnelIdInUse"

    def __init__(self, segmentation_id: int) -> None:
        super().__init__(f"Unable to create the network. The tunnel ID {segmentation_id} is in use.")


class FlatNetworkInUse(Conflict):
    title = "FlatNetworkInUse"

    def __init__(self, physical_network: str) -> None:
        super().__init__(f"Unable to create the flat network. Physical network {physical_network} is in use.")


class NoNetworkAvailable(CloudError):
    """Neutron's ResourceExhausted is a ServiceUnavailable: the configured ranges are used up, 503."""

    status = 503
    title = "NoNetworkAvailable"

    def __init__(self) -> None:
        super().__init__("Unable to create the network. No tenant network is available for allocation.")


class OverQuota(Conflict):
    """Neutron answers an exhausted quota with 409, not 413."""

    title = "OverQuota"

    def __init__(self, resource: str) -> None:
        super().__init__(f"Quota exceeded for resources: ['{resource}'].")


class SecurityGroupInUse(Conflict):
    title = "SecurityGroupInUse"

    def __init__(self, group_id: str) -> None:
        super().__init__(f"Security Group {group_id} in use.")


class SecurityGroupConflict(Conflict):
    """Neutron's refusal of a port in stateful and stateless groups at once (stateful-security-group)."""

    title = "SecurityGroupConflict"

    def __init__(self) -> None:
        super().__init__("Error Cannot apply both stateful and stateless security groups on the same port at the "
                         "same time. while attempting the operation.")


class SecurityGroupCannotRemoveDefault(Conflict):
    title = "SecurityGroupCannotRemoveDefault"

    def __init__(self) -> None:
        super().__init__("Insufficient rights for removing default security group.")


class SecurityGroupRuleExists(Conflict):
    title = "SecurityGroupRuleExists"

    def __init__(self, rule_id: str) -> None:
        super().__init__(f"Security group rule already exists. Rule id is {rule_id}.")


class RouterInUse(Conflict):
    title = "RouterInUse"

    def __init__(self, router_id: str, reason: str = "still has ports") -> None:
        super().__init__(f"Router {router_id} {reason}")


class RouterInterfaceNotFoundForSubnet(NotFound):
    title = "RouterInterfaceNotFoundForSubnet"

    def __init__(self, router_id: str, subnet_id: str) -> None:
        super().__init__(f"Router {router_id} has no interface on subnet {subnet_id}")


class RouterInterfaceNotFound(NotFound):
    title = "RouterInterfaceNotFound"

    def __init__(self, router_id: str, port_id: str) -> None:
        super().__init__(f"Router {router_id} does not have an interface with id {port_id}")


class ExternalGatewayForFloatingIPNotFound(NotFound):
    title = "ExternalGatewayForFloatingIPNotFound"

    def __init__(self, external_network_id: str, subnet_id: str, port_id: str) -> None:
        super().__init__(f"External network {external_network_id} is not reachable from subnet {subnet_id}.  "
                         f"Therefore, cannot associate Port {port_id} with a Floating IP.")


class FloatingIPPortAlreadyAssociated(Conflict):
    title = "FloatingIPPortAlreadyAssociated"

    def __init__(self, floatingip_id: str, port_id: str, fixed_ip: str) -> None:
        super().__init__(f"Cannot associate floating IP {floatingip_id} with port {port_id} using fixed IP "
                         f"{fixed_ip}, as that fixed IP already has a floating IP on external network.")


class BadRequestWithType(BadRequest):
    """A 400 whose Neutron type is given by the raiser (e.g. ``BadRequest`` for Neutron's own n_exc.BadRequest)."""

    def __init__(self, message: str, fault_type: str = "BadRequest") -> None:
        super().__init__(message)
        self.title = fault_type


class SubnetMismatchForPort(BadRequest):
    title = "SubnetMismatchForPort"

    def __init__(self, port_id: str, subnet_id: str) -> None:
        super().__init__(f"Subnet on port {port_id} does not match the requested subnet {subnet_id}")


class PortBindingNotFound(NotFound):
    title = "PortBindingNotFound"

    def __init__(self, port_id: str, host: str) -> None:
        super().__init__(f"Binding for port {port_id} for host {host} could not be found.")


class PortBindingAlreadyExists(Conflict):
    title = "PortBindingAlreadyExists"

    def __init__(self, port_id: str, host: str) -> None:
        super().__init__(f"Binding for port {port_id} on host {host} already exists.")


class PortBindingAlreadyActive(Conflict):
    title = "PortBindingAlreadyActive"

    def __init__(self, port_id: str, host: str) -> None:
        super().__init__(f"Binding for port {port_id} on host {host} is already active.")


class AutoAllocationFailure(Conflict):
    """Get-me-a-network cannot build a topology: no default external network, or no default subnet pool."""

    title = "AutoAllocationFailure"

    def __init__(self, reason: str) -> None:
        super().__init__(f"Deployment error: {reason}.")


class DefaultExternalNetworkExists(Conflict):
    title = "DefaultExternalNetworkExists"

    def __init__(self, network_id: str) -> None:
        super().__init__(f"A default external network already exists: {network_id}.")
