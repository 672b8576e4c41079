"""The simulated datacenter: SimPy host agents answering the control plane in virtual time."""
