"""Alembic environment for the station store, run programmatically (no alembic.ini).

:func:`station.store.store.alembic_config` builds the configuration and puts an open SQLAlchemy
``Connection`` in ``config.attributes["connection"]``; the migrations run on it, inside the
transaction the caller began (SQLite and PostgreSQL both have transactional DDL, so a failed
migration leaves the database as it was).

To draft a new migration after changing :mod:`station.store.schema`::

    from alembic import command
    from station.store.store import alembic_config, create_sqlite_engine

    engine = create_sqlite_engine(Path("/tmp/draft/station.sqlite"))  # a store at head
    with engine.begin() as conn:
        command.revision(alembic_config(conn), autogenerate=True, message="what changed")

then review the file in ``versions/`` (name it ``NNNN_what.py``, revision ``"NNNN"``).
``render_as_batch`` makes ALTERs work on SQLite by copying the table.
"""

from __future__ import annotations

from alembic import context

from station.store.schema import metadata

config = context.config


def run_migrations_online() -> None:
    connection = config.attributes.get("connection")
    if connection is None:
        raise RuntimeError(
            "station store migrations need a connection in config.attributes['connection']"
        )
    context.configure(
        connection=connection,
        target_metadata=metadata,
        render_as_batch=True,
        compare_type=True,
    )
    with context.begin_transaction():
        context.run_migrations()


if context.is_offline_mode():
    raise RuntimeError("station store migrations run online only (on a connection)")
run_migrations_online()
