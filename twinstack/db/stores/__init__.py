"""SQL implementations of the core's store protocols."""
