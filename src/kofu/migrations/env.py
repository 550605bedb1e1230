from __future__ import annotations

from alembic import context
from sqlalchemy import Engine

from kofu.db import create_engine_for, metadata
from kofu.migrations import load_all_tables

config = context.config
load_all_tables()


def _engine() -> Engine:
    engine = config.attributes.get("engine")
    if engine is not None:
        return engine  # type: ignore[no-any-return]
    url = context.get_x_argument(as_dictionary=True).get("url")
    if not url:
        raise SystemExit("give the database: alembic -c src/kofu/migrations/alembic.ini -x url=sqlite:///var/k.sqlite3")
    return create_engine_for(url)


def run_migrations_online() -> None:
    engine = _engine()
    with engine.begin() as connection:
        context.configure(
            connection=connection,
            target_metadata=metadata,
            render_as_batch=connection.dialect.name == "sqlite",
            compare_type=True,
        )
        context.run_migrations()


run_migrations_online()
