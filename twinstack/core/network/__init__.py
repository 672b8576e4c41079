"""The networking service's logic (Neutron v2.0): networks, subnets, IPAM, ports, security groups,
routers, floating IPs and quotas. Functions take a session and the caller's credentials; the HTTP
layer shapes Neutron's bodies and faults."""
