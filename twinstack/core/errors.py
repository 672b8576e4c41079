"""Domain errors raised by core and mapped once per API to that API's fault format (STYLE.md habit 7)."""

from __future__ import annotations


class CloudError(Exception):
    """Base of every error a client may see; ``status`` is the HTTP status the APIs answer with."""

    status = 500
    title = "Internal Server Error"

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


class BadRequest(CloudError):
    status = 400
    title = "Bad Request"


class Unauthorized(CloudError):
    status = 401
    title = "Unauthorized"


class Forbidden(CloudError):
    status = 403
    title = "Forbidden"


class NotFound(CloudError):
    status = 404
    title = "Not Found"


class Conflict(CloudError):
    status = 409
    title = "Conflict"


class OverQuota(CloudError):
    status = 413
    title = "Request Entity Too Large"
