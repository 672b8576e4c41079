"""The bus between control plane and host agents: versioned messages and their transports."""
