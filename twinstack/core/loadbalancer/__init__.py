"""The load-balancing service's logic (Octavia v2): load balancers with a VIP port from the network
service, listeners, pools, members and health monitors.

There is no amphora: the simulated data plane applies a change at once, so every object goes from
PENDING_* straight to ACTIVE within its request, and operating status follows from the tree (a
member is ONLINE once its pool has a health monitor, NO_MONITOR before; anything disabled is
OFFLINE). A real data plane would take the PENDING states through the same rows.
"""
