"""Storage models, one module per service; importing this package registers every table."""

from twinstack.db.models import compute, identity, image, placement

__all__ = ["compute", "identity", "image", "placement"]
