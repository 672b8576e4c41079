"""The cloud's audit: what a crash, a lost message or a dropped connection can leave behind, found in the
database and repaired (``twinstack audit``), as ``nova-manage placement audit`` and Nova's periodic clean-ups do.

Each kind of leak is one :class:`~twinstack.core.audit.findings.Check` (a module per service's records); the
runner (:mod:`twinstack.core.audit.run`) calls them in an explicit order, each in its own transaction.
"""
