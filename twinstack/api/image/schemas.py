"""Image API (Glance v2): the JSON schemas clients read to learn an image's and a member's attributes."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Depends

from twinstack.api.deps import get_caller
from twinstack.core.image.formats import CONTAINER_FORMATS, DISK_FORMATS

router = APIRouter(dependencies=[Depends(get_caller)])  # behind the token check, as all of Glance's v2 API
STATUSES = ["queued", "saving", "active", "killed", "deleted", "uploading", "importing", "pending_delete",
            "deactivated"]


def _nullable(kind: str, **extra: Any) -> dict[str, Any]:
    return {"type": [kind, "null"], **extra}


IMAGE_PROPERTIES: dict[str, Any] = {
    "id": {"type": "string", "description": "An identifier for the image",
           "pattern": "^([0-9a-fA-F]){8}-([0-9a-fA-F]){4}-([0-9a-fA-F]){4}-([0-9a-fA-F]){4}-([0-9a-fA-F]){12}$"},
    "name": _nullable("string", maxLength=255, description="Descriptive name for the image"),
    "status": {"type": "string", "readOnly": True, "enum": STATUSES, "description": "Status of the image"},
    "visibility": {"type": "string", "enum": ["community", "public", "private", "shared"],
                   "description": "Scope of image accessibility"},
    "protected": {"type": "boolean", "description": "If true, image will not be deletable."},
    "os_hidden": {"type": "boolean", "description": "If true, image will not appear in default image list "
                                                    "response."},
    "checksum": _nullable("string", readOnly=True, maxLength=32, description="md5 hash of image contents."),
    "os_hash_algo": _nullable("string", readOnly=True, maxLength=64),
    "os_hash_value": _nullable("string", readOnly=True, maxLength=128),
    "owner": _nullable("string", maxLength=255, description="Owner of the image"),
    "size": _nullable("integer", readOnly=True, description="Size of image file in bytes"),
    "virtual_size": _nullable("integer", readOnly=True, description="Virtual size of image in bytes"),
    "container_format": {"type": ["null", "string"], "enum": [None, *CONTAINER_FORMATS],
                         "description": "Format of the container"},
    "disk_format": {"type": ["null", "string"], "enum": [None, *DISK_FORMATS],
                    "description": "Format of the disk"},
    "created_at": {"type": "string", "readOnly": True, "description": "Date and time of image registration"},
    "updated_at": {"type": "string", "readOnly": True, "description": "Date and time of the last image "
                                                                      "modification"},
    "tags": {"type": "array", "items": {"type": "string", "maxLength": 255}, "description": "List of strings "
             "related to the image"},
    "direct_url": {"type": "string", "readOnly": True},
    "min_ram": {"type": "integer", "description": "Amount of ram (in MB) required to boot image."},
    "min_disk": {"type": "integer", "description": "Amount of disk space (in GB) required to boot image."},
    "self": {"type": "string", "readOnly": True},
    "file": {"type": "string", "readOnly": True},
    "stores": {"type": "string", "readOnly": True},
    "schema": {"type": "string", "readOnly": True},
    "locations": {"type": "array", "items": {"type": "object", "properties": {
        "url": {"type": "string", "maxLength": 255}, "metadata": {"type": "object"}},
        "required": ["url", "metadata"]}},
}
IMAGE_LINKS = [{"rel": "self", "href": "{self}"}, {"rel": "enclosure", "href": "{file}"},
               {"rel": "describedby", "href": "{schema}"}]


def image_schema() -> dict[str, Any]:
    return {"name": "image", "properties": IMAGE_PROPERTIES, "additionalProperties": {"type": "string"},
            "links": IMAGE_LINKS}


@router.get("/v2/schemas/image")
def show_image_schema() -> dict[str, Any]:
    return image_schema()


@router.get("/v2/schemas/images")
def show_images_schema() -> dict[str, Any]:
    return {"name": "images", "properties": {
        "images": {"type": "array", "items": image_schema()},
        "schema": {"type": "string"}, "first": {"type": "string"}, "next": {"type": "string"}},
        "links": [{"rel": "first", "href": "{first}"}, {"rel": "next", "href": "{next}"},
                  {"rel": "describedby", "href": "{schema}"}]}


MEMBER_PROPERTIES: dict[str, Any] = {
    "created_at": {"type": "string", "description": "Date and time of image member creation"},
    "image_id": {"type": "string", "description": "An identifier for the image"},
    "member_id": {"type": "string", "description": "An identifier for the image member (tenantId)"},
    "schema": {"type": "string", "readOnly": True},
    "status": {"type": "string", "enum": ["pending", "accepted", "rejected"],
               "description": "The status of this image member"},
    "updated_at": {"type": "string", "description": "Date and time of last modification of image member"},
}


@router.get("/v2/schemas/member")
def show_member_schema() -> dict[str, Any]:
    return {"name": "member", "properties": MEMBER_PROPERTIES}


@router.get("/v2/schemas/members")
def show_members_schema() -> dict[str, Any]:
    return {"name": "members", "properties": {
        "members": {"type": "array", "items": {"name": "member", "properties": MEMBER_PROPERTIES}},
        "schema": {"type": "string"}},
        "links": [{"rel": "describedby", "href": "{schema}"}]}


TASK_PROPERTIES: dict[str, Any] = {
    "id": {"type": "string", "description": "An identifier for the task"},
    "type": {"type": "string", "enum": ["import", "api_image_import", "location_import"],
             "description": "The type of task represented by this content"},
    "status": {"type": "string", "enum": ["pending", "processing", "success", "failure"],
               "description": "The current status of this task"},
    "input": {"type": ["null", "object"], "description": "The parameters required by task, JSON blob"},
    "result": {"type": ["null", "object"], "description": "The result of current task, JSON blob"},
    "owner": {"type": "string", "description": "An identifier for the owner of this task"},
    "message": {"type": "string", "description": "Human-readable informative message only included when "
                "appropriate (usually on failure)"},
    "image_id": {"type": "string", "readOnly": True, "description": "Image associated with the task"},
    "request_id": {"type": ["null", "string"], "readOnly": True, "description": "Request ID of the task"},
    "user_id": {"type": ["null", "string"], "readOnly": True, "description": "User associated with the task"},
    "expires_at": {"type": ["null", "string"], "description": "Datetime when this resource would be subject to "
                   "removal"},
    "created_at": {"type": "string", "description": "Datetime when this resource was created"},
    "updated_at": {"type": "string", "description": "Datetime when this resource was updated"},
    "self": {"type": "string", "readOnly": True},
    "schema": {"type": "string", "readOnly": True},
}


@router.get("/v2/schemas/task")
def show_task_schema() -> dict[str, Any]:
    return {"name": "task", "properties": TASK_PROPERTIES}


@router.get("/v2/schemas/tasks")
def show_tasks_schema() -> dict[str, Any]:
    return {"name": "tasks", "properties": {
        "tasks": {"type": "array", "items": {"name": "task", "properties": TASK_PROPERTIES}},
        "schema": {"type": "string"}, "first": {"type": "string"}, "next": {"type": "string"}},
        "links": [{"rel": "first", "href": "{first}"}, {"rel": "next", "href": "{next}"},
                  {"rel": "describedby", "href": "{schema}"}]}
