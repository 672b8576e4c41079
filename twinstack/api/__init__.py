"""The HTTP APIs: one FastAPI application per OpenStack service, mounted under one server."""
