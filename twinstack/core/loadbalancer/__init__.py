"""The load-balancing service's logic (Octavia v2): load balancers with a VIP port from the network
service, listeners, pools, members and health monitors.

A change is recorded PENDING_CREATE, PENDING_UPDATE or PENDING_DELETE, and its load balancer is immutable
(409) until the worker has had the amphorae apply it and settled it to ACTIVE, removed or ERROR
(provisioning, worker; the amphorae are simulated in twinstack.sim.amphora). Operating status follows from
the tree once settled: a member is ONLINE once its pool has a health monitor, NO_MONITOR before; anything
disabled is OFFLINE.
"""
