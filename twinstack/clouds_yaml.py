"""The ``clouds.yaml`` that points the unmodified OpenStack clients at a Twinstack cloud."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import yaml

CLOUD_NAME = "twinstack"


def admin_cloud(auth_url: str, region: str, username: str, password: str, project: str) -> dict[str, Any]:
    return {
        "auth": {
            "auth_url": auth_url,
            "username": username,
            "password": password,
            "project_name": project,
            "user_domain_name": "Default",
            "project_domain_name": "Default",
        },
        "region_name": region,
        "interface": "public",
        "identity_api_version": 3,
    }


def read_password(path: Path) -> str | None:
    """The admin password already written to ``path``, if any."""
    if not path.exists():
        return None
    data = yaml.safe_load(path.read_text()) or {}
    password = data.get("clouds", {}).get(CLOUD_NAME, {}).get("auth", {}).get("password")
    return password if isinstance(password, str) else None


def write(path: Path, cloud: dict[str, Any]) -> None:
    """Write (only the owner may read it: it holds the admin's password)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as out:
        yaml.safe_dump({"clouds": {CLOUD_NAME: cloud}}, out, sort_keys=False)
