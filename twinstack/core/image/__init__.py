"""Images: what servers boot from (Glance v2 semantics)."""
