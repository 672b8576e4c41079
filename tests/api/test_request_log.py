"""One log line per request, through any handler named in configuration."""

from __future__ import annotations

import logging

from tests.conftest import Api
from twinstack.config import LoggingSettings, LogHandler
from twinstack.logs import configure_logging


class ListHandler(logging.Handler):
    """A custom handler, named in configuration by its dotted path like any user's own would be."""

    records: list[logging.LogRecord] = []

    def emit(self, record: logging.LogRecord) -> None:
        ListHandler.records.append(record)


def test_each_request_logs_id_user_project_method_path_status_duration(api: Api) -> None:
    configure_logging(LoggingSettings(handlers=[LogHandler(**{"class": f"{__name__}.ListHandler"})]))
    ListHandler.records.clear()
    response = api.get("/auth/catalog")
    lines = [r.getMessage() for r in ListHandler.records if r.name == "twinstack.api.requests"]
    assert len(lines) == 1
    line = lines[0]
    request_id = response.headers["x-openstack-request-id"]
    assert request_id.startswith("req-")
    assert line.startswith(request_id)
    token = api.cloud.validator.validate(api.admin_token)
    assert f"user={token.user_id}" in line
    assert f"project={token.project_id}" in line
    assert "GET /identity/v3/auth/catalog status=200 duration_ms=" in line


def test_unauthenticated_requests_are_logged_without_a_user(api: Api) -> None:
    configure_logging(LoggingSettings(handlers=[LogHandler(**{"class": f"{__name__}.ListHandler"})]))
    ListHandler.records.clear()
    api.http.get("/identity/v3/auth/catalog")
    line = next(r.getMessage() for r in ListHandler.records if r.name == "twinstack.api.requests")
    assert "user=- project=- GET /identity/v3/auth/catalog status=401" in line
