"""Storage models, one module per service; importing this package registers every table."""

from twinstack.db.models import compute, conductors, identity, image, loadbalancer, network, placement, volume

__all__ = ["compute", "conductors", "identity", "image", "loadbalancer", "network", "placement", "volume"]
