"""Alembic environment: runs migrations on the connection (or URL) handed in by twinstack.db.migrate."""

from alembic import context
from sqlalchemy import pool

import twinstack.db.models  # noqa: F401  (registers every table)
from twinstack.db.base import Base
from twinstack.db.session import make_engine

config = context.config
target_metadata = Base.metadata


def run_migrations() -> None:
    connection = config.attributes.get("connection")
    if connection is not None:
        context.configure(connection=connection, target_metadata=target_metadata, render_as_batch=True)
        with context.begin_transaction():
            context.run_migrations()
        return
    engine = make_engine(config.get_main_option("sqlalchemy.url") or "", poolclass=pool.NullPool)
    with engine.connect() as conn:
        context.configure(connection=conn, target_metadata=target_metadata, render_as_batch=True)
        with context.begin_transaction():
            context.run_migrations()


run_migrations()
