"""Storage models, one module per service; importing this package registers every table."""

from twinstack.db.models import identity

__all__ = ["identity"]
