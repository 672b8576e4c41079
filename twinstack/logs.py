"""Logging set-up from configuration: any handler class by dotted name, built by dictConfig."""

from __future__ import annotations

import logging.config
from typing import Any

from twinstack.config import LoggingSettings


def configure_logging(settings: LoggingSettings) -> None:
    handlers: dict[str, Any] = {}
    for index, handler in enumerate(settings.handlers):
        handlers[f"h{index}"] = {
            "class": handler.handler_class,
            "level": handler.level,
            "formatter": "twinstack",
            **handler.options,
        }
    logging.config.dictConfig(
        {
            "version": 1,
            "disable_existing_loggers": False,
            "formatters": {"twinstack": {"format": settings.format}},
            "handlers": handlers,
            "loggers": {
                "twinstack": {"level": settings.level, "handlers": list(handlers), "propagate": False},
                "uvicorn.error": {"level": "WARNING", "handlers": list(handlers), "propagate": False},
            },
        }
    )
