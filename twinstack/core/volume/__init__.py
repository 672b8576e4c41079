"""Block storage (Cinder v3): volume types, volumes, snapshots, attachments, quotas and the volume scheduler."""
