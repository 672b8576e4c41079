"""Cinder's volume, snapshot and attachment statuses, and which operations each status allows."""

from __future__ import annotations

CREATING = "creating"
AVAILABLE = "available"
RESERVED = "reserved"
ATTACHING = "attaching"
IN_USE = "in-use"
DETACHING = "detaching"
DELETING = "deleting"
ERROR = "error"
ERROR_DELETING = "error_deleting"
ERROR_EXTENDING = "error_extending"
EXTENDING = "extending"
RETYPING = "retyping"
MAINTENANCE = "maintenance"
DOWNLOADING = "downloading"

VOLUME_STATUSES = frozenset({CREATING, AVAILABLE, RESERVED, ATTACHING, IN_USE, DETACHING, DELETING, ERROR,
                             ERROR_DELETING, ERROR_EXTENDING, EXTENDING, RETYPING, MAINTENANCE, DOWNLOADING,
                             "backing-up", "restoring-backup", "error_restoring", "awaiting-transfer"})

DELETABLE = frozenset({AVAILABLE, ERROR, ERROR_DELETING, ERROR_EXTENDING, "error_restoring", "error_managing"})
"""Cinder's volume delete accepts these (with no attachments and no snapshots); ``force`` adds more."""

# migration_status (a volume's, as Cinder's generic migration sets it)
MIGRATING = "migrating"
MIGRATION_SUCCESS = "success"
MIGRATION_ERROR = "error"
MIGRATION_SETTLED = frozenset({None, "deleting", MIGRATION_ERROR, MIGRATION_SUCCESS})
"""Cinder's AVAILABLE_MIGRATION_STATUS: no migration under way (a finished or failed one leaves these)."""

# attach_status (of a volume) and attachment statuses
DETACHED = "detached"
ATTACHED = "attached"
ATTACH_RESERVED = "reserved"
ATTACH_ATTACHING = "attaching"
ATTACH_DETACHING = "detaching"
ERROR_ATTACHING = "error_attaching"
ERROR_DETACHING = "error_detaching"

SNAPSHOT_STATUSES = frozenset({CREATING, AVAILABLE, DELETING, ERROR, ERROR_DELETING, "backing-up", "restoring",
                               "unmanaging"})
