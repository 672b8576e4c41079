"""Timestamps as the OpenStack APIs print them."""

from __future__ import annotations

import datetime as dt


def iso_micro(moment: float | dt.datetime | None) -> str | None:
    """Keystone's form: ``2026-11-28T15:00:00.000000Z``."""
    if moment is None:
        return None
    if isinstance(moment, float | int):
        moment = dt.datetime.fromtimestamp(moment, dt.UTC)
    if moment.tzinfo is not None:
        moment = moment.astimezone(dt.UTC).replace(tzinfo=None)
    return moment.strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def parse_iso(text: str) -> dt.datetime:
    """An ISO 8601 timestamp from a client; naive ones are taken as UTC."""
    moment = dt.datetime.fromisoformat(text.replace("Z", "+00:00"))
    return moment if moment.tzinfo else moment.replace(tzinfo=dt.UTC)
