"""Offline capacity planning: scenarios run through the production control plane in virtual time.

``scenario`` reads and validates a YAML scenario, ``plane`` assembles the control plane exactly as a cloud
does (ComputeService -> bus -> Conductor -> FilterScheduler -> placement -> SimAgent) but on memory stores and
the offline SimPy runtime, ``workload`` and ``failures`` drive it the way users and hardware would, ``metrics``
watches it, ``report`` draws it and ``run`` ties one simulation together; ``explore`` compares and sweeps.
"""
